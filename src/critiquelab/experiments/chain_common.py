"""What chain-world experiments share: the presets, splits, held-out candidates, the cached
pretrained bases (stage 0), the arm record builders, the trivial baselines and evaluation."""

from __future__ import annotations

import functools
import json
import random
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from critiquelab.critics.base import ExactCritic
from critiquelab.data.builders import SFT_SOURCES, cft_records, pretrain_corpus, sft_records
from critiquelab.data.splits import OOD_KINDS, SplitSpec, make_splits, ood_spec
from critiquelab.errors import UsageError
from critiquelab.evaluation.metrics import (
    Candidate,
    critique_scores,
    score_solutions,
    solve_scores,
)
from critiquelab.experiments.bases import base_key, install_shipped
from critiquelab.experiments.spec import OBJECTIVE_FIT, Arm, Gate, RunContext
from critiquelab.formats import COMPACT, PromptFormat
from critiquelab.io import atomic_write_json, stable_hash
from critiquelab.models import load_model, save_model
from critiquelab.reporting import console
from critiquelab.training import TrainConfig, train
from critiquelab.worlds import Problem, World, get_world

# recall: one-operation facts, which cannot be kept out of training; id: compositions of the
# trained lengths, whose computations never train; then one kind of shift each.
EVAL = ("recall", "id", *OOD_KINDS)
SOLVE = ("solve_accuracy", "format_rate")
CRITIQUE = ("critique_accuracy", "error_localization")

# Values stay in 0..9 (single characters): a tiny character-level model learns the
# arithmetic table from a few million tokens, so the base has partial ability to build on.
SMOKE = {
    "world": {"max_value": 9, "max_literal": 9, "distractors": (0, 1), "min_ops": 1, "max_ops": 4},
    # Trained lengths; one-operation problems are single facts, reported as `recall`. The other
    # evaluation splits (docs/SPLITS.md) share no computation with any training problem.
    "id_difficulties": (1, 2), "recall_difficulties": (1,), "pretrain_difficulties": (1, 2),
    "ood": {"ood-length": {"steps": 1}, "ood-shift": {"distractors": (3, 4)}},
    "n_validation": 16, "n_recall": 12, "n_eval": 12, "n_train": 400, "n_pretrain": 1500,
    "data_seed": 1234,
    "model": "tiny-xs", "bases": 1,
    "pretrain": {"error_rate": 0.3, "critique_share": 0.3,
                 "train": {"learning_rate": 3e-3, "epochs": 3, "batch_size": 32, "seed": 0}},
    "finetune": {"steps": 8, "learning_rate": 3e-4, "batch_size": 16,
                 "lr_scheduler": "constant", "checkpoints": (0.25, 0.5, 1.0)},
    # Fine-tuning candidates are flawed at random with probability error_rate (as stage 0's are)
    # and, with `misconceptions` > 0, also written by a student who gets that share of the
    # arithmetic facts wrong, the same ones every time (stage 0 never sees them).
    "error_rate": 0.45, "misconceptions": 0.0, "max_new_tokens": 120,
}
DEFAULT = {
    **SMOKE,
    # Chains at most three deep everywhere but `ood-length`, which is exactly one deeper: a
    # tiny model trained on three-operation problems solves barely any four-operation ones
    # (docs/experiments/cft-vs-sft.md#calibrating-the-default-base), but pretrained on up to four
    # operations at most three deep it carries one step further. A depth is the longest chain of
    # operations that must run one after another.
    "world": {"max_value": 9, "max_literal": 9, "distractors": (0, 1), "min_ops": 1, "max_ops": 6,
              "depths": (1, 3)},
    "id_difficulties": (1, 2, 3), "pretrain_difficulties": (1, 2, 3, 4),
    "ood": {"ood-length": {"steps": 1, "depths": (4, 4)}, "ood-shift": {"distractors": (3, 4)}},
    "n_validation": 100, "n_recall": 50, "n_eval": 150, "n_train": 6000, "n_pretrain": 20000,
    "model": "tiny-s",
    # Calibrated (docs/experiments/cft-vs-sft.md#calibrating-the-default-base): at lr 3e-3
    # tiny-s diverges; at 1e-3, 5,000 constant-rate steps of batch 32 and a 1,500-step decay to
    # 0 make over half its validation solutions sound, so fine-tuning starts from a decayed rate.
    "pretrain": {"error_rate": 0.3, "critique_share": 0.3,
                 "train": {"learning_rate": 1e-3, "max_steps": 6500, "batch_size": 32, "seed": 0,
                           "lr_scheduler": "warmup_stable_decay", "warmup_ratio": 0.0,
                           "decay_ratio": 3 / 13}},  # the last 1,500 steps
    # Every arm takes the same optimizer steps (twice sft-gold's 39 under the old token match).
    "finetune": {"steps": 80, "learning_rate": 3e-4, "batch_size": 32,
                 "lr_scheduler": "constant", "checkpoints": (0.125, 0.25, 0.5, 1.0)},
    "max_new_tokens": 240,
}
FULL = {
    **DEFAULT,
    "world": {"max_value": 99, "max_literal": 9, "distractors": (0, 2), "min_ops": 1, "max_ops": 8},
    "id_difficulties": (2, 3, 4, 5), "pretrain_difficulties": (1, 2, 3, 4, 5),
    "ood": {"ood-length": {"steps": 1}, "ood-shift": {"distractors": (4, 6)}},
    "n_validation": 300, "n_recall": 100, "n_eval": 500, "n_train": 50000, "n_pretrain": 100000,
    "model": "tiny-m",
    "pretrain": {"error_rate": 0.3, "critique_share": 0.3,
                 "train": {"learning_rate": 1e-3, "epochs": 3, "batch_size": 64, "seed": 0}},
    "finetune": {"steps": 1500, "learning_rate": 1e-4, "batch_size": 64,
                 "lr_scheduler": "constant", "checkpoints": (0.125, 0.25, 0.5, 1.0)},
    "max_new_tokens": 320,
}
PRESETS = {"smoke": SMOKE, "default": DEFAULT, "full": FULL}
# The default at the budget where every chain fine-tune learns its own objective, sized from
# validation curves (docs/experiments/cft-vs-sft.md): at 80 steps `cft` (cft-vs-sft) and `clean`
# (structure-vs-content) fit held-out records of their kind no better than the base; at 160
# `cft` and `sft-gold` do.
SIZED_DEFAULT = {**DEFAULT, "finetune": {**DEFAULT["finetune"], "steps": 160,
                                         "checkpoints": (0.25, 0.5, 0.75, 1.0)}}


def half_budget(preset: dict) -> dict:
    """A preset at half its fine-tuning steps, for experiments with more trained arms or stages
    that must fit the same time."""
    ft = preset["finetune"]
    return {**preset, "finetune": {**ft, "steps": ft["steps"] // 2}}


# Gates. A fine-tuned arm must fit held-out records of its own kind better than the model it
# started from: that is what it trains for. Its solving is what the comparisons measure (an
# arm that faithfully imitates flawed or perturbed demonstrations may well solve worse, so a
# solving gate would withhold exactly the results it exists to show), and so is a CFT arm's
# judging (whether critique training improves error detection is a question the comparisons
# answer, so it cannot also be the precondition). Arms outside the chain fine-tunes
# (one-shot, sequencing) keep the solving gate.
FIT_GATE = Gate(OBJECTIVE_FIT, "entry")
SOLVE_GATE = Gate("solve_accuracy", "arm:base")
BASE = Arm("base")


def sft_arm(source: str) -> Arm:
    return Arm(f"sft-{source}", data=source, objective="solve", trainer="sft",
               gate=FIT_GATE)


CFT = Arm("cft", data="cft", objective="critique", trainer="sft", gate=FIT_GATE)
# A control, not a treatment: more of stage 0's own mixture for the same steps (no gate).
CONTINUED = Arm("continued-pretraining", data="pretrain", objective="pretrain", trainer="sft")


@dataclass
class ChainState:
    world: World
    fmt: PromptFormat
    splits: dict[str, list[Problem]]
    candidates: dict[str, list[Candidate]]
    base_dirs: list[Path]
    params: dict = field(default_factory=dict)  # the resolved preset (the `pretrain` source)

    @property
    def base_dir(self) -> Path:
        return self.base_dirs[0]


# The preset entries that shape the splits (and so the pretrained base).
SPLIT_KEYS = ("world", "id_difficulties", "recall_difficulties", "pretrain_difficulties", "ood",
              "n_validation", "n_recall", "n_eval", "n_train", "n_pretrain", "data_seed")


def chain_splits(params: dict) -> tuple[World, dict[str, list[Problem]]]:
    """The world and its seeded splits; no training problem shares an evaluation problem's
    computation (signature), and recall problems are kept out of training exactly. Memoized
    per process: drawing the default splits takes most of a minute."""
    world, splits = _draw_splits(json.dumps({k: params[k] for k in SPLIT_KEYS}, sort_keys=True))
    return world, {name: list(ps) for name, ps in splits.items()}


@functools.lru_cache(maxsize=4)
def _draw_splits(blob: str) -> tuple[World, dict[str, list[Problem]]]:
    params = json.loads(blob)
    world = get_world("chain", **params["world"])
    recall = tuple(params["recall_difficulties"])
    composed = tuple(d for d in params["id_difficulties"] if d not in recall)
    specs = {"validation": SplitSpec(params["n_validation"], composed, "eval"),
             "recall": SplitSpec(params["n_recall"], recall, "recall"),
             "id": SplitSpec(params["n_eval"], composed, "eval"),
             **{kind: ood_spec(kind, params["n_eval"], world, params["world"], composed,
                               params["ood"][kind])
                for kind in OOD_KINDS},
             "train": SplitSpec(params["n_train"], tuple(params["id_difficulties"])),
             "pretrain": SplitSpec(params["n_pretrain"], tuple(params["pretrain_difficulties"]))}
    return world, make_splits(world, specs, params["data_seed"])


def chain_setup(ctx: RunContext) -> ChainState:
    """World, splits, held-out candidates for critique metrics, and the cached base models."""
    share = ctx.params["misconceptions"]
    if not 0 <= share <= 1:
        raise UsageError(f"misconceptions must be a share in 0..1, got {share}")
    world, splits = chain_splits(ctx.params)
    rng = random.Random(f"candidates:{ctx.params['data_seed']}")
    candidates = {sp: make_candidates(world, splits[sp], rng) for sp in (*EVAL, "validation")}
    bases = [pretrained_base(world, splits["pretrain"], ctx, b) for b in range(ctx.bases)]
    return ChainState(world, COMPACT, splits, candidates, bases, ctx.params)


def make_candidates(world: World, problems: list[Problem], rng: random.Random,
                    error_rate: float = 0.5) -> list[Candidate]:
    """One held-out candidate per problem, flawed with probability error_rate."""
    out = []
    for p in problems:
        sol = world.sample_solution(p, rng, error_rate)
        v = world.verify(p, sol)
        out.append(Candidate(p, sol, "right" if v.correct else "wrong", v.first_error_step))
    return out


def pretrain_documents(world: World, problems: list[Problem], params: dict,
                       base: int = 0) -> list[dict]:
    """Stage 0's seeded corpus: flawed and correct solutions plus critique text."""
    rng = random.Random(f"pretrain:{params['data_seed']}" + (f":{base}" if base else ""))
    return _mixture(world, problems, params, rng)


def _mixture(world: World, problems: list[Problem], params: dict, rng: random.Random
             ) -> list[dict]:
    """One seeded draw of stage 0's corpus over `problems`."""
    pre = params["pretrain"]
    return pretrain_corpus(world, problems, COMPACT, rng, ExactCritic(world), pre["error_rate"],
                           pre["critique_share"])


def pretrained_base(world: World, problems: list[Problem], ctx: RunContext,
                    base: int = 0, shipped: bool = True) -> Path:
    """Stage 0: pretrain a tiny model on mixed-quality solutions and some critique text.
    Cached under the cache dir by the hash of everything that shapes it; a base shipped with
    the package under the same hash is copied there instead (experiments/bases.py). Base b > 0
    is an independent one (its own initialisation, corpus draw and data order)."""
    p = ctx.params
    pre = p["pretrain"]
    key = base_key(p, problems)
    key = stable_hash({"recipe": key, "base": base}) if base else key
    path = ctx.cache_dir / "bases" / f"chain-{key}"
    if (path / "config.json").exists() or (shipped and install_shipped(key, path)):
        return path
    console.log(f"pretraining base model {p['model']} #{base} (cached as {path.name})")
    model, tok = load_model(p["model"], seed=p["data_seed"] + base)
    docs = pretrain_documents(world, problems, p, base)
    work = ctx.cache_dir / "bases" / f".work-{key}"
    cfg = TrainConfig(**{**pre["train"], "seed": pre["train"].get("seed", 0) + base})
    result = train(model, tok, docs, cfg, work, progress=ctx.progress)
    save_model(model, tok, path)
    atomic_write_json(path / "pretrain.json", {"tokens": result.tokens, "steps": result.steps,
                                               "wall_s": result.wall_s, "documents": len(docs)})
    shutil.rmtree(work, ignore_errors=True)
    return path


def stream_rng(name: str, split: str) -> random.Random:
    """The seeded generator of a record stream: a training stream's seed is `name` (so training
    data stays as it was), a held-out stream's adds its split."""
    return random.Random(name if split == "train" else f"{name}:{split}")


def _more_pretraining(state: ChainState, seed: int, split: str = "train") -> Iterator[dict]:
    """Fresh seeded draws of stage 0's mixture over its problems (or, for a held-out measure,
    over the `split`'s), pass after pass."""
    rng = stream_rng(f"continued-pretraining:{state.params['data_seed']}:{seed}", split)
    problems = state.splits["pretrain" if split == "train" else split]
    while True:
        yield from _mixture(state.world, problems, state.params, rng)


# The record sources arm_records knows (an arm's `data`).
ARM_SOURCES = (*SFT_SOURCES, "cft", "pretrain")


def arm_records(state: ChainState, source: str, seed: int, error_rate: float,
                salt: str = "", split: str = "train") -> Iterator[dict]:
    """An arm's seeded, endless record stream: `cft` critiques by the exact critic,
    imitation of `gold`, `raw` or `verified` solutions, or `pretrain`: more of stage 0's own
    mixture (the control that fine-tuning gains are measured against). `split` "validation"
    draws the same kinds of records on validation problems, to measure fit held out."""
    if source == "pretrain":
        return _more_pretraining(state, seed, split)
    rng = stream_rng(f"{salt or source}:{seed}", split)
    problems = list(state.splits[split])
    rng.shuffle(problems)
    if source == "cft":
        # `critique_form` (optional; critics/format.py) lays out the fine-tuning critiques only.
        critic = ExactCritic(state.world, state.params.get("critique_form", "steps"))
        return cft_records(candidate_writer(state), problems, state.fmt, rng, critic, error_rate)
    return sft_records(candidate_writer(state), problems, state.fmt, rng, source, error_rate)


def candidate_writer(state: ChainState) -> World:
    """Who writes the fine-tuning candidates: the world, or with the preset's
    `misconceptions` a student holding a seeded share of wrong arithmetic facts."""
    share = state.params["misconceptions"]
    if not share:
        return state.world
    return state.world.misconceived(share, f"misconceptions:{state.params['data_seed']}")


def trivial_baselines(state: ChainState, splits: tuple[str, ...] = (*EVAL, "validation")
                      ) -> dict[str, dict[str, float]]:
    """Scores of trivial strategies: always the most common answer (solving), always the
    majority verdict (critiques), a uniformly random line (localisation)."""
    out: dict[str, dict[str, float]] = {"solve_accuracy": {}, "critique_accuracy": {},
                                        "error_localization": {}}
    for sp in splits:
        answers = Counter(p.answer for p in state.splits[sp])
        out["solve_accuracy"][sp] = answers.most_common(1)[0][1] / len(state.splits[sp])
        cands = state.candidates[sp]
        verdicts = Counter(c.verdict for c in cands)
        out["critique_accuracy"][sp] = verdicts.most_common(1)[0][1] / len(cands)
        wrong = [c for c in cands if c.verdict == "wrong"]
        out["error_localization"][sp] = (sum(1 / max(1, len(c.solution.strip().splitlines()))
                                             for c in wrong) / len(wrong)) if wrong else 0.0
    return out


@dataclass
class Evaluation:
    """A model's per-item test scores, difficulty groups, validation values (and the per-item
    scores behind them) and generations."""

    scores: dict[str, dict[str, list[float]]]
    groups: dict[str, list[int]]
    validation: dict[str, float]
    generations: list[dict]
    validation_items: dict[str, list[float]]


def probe(state: ChainState, params: dict, critique_gate: bool = False) -> callable:
    """The checkpoint probe of a fine-tune: solving on validation (selection) and on every test
    split (budget curves), keeping the test outputs so the picked checkpoint is not re-solved;
    with `critique_gate`, judging the validation candidates too, so a gate metric has a curve
    over the budget (the held-out fit is finetune()'s)."""
    def run(model, tokenizer) -> dict:
        scores: dict[str, dict[str, list[float]]] = {}
        items, outputs = {}, {}
        for sp in ("validation", *EVAL):
            got = solve_scores(state.world, model, tokenizer, state.fmt, state.splits[sp],
                               params["max_new_tokens"])
            if sp == "validation":
                items.update(got.scores)
            else:
                outputs[sp] = got.outputs
                for m, vals in got.scores.items():
                    scores.setdefault(m, {})[sp] = vals
        if critique_gate:
            got = critique_scores(model, tokenizer, state.fmt, state.candidates["validation"],
                                  params["max_new_tokens"])
            items.update(got.scores)
        return {"validation": {m: _mean(v) for m, v in items.items()}, "validation_items": items,
                "scores": scores, "outputs": outputs}
    return run


def evaluate(state: ChainState, model, tokenizer, params: dict, critique: bool = True,
             validation: dict[str, float] | None = None,
             critique_gate: bool = False, sound: bool = False,
             solved: dict[str, list[str]] | None = None,
             validation_items: dict[str, list[float]] | None = None) -> Evaluation:
    """Every metric on the test splits with generations, plus the gate metrics on validation
    (solving is measured there unless the picked checkpoint's `validation` already holds it,
    with its per-item `validation_items`; critiques when `critique` or `critique_gate`);
    `sound` adds sound_solution (every line of the output verified). `solved`: split -> this
    model's outputs, already generated by the checkpoint probe (greedy, so generating again
    would give the same text)."""
    scores: dict[str, dict[str, list[float]]] = {}
    groups, gens = {}, []
    val, val_items = dict(validation or {}), dict(validation_items or {})
    splits = EVAL if "solve_accuracy" in val else ("validation", *EVAL)
    for sp in splits:
        problems = state.splits[sp]
        got = (score_solutions(state.world, problems, solved[sp]) if solved and sp in solved
               else solve_scores(state.world, model, tokenizer, state.fmt, problems,
                                 params["max_new_tokens"]))
        if sp == "validation":
            val.update({m: _mean(v) for m, v in got.scores.items()})
            val_items.update(got.scores)
            continue
        if sound:
            got.scores["sound_solution"] = [float(state.world.verify(q, o).correct)
                                            for q, o in zip(problems, got.outputs, strict=True)]
        for m, vals in got.scores.items():
            scores.setdefault(m, {})[sp] = vals
            gens += [{"item": p.id, "split": sp, "metric": m, "prompt": state.fmt.solve_prompt(
                p.text), "output": o, "score": s}
                for p, o, s in zip(problems, got.outputs, vals, strict=True)]
        groups[sp] = [q.difficulty for q in problems]
    judged = "critique_accuracy" in val  # by the picked checkpoint's probe
    if critique or (critique_gate and not judged):
        for sp in (*EVAL, *(() if judged else ("validation",))) if critique else ("validation",):
            cands = state.candidates[sp]
            got = critique_scores(model, tokenizer, state.fmt, cands, params["max_new_tokens"])
            if sp == "validation":
                val.update({m: _mean(v) for m, v in got.scores.items()})
                val_items.update(got.scores)
                continue
            wrong = [c for c in cands if c.verdict == "wrong"]
            for m, items in (("critique_accuracy", cands), ("error_localization", wrong)):
                scores.setdefault(m, {})[sp] = got.scores[m]
                outs = {id(c): o for c, o in zip(cands, got.outputs, strict=True)}
                gens += [{"item": c.problem.id, "split": sp, "metric": m,
                          "prompt": state.fmt.critique_prompt(c.problem.text, c.solution),
                          "output": outs[id(c)], "score": s}
                         for c, s in zip(items, got.scores[m], strict=True)]
    return Evaluation(scores, groups, val, gens, val_items)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
