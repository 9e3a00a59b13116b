"""Self-improvement for any world and model: sample, verify, keep the correct, retrain.

Each iteration samples N solutions per training problem from the current model, keeps those
that pass the verifier and show their work (`shows_work`), and retrains on them from the base
(the published STaR / rejection-sampling loop) or from the current model. With a critic in the
loop, every wrong sample gets a step-level critique, the actor rewrites it with the critique in
context (data/refine.py) and verified rewrites join the kept data.

Each iteration lives in `work_dir/iter<k>/` (kept.jsonl, harvest.json, model/, summary.json,
the last written); a rerun continues after the last finished iteration.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import cycle
from pathlib import Path

from critiquelab.critics.base import Critic
from critiquelab.data.builders import take_token_budget
from critiquelab.data.refine import RefineFormat
from critiquelab.formats import PromptFormat, solve_record
from critiquelab.io import atomic_write_json, read_jsonl, stable_hash, write_jsonl
from critiquelab.models import load_model, save_model
from critiquelab.models.generate import generate
from critiquelab.training.sft import TrainConfig, train
from critiquelab.worlds.base import Problem, Verification, World

Evaluator = Callable[[object, object, int], dict]  # (model, tokenizer, iteration) -> metrics


@dataclass
class LoopConfig:
    iterations: int = 3
    samples: int = 8  # solutions sampled per training problem per iteration
    temperature: float = 1.0
    max_new_tokens: int = 240
    min_steps: int = 2  # shortcut guard: a kept solution has at least this many checked lines
    token_budget: int = 100_000  # training tokens per iteration, kept records cycled
    train: TrainConfig = field(default_factory=TrainConfig)
    from_base: bool = True  # retrain from the base each iteration; False continues training
    batch_size: int = 64  # generation batch


@dataclass
class Iteration:
    """One finished iteration: what was kept, what it cost, and what the model then scored."""

    iteration: int
    kept: list[dict]  # {"problem_id", "difficulty", "solution", "source": sample|refined}
    harvest: dict  # samples, wrong, critiqued, refinements, refined_correct, shortcuts
    training: dict  # tokens, loss_tokens, steps, examples, wall_s
    metrics: dict  # whatever the evaluator returned


def shows_work(v: Verification, min_steps: int) -> bool:
    """The guard against bare-answer shortcuts: right in every line and in the answer, and at
    least `min_steps` checked lines (any world; in `chain` one step plus the Answer line is 2)."""
    return v.correct and len(v.steps) >= min_steps


def _seed(*parts: object) -> int:
    return int(stable_hash(list(parts), 8), 16)


def harvest(world: World, model, tokenizer, fmt: PromptFormat, problems: Sequence[Problem],
            cfg: LoopConfig, seed: int, critic: Critic | None = None,
            refine_fmt: RefineFormat | None = None) -> tuple[list[dict], dict]:
    """Sample, verify and keep; with a critic, critique wrong samples and keep verified
    refinements. Returns (kept items, counts)."""
    prompts = [fmt.solve_prompt(p.text) for p in problems]
    outs = generate(model, tokenizer, prompts, cfg.max_new_tokens, n=cfg.samples,
                    temperature=cfg.temperature, batch_size=cfg.batch_size, seed=seed)
    kept: list[dict] = []
    counts = {"samples": 0, "wrong": 0, "critiqued": 0, "refinements": 0, "refined_correct": 0,
              "shortcuts": 0}
    to_refine: list[tuple[Problem, str, str]] = []
    for p, sols in zip(problems, outs, strict=True):
        for sol in sols:
            counts["samples"] += 1
            v = world.verify(p, sol)
            if shows_work(v, cfg.min_steps):
                kept.append(_item(p, sol, "sample"))
                continue
            counts["shortcuts"] += v.answer_correct  # the right answer without the work
            if v.correct:  # right but too short: nothing for a critic to fix
                continue
            counts["wrong"] += 1
            if critic is not None:
                counts["critiqued"] += 1
                c = critic.critique(p, sol)
                if c.verdict == "wrong":
                    to_refine.append((p, sol, c.text))
    if to_refine and refine_fmt is not None:
        counts["refinements"] = len(to_refine)
        prompts = [refine_fmt.refine_prompt(p.text, sol, crit) for p, sol, crit in to_refine]
        outs = generate(model, tokenizer, prompts, cfg.max_new_tokens, n=1,
                        temperature=cfg.temperature, batch_size=cfg.batch_size, seed=seed + 1)
        for (p, sol, crit), (out,) in zip(to_refine, outs, strict=True):
            refined = refine_fmt.refined_solution(sol, crit, out)
            if shows_work(world.verify(p, refined), cfg.min_steps):
                counts["refined_correct"] += 1
                kept.append(_item(p, refined, "refined"))
    return kept, counts


def _item(p: Problem, solution: str, source: str) -> dict:
    return {"problem_id": p.id, "difficulty": p.difficulty, "solution": solution.strip() + "\n",
            "source": source}


def training_records(kept: Sequence[dict], problems: Sequence[Problem], fmt: PromptFormat,
                     tokenizer, budget: int, seed: int) -> list[dict]:
    """Solve records of the kept solutions in a seeded order, cycled up to `budget` tokens."""
    text = {p.id: p.text for p in problems}
    records = [solve_record(fmt, text[k["problem_id"]], k["solution"],
                            problem_id=k["problem_id"]) for k in kept]
    random.Random(seed).shuffle(records)
    return take_token_budget(cycle(records), tokenizer, budget) if records else []


def self_improve(world: World, base: str | Path, problems: Sequence[Problem],
                 fmt: PromptFormat, cfg: LoopConfig, work_dir: Path, seed: int,
                 critic: Critic | None = None, refine_fmt: RefineFormat | None = None,
                 evaluate: Evaluator | None = None, progress: bool = False) -> list[Iteration]:
    """Run (or resume) cfg.iterations iterations from the model at `base`."""
    done: list[Iteration] = []
    for k in range(1, cfg.iterations + 1):
        it_dir = Path(work_dir) / f"iter{k}"
        if (it_dir / "summary.json").is_file():
            done.append(_load(it_dir))
            continue
        current = base if k == 1 else Path(work_dir) / f"iter{k - 1}" / "model"
        model, tok = load_model(str(current))
        if (it_dir / "harvest.json").is_file():
            kept, counts = read_jsonl(it_dir / "kept.jsonl"), _read(it_dir / "harvest.json")
        else:
            kept, counts = harvest(world, model, tok, fmt, problems, cfg, _seed(seed, k),
                                   critic, refine_fmt)
            write_jsonl(it_dir / "kept.jsonl", kept)
            atomic_write_json(it_dir / "harvest.json", counts)
        if cfg.from_base and k > 1:
            model, tok = load_model(str(base))
        records = training_records(kept, problems, fmt, tok, cfg.token_budget, _seed(seed, k))
        training = {"tokens": 0, "loss_tokens": 0, "steps": 0, "examples": 0, "wall_s": 0.0}
        if records:
            start = time.perf_counter()
            tc = TrainConfig(**{**asdict(cfg.train), "seed": _seed(seed, k, "train") % 2**31})
            result = train(model, tok, records, tc, it_dir / "train", progress=progress)
            training = {"tokens": result.tokens, "loss_tokens": result.loss_tokens,
                        "steps": result.steps, "examples": len(records),
                        "wall_s": time.perf_counter() - start}
        save_model(model, tok, it_dir / "model")
        shutil.rmtree(it_dir / "train", ignore_errors=True)
        metrics = evaluate(model, tok, k) if evaluate else {}
        it = Iteration(k, kept, counts, training, metrics)
        atomic_write_json(it_dir / "summary.json", {"iteration": k, "harvest": counts,
                                                    "training": training, "metrics": metrics})
        done.append(it)
    return done


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _load(it_dir: Path) -> Iteration:
    s = _read(it_dir / "summary.json")
    return Iteration(s["iteration"], read_jsonl(it_dir / "kept.jsonl"), s["harvest"],
                     s["training"], s["metrics"])
