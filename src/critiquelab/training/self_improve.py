"""Self-improvement for any world and model: sample, verify, keep the correct, retrain.

Each iteration samples N solutions per training problem from the current model, keeps those
that pass the verifier and show their work (`shows_work`), and retrains on them from the base
(the published STaR / rejection-sampling loop) or from the current model. A second round of
generations on the wrong samples can follow (`LoopConfig.second_round`): with a critic in the
loop (`refine`), every wrong sample gets a step-level critique and the actor rewrites it with
the critique in context (data/refine.py); `restart` and `resample` are its controls at the same
number of generations. Verified second-round solutions join the kept data.

Each iteration lives in `work_dir/iter<k>/` (kept.jsonl, harvest.json, model/, summary.json,
the last written); a rerun continues after the last finished iteration.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import cycle
from pathlib import Path

from critiquelab.critics.base import Critic
from critiquelab.data.builders import take_token_budget
from critiquelab.data.refine import RefineFormat, confirmed_count, prefix_lines, solution_lines
from critiquelab.formats import PromptFormat, solve_record
from critiquelab.io import atomic_write_json, read_jsonl, stable_hash, write_jsonl
from critiquelab.models import load_model, save_model
from critiquelab.models.generate import generate
from critiquelab.training.sft import TrainConfig, train
from critiquelab.worlds.base import Problem, Verification, World

Evaluator = Callable[[object, object, int], dict]  # (model, tokenizer, iteration) -> metrics
# What follows the sampling round, on the wrong samples; the source of what it keeps.
SECOND_ROUNDS = {"none": "", "refine": "refined", "restart": "restarted", "resample": "resampled"}


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
    second_round: str = "none"  # none | refine | restart | resample (see `harvest`)

    def __post_init__(self) -> None:
        if self.second_round not in SECOND_ROUNDS:
            raise ValueError(f"second_round must be one of {', '.join(SECOND_ROUNDS)}, "
                             f"got {self.second_round!r}")


@dataclass
class Iteration:
    """One finished iteration: what was kept, what it cost, and what the model then scored."""

    iteration: int
    kept: list[dict]  # {"problem_id", "difficulty", "solution", "source"}: sample|refined|...
    harvest: dict  # samples, second_round, generations, wrong, critiqued, ... (see `harvest`)
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
            refine_fmt: RefineFormat | None = None, extra: int | None = None
            ) -> tuple[list[dict], dict]:
    """Sample, verify and keep; then cfg.second_round on the wrong samples, keeping the
    verified results. Returns (kept items, counts).

    `refine`: the critic critiques each wrong sample and the actor rewrites the ones it calls
    wrong with the critique in context. `restart` (the control for the critic's localisation):
    the same samples, each continued from a prefix of its own lines whose length is one of the
    critic's confirmed-prefix lengths, dealt out at random; no critique in the prompt.
    `resample` (the control for the generation budget): fresh samples of the wrong samples'
    problems. `extra`, when given, is how many second-round generations to make (candidates
    drawn in a seeded cycle; fresh samples of pool problems when there are none), else one
    per candidate. counts["generations"] = samples + second-round generations;
    counts["prefix_lengths"]: how many second-round generations continued a prefix of each
    length in lines.
    """
    if cfg.second_round in ("refine", "restart") and (critic is None or refine_fmt is None):
        raise ValueError(f"second_round {cfg.second_round!r} needs a critic and a refine format")
    prompts = [fmt.solve_prompt(p.text) for p in problems]
    outs = generate(model, tokenizer, prompts, cfg.max_new_tokens, n=cfg.samples,
                    temperature=cfg.temperature, batch_size=cfg.batch_size, seed=seed)
    kept: list[dict] = []
    counts = {"samples": 0, "wrong": 0, "critiqued": 0, "second_round_kept": 0, "shortcuts": 0}
    wrong: list[tuple[Problem, str]] = []
    for p, sols in zip(problems, outs, strict=True):
        for sol in sols:
            counts["samples"] += 1
            v = world.verify(p, sol)
            if shows_work(v, cfg.min_steps):
                kept.append(_item(p, sol, "sample"))
                continue
            counts["shortcuts"] += v.answer_correct  # the right answer without the work
            if not v.correct:  # right but too short: nothing for a critic to fix
                counts["wrong"] += 1
                wrong.append((p, sol))
    todo = second_round(wrong, problems, fmt, cfg.second_round, critic, refine_fmt, extra,
                        random.Random(f"second-round:{seed}"), counts)
    counts["second_round"] = len(todo)
    counts["generations"] = counts["samples"] + len(todo)
    lengths = Counter(len(solution_lines(head)) for _, _, head in todo)
    counts["prefix_lengths"] = {str(k): lengths[k] for k in sorted(lengths)}
    if todo:
        outs = generate(model, tokenizer, [prompt for _, prompt, _ in todo], cfg.max_new_tokens,
                        n=1, temperature=cfg.temperature, batch_size=cfg.batch_size,
                        seed=seed + 1)
        for (p, _, head), (out,) in zip(todo, outs, strict=True):
            if shows_work(world.verify(p, head + out), cfg.min_steps):
                counts["second_round_kept"] += 1
                kept.append(_item(p, head + out, SECOND_ROUNDS[cfg.second_round]))
    return kept, counts


def second_round(wrong: Sequence[tuple[Problem, str]], problems: Sequence[Problem],
                 fmt: PromptFormat, mode: str, critic: Critic | None,
                 refine_fmt: RefineFormat | None, extra: int | None, rng: random.Random,
                 counts: dict) -> list[tuple[Problem, str, str]]:
    """The second round's generations as (problem, prompt, head): the solution is head plus
    the completion. See `harvest`."""
    if mode == "none":
        return []
    candidates = [(p, sol, "") for p, sol in wrong]
    if mode != "resample":
        counts["critiqued"] += len(wrong)
        critiques = [(p, sol, critic.critique(p, sol)) for p, sol in wrong]
        candidates = [(p, sol, c.text) for p, sol, c in critiques if c.verdict == "wrong"]
    if extra is not None:  # a set number: drawn from the candidates, else fresh samples
        candidates = _cycle(candidates or [(p, "", "") for p in problems], extra, rng)
    if mode == "resample":
        return [(p, fmt.solve_prompt(p.text), "") for p, _, _ in candidates]
    if mode == "refine":
        return [(p, refine_fmt.refine_prompt(p.text, sol, crit), refine_fmt.head(sol, crit))
                for p, sol, crit in candidates]
    lengths = deal_lengths([confirmed_count(sol, crit) for _, sol, crit in candidates],
                           [len(solution_lines(sol)) for _, sol, _ in candidates], rng)
    return [(p, refine_fmt.restart_prompt(p.text, sol, k), prefix_lines(sol, k))
            for (p, sol, _), k in zip(candidates, lengths, strict=True)]


def deal_lengths(lengths: Sequence[int], capacity: Sequence[int],
                 rng: random.Random) -> list[int]:
    """The same prefix lengths dealt to the solutions at random, each solution getting one no
    longer than its `capacity` in lines. Longest first, to a random solution it fits: there
    always is one, since each length came from a solution that held it."""
    dealt = [0] * len(capacity)
    free = list(range(len(capacity)))
    for k in sorted(lengths, reverse=True):
        j = rng.choice([i for i in free if capacity[i] >= k])
        free.remove(j)
        dealt[j] = k
    return dealt


def _cycle(items: Sequence, n: int, rng: random.Random) -> list:
    """n items: the items in a seeded order, repeated as often as needed."""
    order = list(items)
    rng.shuffle(order)
    return [order[i % len(order)] for i in range(n)] if order else []


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
                 evaluate: Evaluator | None = None, progress: bool = False,
                 extra: Sequence[int] | None = None) -> list[Iteration]:
    """Run (or resume) cfg.iterations iterations from the model at `base`; extra[k - 1], when
    given, is iteration k's number of second-round generations (see `harvest`)."""
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
                                   critic, refine_fmt, None if extra is None else extra[k - 1])
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
