"""What chain-world experiments share: splits, held-out candidates, the cached pretrained
base (stage 0), and evaluation of a model on every metric."""

from __future__ import annotations

import functools
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from critiquelab.critics.base import ExactCritic
from critiquelab.data.builders import pretrain_corpus
from critiquelab.data.formats import COMPACT, PromptFormat
from critiquelab.data.splits import OOD_KINDS, SplitSpec, make_splits, ood_spec
from critiquelab.evaluation.metrics import Candidate, critique_scores, solve_scores
from critiquelab.experiments.bases import base_key, install_shipped
from critiquelab.experiments.spec import RunContext
from critiquelab.io import atomic_write_json
from critiquelab.models import load_model, save_model
from critiquelab.reporting import console
from critiquelab.training import TrainConfig, train
from critiquelab.worlds import Problem, World, get_world

# recall: one-operation facts, which cannot be kept out of training; id: compositions of the
# trained lengths, whose computations never train; then one kind of shift each.
EVAL = ("recall", "id", *OOD_KINDS)


@dataclass
class ChainState:
    world: World
    fmt: PromptFormat
    splits: dict[str, list[Problem]]
    candidates: dict[str, list[Candidate]]
    base_dir: Path


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
    """World, splits, held-out candidates for critique metrics, and the cached base model."""
    world, splits = chain_splits(ctx.params)
    rng = random.Random(f"candidates:{ctx.params['data_seed']}")
    candidates = {sp: make_candidates(world, splits[sp], rng) for sp in EVAL}
    base_dir = pretrained_base(world, splits["pretrain"], ctx)
    return ChainState(world, COMPACT, splits, candidates, base_dir)


def make_candidates(world: World, problems: list[Problem], rng: random.Random,
                    error_rate: float = 0.5) -> list[Candidate]:
    """One held-out candidate per problem, flawed with probability error_rate."""
    out = []
    for p in problems:
        sol = world.sample_solution(p, rng, error_rate)
        v = world.verify(p, sol)
        out.append(Candidate(p, sol, "right" if v.correct else "wrong", v.first_error_step))
    return out


def pretrain_documents(world: World, problems: list[Problem], params: dict) -> list[dict]:
    """Stage 0's seeded corpus: flawed and correct solutions plus critique text."""
    pre = params["pretrain"]
    rng = random.Random(f"pretrain:{params['data_seed']}")
    return pretrain_corpus(world, problems, COMPACT, rng, ExactCritic(world), pre["error_rate"],
                           pre["critique_share"])


def pretrained_base(world: World, problems: list[Problem], ctx: RunContext,
                    shipped: bool = True) -> Path:
    """Stage 0: pretrain a tiny model on mixed-quality solutions and some critique text.
    Cached under the cache dir by the hash of everything that shapes it; a base shipped with
    the package under the same hash is copied there instead (experiments/bases.py)."""
    p = ctx.params
    pre = p["pretrain"]
    key = base_key(p, problems)
    path = ctx.cache_dir / "bases" / f"chain-{key}"
    if (path / "config.json").exists() or (shipped and install_shipped(key, path)):
        return path
    console.log(f"pretraining base model {p['model']} (cached as {path.name})")
    model, tok = load_model(p["model"], seed=p["data_seed"])
    docs = pretrain_documents(world, problems, p)
    work = ctx.cache_dir / "bases" / f".work-{key}"
    result = train(model, tok, docs, TrainConfig(**pre["train"]), work, progress=ctx.progress)
    save_model(model, tok, path)
    atomic_write_json(path / "pretrain.json", {"tokens": result.tokens, "steps": result.steps,
                                               "wall_s": result.wall_s, "documents": len(docs)})
    shutil.rmtree(work, ignore_errors=True)
    return path


def evaluate(state: ChainState, model, tokenizer, params: dict,
             critique: bool = True) -> tuple[dict, dict]:
    """All metrics on every evaluation split: (metric -> split -> scores, split -> difficulty)."""
    scores: dict[str, dict[str, list[float]]] = {}
    groups = {}
    for sp in EVAL:
        problems = state.splits[sp]
        got = solve_scores(state.world, model, tokenizer, state.fmt, problems,
                           params["max_new_tokens"])
        if critique:
            got.scores.update(critique_scores(model, tokenizer, state.fmt, state.candidates[sp],
                                              params["max_new_tokens"]).scores)
        for m, vals in got.scores.items():
            scores.setdefault(m, {})[sp] = vals
        groups[sp] = [q.difficulty for q in problems]
    return scores, groups
