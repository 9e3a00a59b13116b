"""Training and generation throughput of the tiny-s preset on synthetic arithmetic solutions.

Run: .venv/bin/python benchmarks/train_throughput.py [--steps 30] [--repeats 3]
Configurations are interleaved and repeated; the table shows the best and the median run,
since a shared machine's load moves single runs by a lot.

     .venv/bin/python benchmarks/train_throughput.py --quick --json
prints one JSON object measured in one run (under 3 minutes on 2 cores): the fast loop's
tokens/s, TRL's SFTConfig defaults on the same model and data, their ratio, the MFU against
this machine's measured fp32 GEMM rate, and the fast loop's slowdown beside one CPU-bound
process (the thread policy of critiquelab.threads applied in both runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch

from critiquelab.models import build_char_tokenizer, build_tiny_model
from critiquelab.models.generate import generate
from critiquelab.models.quiet import quiet
from critiquelab.threads import apply_thread_budget
from critiquelab.training import TrainConfig, train

PRESET = "tiny-s"


def records(n: int, seed: int = 0) -> list[dict]:
    """Prompt/completion pairs shaped like worked addition solutions (~100-200 chars)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(10, 99999), rng.randint(10, 99999)
        steps = " ".join(f"{d}:{(a // 10**d) % 10}+{(b // 10**d) % 10}" for d in range(len(str(a))))
        out.append({"prompt": f"Q: What is {a} + {b}?\nSolution:\n",
                    "completion": f"Add digit by digit. {steps}. So {a} + {b} = {a + b}.\n"
                                  f"Answer: {a + b}\n"})
    return out


def ours(precision: str, steps: int, batch: int, loop: str = "fast") -> float:
    tok = build_char_tokenizer()
    model = build_tiny_model(PRESET, tok, seed=0)
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(max_steps=steps, batch_size=batch, save_steps=10_000,
                          logging_steps=10, precision=precision, loop=loop)
        return train(model, tok, records(steps * batch), cfg, d).tokens_per_s


def flops_per_token(seq: int = 100) -> float:
    """Training FLOPs per token: 6 x parameters, plus attention's score and value products."""
    tok = build_char_tokenizer()
    model = build_tiny_model(PRESET, tok, seed=0)
    n = sum(p.numel() for p in model.parameters())
    cfg = model.config
    return 6 * n + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq


def gemm_flops(size: int = 1024, repeats: int = 5) -> float:
    """The best fp32 matrix-multiply rate of this process's threads (FLOP/s): the peak MFU is
    measured against, since a VM's clock and vector units are not reliably known."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def quick(steps: int, trl_steps: int, batch: int) -> dict:
    """Every figure of the --quick --json object, measured in this run."""
    threads = apply_thread_budget()
    peak = gemm_flops()
    fast = ours("auto", steps, batch)
    trl = trl_defaults(trl_steps, batch)
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        contended_threads = apply_thread_budget()
        contended = ours("auto", steps, batch)
    finally:
        burner.kill()
        burner.wait()
    return {"ours_tokens_per_s": round(fast), "trl_defaults_tokens_per_s": round(trl),
            "ratio": round(fast / trl, 2), "mfu": round(fast * flops_per_token() / peak, 4),
            "contended_slowdown": round(fast / contended, 2),
            "gemm_flops": round(peak), "threads": threads,
            "contended_threads": contended_threads, "model": PRESET, "batch": batch,
            "steps": steps, "trl_steps": trl_steps, "cpus": os.cpu_count(),
            "load_average": round(os.getloadavg()[0], 2), "torch": torch.__version__}


def trl_defaults(steps: int, batch: int) -> float:
    """SFTTrainer with SFTConfig defaults (bf16 via accelerate, activation checkpointing, TRL's
    own dataset preparation, random sampling) on the same model and data."""
    import datasets
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    tok = build_char_tokenizer()
    model = build_tiny_model(PRESET, tok, seed=0)
    with tempfile.TemporaryDirectory() as d, quiet():
        args = SFTConfig(d, max_steps=steps, per_device_train_batch_size=batch,
                         learning_rate=1e-3, report_to="none", use_cpu=True, save_strategy="no",
                         disable_tqdm=True)
        trainer = SFTTrainer(model=model, args=args, processing_class=tok,
                             train_dataset=datasets.Dataset.from_list(records(steps * batch)))
        trainer.remove_callback(PrinterCallback)  # keep the table readable
        start = time.perf_counter()
        trainer.train()
        return trainer._total_train_tokens / (time.perf_counter() - start)


def generation(precision: str, threads: int, prompts: int = 128, new_tokens: int = 128,
               samples: int = 1, static_cache: bool = True) -> float:
    """New tokens per second: greedy, or `samples` per prompt at temperature 1."""
    from critiquelab.models.generate import HFBackend

    tok = build_char_tokenizer()
    model = build_tiny_model(PRESET, tok, seed=0).eval()
    qs = [r["prompt"] for r in records(prompts, seed=1)]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generate(model, tok, qs[:4], 4)  # warm-up
        start = time.perf_counter()
        backend = HFBackend(model, tok, precision, static_cache=static_cache)
        outs = backend.generate(qs[:prompts // samples], new_tokens, batch_size=64, n=samples,
                                temperature=1.0 if samples > 1 else 0.0)
        wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    return sum(len(tok(x, add_special_tokens=False)["input_ids"]) for o in outs for x in o) / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=128, help="generation prompts")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    ap.add_argument("--quick", action="store_true", help="the headline figures only")
    ap.add_argument("--json", action="store_true", help="with --quick: one JSON object")
    a = ap.parse_args()
    if a.quick:
        figures = quick(steps=12, trl_steps=2, batch=a.batch)
        print(json.dumps(figures) if a.json else "\n".join(f"{k}: {v}"
                                                           for k, v in figures.items()))
        return
    def gen(precision: str, threads: int) -> float:
        return generation(precision, threads, a.prompts, a.new_tokens)

    cases: dict[str, Callable[[], float]] = {
        "train  ours, bf16 autocast": lambda: ours("bf16", a.steps, a.batch),
        "train  ours, fp32": lambda: ours("fp32", a.steps, a.batch),
        "train  ours through TRL (loop=trl), fp32": lambda: ours("fp32", a.steps, a.batch,
                                                                "trl"),
        "train  TRL SFTConfig defaults": lambda: trl_defaults(a.steps, a.batch),
        "generate greedy b64, fp32, 2 threads": lambda: gen("fp32", 2),
        "generate greedy b64, bf16, 2 threads": lambda: gen("bf16", 2),
        "generate greedy b64, fp32, 1 thread": lambda: gen("fp32", 1),
        "sample x8 b64, static cache, 2 threads": lambda: generation(
            "fp32", 2, a.prompts, a.new_tokens, samples=8),
        "sample x8 b64, dynamic cache, 2 threads": lambda: generation(
            "fp32", 2, a.prompts, a.new_tokens, samples=8, static_cache=False),
    }
    cases = {k: v for k, v in cases.items() if a.only in k}
    print(f"{PRESET}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    runs: dict[str, list[float]] = {k: [] for k in cases}
    for rep in range(a.repeats):
        for name, fn in cases.items():
            runs[name].append(fn())
            print(f"  run {rep + 1}: {name}: {runs[name][-1]:.0f} tok/s", flush=True)
    print(f"{'case':40s} {'best tok/s':>11s} {'median':>9s}")
    for name, r in runs.items():
        print(f"{name:40s} {max(r):11.0f} {statistics.median(r):9.0f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
