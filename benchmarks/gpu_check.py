"""GPU check: train a few steps and generate on one CUDA GPU; print tokens/s and MFU.

    python benchmarks/gpu_check.py --model smollm2-135m --steps 20

MFU counts 6 * params FLOPs per trained token and 2 * params per generated token (attention
left out) against the GPU's dense bf16 peak. Exits with a message and code 1 without a GPU.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

# Dense bf16 peak FLOP/s by a substring of the device name.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
             "A10": 125e12, "4090": 165e12}
WORDS = ("the apple costs three dollars and she buys twice as many pears so the total is "
         "seven more than half of what he paid each week for a year").split()


def peak_flops(name: str, override: float | None) -> float | None:
    if override:
        return override * 1e12
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def mfu(flops_per_token: float, tokens_per_s: float, peak: float | None) -> str:
    return f"{100 * flops_per_token * tokens_per_s / peak:.1f}%" if peak else "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--backend", default="auto", help="auto, transformers or vllm")
    ap.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU found (torch.cuda.is_available() is False); "
              "run it on a GPU machine", file=sys.stderr)
        return 1

    from critiquelab.models import load_model, save_model
    from critiquelab.models.backends import choose_backend, close_backend, make_backend
    from critiquelab.models.chat import chat_prompt
    from critiquelab.training import TrainConfig, describe_precision, train

    device = torch.cuda.get_device_name(0)
    peak = peak_flops(device, args.peak_tflops)
    model, tok = load_model(args.model)
    model.to("cuda")
    params = sum(p.numel() for p in model.parameters())
    print(f"device: {device}; model: {args.model} ({params / 1e6:.1f}M params); "
          f"precision: {describe_precision('cuda')}")

    rng = random.Random(0)
    words = args.seq_len * 3 // 4  # about one token per word, under seq-len
    records = [{"text": " ".join(rng.choice(WORDS) for _ in range(words))}
               for _ in range(args.steps * args.batch_size)]
    cfg = TrainConfig(learning_rate=1e-5, max_steps=args.steps, batch_size=args.batch_size,
                      max_length=args.seq_len, save_steps=10**9, logging_steps=args.steps)
    with tempfile.TemporaryDirectory() as work:
        result = train(model, tok, records, cfg, Path(work) / "train")
        rate = result.tokens_per_s
        print(f"train: {result.steps} steps, {result.tokens} tokens in {result.wall_s:.1f} s: "
              f"{rate:,.0f} tokens/s, MFU {mfu(6 * params, rate, peak)} (with the final "
              "checkpoint save)")

        name = choose_backend(args.backend)
        path = None
        if name == "vllm":
            path = str(Path(work) / "model")
            save_model(model, tok, path)
            model.to("cpu")
        backend = make_backend(name, model, tok, path)
        prompts = [chat_prompt(tok, f"Write a story about the number {i}.")
                   for i in range(args.prompts)]
        backend.generate(prompts[:2], 8)  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        outs = backend.generate(prompts, args.new_tokens, temperature=1.0,
                                batch_size=args.prompts, seed=0)
        torch.cuda.synchronize()
        wall = time.perf_counter() - start
        close_backend(backend)
    generated = sum(len(tok(o[0], add_special_tokens=False)["input_ids"]) for o in outs)
    rate = generated / wall
    print(f"generate ({name}): {len(prompts)} prompts, {generated} new tokens in "
          f"{wall:.1f} s: {rate:,.0f} tokens/s, MFU {mfu(2 * params, rate, peak)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
