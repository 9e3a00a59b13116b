"""Base calibration: pretrain a chain-world base and score held-out probes every few hundred steps.

    python benchmarks/base_calibration.py --model tiny-s --lr 1e-3 --batch-size 32 \
        --every 500 --steps 4000 --out calib.jsonl

Trains at a constant learning rate on cft-vs-sft's `default` pretraining corpus (with
--n-pretrain problems at --difficulties operations), resuming between evaluation points, and
writes one JSON line per point; `--steps 0` scores the model as loaded instead, e.g. the
shipped base (`--model src/critiquelab/bases/cft-vs-sft-default`). Each point scores three
probes: the `validation` split and fresh `ood-length` and `ood-shift` problems drawn like those
test splits but sharing no problem and no computation signature with any split, test splits
included, so the testbed's targets (sound solutions on composed problems; each ood split
clearly above its trivial baseline) are calibrated without reading a test item. Per probe:
solve accuracy, sound solutions (every line right), the trivial baseline (always the most
common reference answer), the share of the most common *model* answer (a base that guesses a
constant), solving by difficulty and by depth (the longest chain of operations that must run
one after another: a 4-operation problem may be 3 deep), and what the first wrong line of each
unsound solution lacks
(`first_error`: plan, copy, lookup, arithmetic, answer or unreadable, as the chain world's
exact check classifies it), which says which skill a recipe has to teach. `--pretrain-distractors
LO HI` redraws the pretraining problems with that many distractor definitions (the probes keep
the preset's), to test whether a base learns to pick its variable among more of them.
`--anneal K` also scores, from every point, a branch that anneals the rate to 0 over K more
steps (warmup-stable-decay's decay, resuming the point's optimizer state and data order), as
the shipped recipe ends; `--work DIR` keeps the checkpoints there, so a killed run resumes and
a finished one can be extended or annealed by rerunning it; `--save-every N` (dividing --every)
checkpoints more often than it scores, so a run longer than a session loses at most N steps.
`--base B` trains base B of the experiment's independent bases (its own initialisation, corpus
draw and data order), so a recipe's spread across seeds is measured before it is adopted;
`--anneal-seed S` anneals on base S's corpus draw and data order instead, the anneal's share of
that spread.
`--shift-distractors LO HI` draws the ood-shift probe with that many distractors (the splits
keep the preset's), to size a shift the base can show transfer on. `--trace every` pretrains on
solutions that compute every operation of the problem, distractors included (the chain world's
`trace="every"`), so that how many lines to write is not a plan the base must learn, to test
whether that lets it compose one operation more than it was trained on (`ood-length`).
`--order dependency` states every problem, probes included, with each definition after those it
uses (the chain world's `order="dependency"`: the same problems, reordered), to measure how
much of `ood-length` is finding the order of the operations.
`--max-depth D` redraws the pretraining problems (at --difficulties operations) keeping only
those at most D deep, and replaces the `ood-length` probe by problems exactly D + 1 deep at
D + 1 to max(--difficulties) operations: one step longer as a chain of operations, with no more
lines than training solutions have, to test whether the line count or the chain is the wall.
Runs on a CPU; a GPU makes a sweep take minutes.
"""

from __future__ import annotations

import argparse
import collections
import copy
import random
import shutil
import time
from pathlib import Path

from calibration import default_context, emit, unseen

from critiquelab.data.splits import OOD_KINDS, SplitSpec, generate_problems, ood_spec
from critiquelab.evaluation.metrics import solve_scores
from critiquelab.experiments.chain_common import chain_splits, pretrain_documents
from critiquelab.formats import COMPACT
from critiquelab.models import load_model
from critiquelab.models.precision import PRECISIONS
from critiquelab.training import TrainConfig, describe_precision, train
from critiquelab.training.loop import last_checkpoint
from critiquelab.worlds import Problem, Verification, World, get_world
from critiquelab.worlds.chain import ORDERS, TRACES
from critiquelab.worlds.chain.check import ERROR_KINDS
from critiquelab.worlds.chain.model import definitions, depth

SOUND_TARGET, OOD_MARGIN = 0.5, 0.10  # the testbed's targets for the default base


def probes(world: World, splits: dict[str, list[Problem]], p: dict, n: int
           ) -> dict[str, list[Problem]]:
    """Validation plus ood stand-ins drawn after every split, avoiding all their problems and
    computations."""
    composed = tuple(d for d in p["id_difficulties"] if d not in p["recall_difficulties"])
    specs = {k: ood_spec(k, n, world, p["world"], composed, p["ood"][k]) for k in OOD_KINDS}
    return {"validation": splits["validation"][:n],
            **{k: unseen(world, splits, spec, random.Random(f"calibration:{k}"))
               for k, spec in specs.items()}}


def fresh_pretraining(source: World, world: World, splits: dict[str, list[Problem]],
                      held_out: dict[str, list[Problem]], p: dict, label: str) -> list[Problem]:
    """Pretraining problems drawn from `source`, sharing no problem with any split or probe and
    no computation with any evaluation split or probe."""
    evals = [splits[k] for k in ("validation", "id", *OOD_KINDS)] + list(held_out.values())
    signatures = {world.signature(q) for ps in evals for q in ps}
    taken = {q.id for ps in [*splits.values(), *held_out.values()] for q in ps}
    spec = SplitSpec(p["n_pretrain"], tuple(p["pretrain_difficulties"]))
    return generate_problems(source, spec, random.Random(f"calibration:pretrain:{label}"),
                             exclude=taken, signatures=signatures)


def redraw_pretraining(world: World, splits: dict[str, list[Problem]],
                       held_out: dict[str, list[Problem]], p: dict,
                       distractors: tuple[int, int]) -> list[Problem]:
    """Pretraining problems with more or fewer distractors (see fresh_pretraining)."""
    source = get_world("chain", **{**p["world"], "distractors": tuple(distractors)})
    return fresh_pretraining(source, world, splits, held_out, p, f"{distractors}")


def depth_limited(world: World, splits: dict[str, list[Problem]],
                  held_out: dict[str, list[Problem]], p: dict, max_depth: int
                  ) -> tuple[list[Problem], list[Problem]]:
    """A pretraining corpus at most `max_depth` deep, and an `ood-length` probe exactly one
    deeper (drawn first), neither sharing a problem or an evaluation computation with any split
    or probe."""
    lengths = tuple(d for d in sorted(set(p["pretrain_difficulties"])) if d > max_depth)
    deeper = get_world("chain", **{**p["world"], "depths": max_depth + 1})
    probe = unseen(deeper, splits, SplitSpec(len(held_out["ood-length"]), lengths, "eval"),
                   random.Random("calibration:depth-probe"))
    shallow = get_world("chain", **{**p["world"], "depths": (1, max_depth)})
    corpus = fresh_pretraining(shallow, world, splits, {**held_out, "deeper": probe}, p,
                               f"depth{max_depth}")
    return corpus, probe


def first_error(v: Verification) -> str:
    """The kind of the first wrong line; '' for a sound solution, 'unreadable' for no lines."""
    if v.first_error_step is None:
        return "" if v.correct else "unreadable"
    return v.steps[v.first_error_step - 1].kind


def score(world: World, model, tok, problems: list[Problem], max_new_tokens: int = 160) -> dict:
    """Solve, sound, trivial baseline, top model answer, solving by difficulty and by depth
    ([share, problems], and each share as `solve_depth<d>` for the docs' tables), how many
    computation lines the answers write (`lines`: count -> share, and the most), and
    first-error kinds on a probe."""
    got = solve_scores(world, model, tok, COMPACT, problems, max_new_tokens)
    solved = got.scores["solve_accuracy"]
    checks = [world.verify(q, o) for q, o in zip(problems, got.outputs, strict=True)]
    sound = [v.correct for v in checks]
    kinds = collections.Counter(first_error(v) for v in checks)
    answers = collections.Counter(o.strip().splitlines()[-1] if o.strip() else ""
                                  for o in got.outputs)
    by_difficulty: dict[int, list[float]] = collections.defaultdict(list)
    by_depth: dict[int, list[float]] = collections.defaultdict(list)
    for q, s in zip(problems, solved, strict=True):
        by_difficulty[q.difficulty].append(s)
        by_depth[depth(definitions(q), q.data["question"])].append(s)
    n = len(problems)
    lines = collections.Counter(sum(" = " in ln for ln in o.splitlines()) for o in got.outputs)
    return {"solve": sum(solved) / n, "sound": sum(sound) / n,
            "trivial": collections.Counter(q.answer for q in problems).most_common(1)[0][1] / n,
            "top_answer_share": answers.most_common(1)[0][1] / n,
            "by_difficulty": {d: sum(v) / len(v) for d, v in sorted(by_difficulty.items())},
            "by_depth": {d: [sum(v) / len(v), len(v)] for d, v in sorted(by_depth.items())},
            **{f"solve_depth{d}": sum(v) / len(v) for d, v in sorted(by_depth.items())},
            "lines": {k: lines[k] / n for k in sorted(lines)}, "max_lines": max(lines),
            "first_error": {k: kinds[k] / n for k in ERROR_KINDS}}


def meets_targets(point: dict[str, dict]) -> bool:
    """At least half sound on validation, and every ood probe 10 points above its trivial."""
    return point["validation"]["sound"] >= SOUND_TARGET and all(
        round(point[k]["solve"] - point[k]["trivial"], 9) >= OOD_MARGIN for k in OOD_KINDS)


def points(every: int, steps: int, train_dir: Path) -> list[int]:
    """The evaluation steps still to score: a rerun on the same --work resumes at its newest
    checkpoint (scoring it again) instead of mislabelling that model as an earlier point; a
    checkpoint between points (--save-every) resumes training toward the next one."""
    newest = last_checkpoint(train_dir)
    done = int(newest.name.split("-")[-1]) if newest else 0
    return [s for s in range(every, steps + 1, every) if s >= done]


def anneal_branch(model, tok, docs: list[dict], args: argparse.Namespace, work: Path,
                  step: int) -> tuple[object, int]:
    """A copy of the model at `step`, trained args.anneal more steps while the rate decays to
    0, from that step's checkpoint (its optimizer state and place in the data); an
    args.anneal_seed other than args.base gives `docs` and the data order of that base."""
    seed = args.anneal_seed
    branch = work / (f"anneal-{step}-{args.anneal}" + (f"-seed{seed}" if seed != args.base else ""))
    if not branch.is_dir():
        tmp = branch.with_name(branch.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(work / "train" / f"checkpoint-{step}", tmp / f"checkpoint-{step}")
        tmp.rename(branch)
    total = step + args.anneal
    cfg = TrainConfig(learning_rate=args.lr, max_steps=total, batch_size=args.batch_size,
                      precision=args.precision,
                      seed=seed, lr_scheduler="warmup_stable_decay", warmup_ratio=0.0,
                      decay_ratio=(args.anneal - 0.5) / total,  # rounds up to args.anneal
                      save_steps=args.anneal,
                      logging_steps=max(1, args.anneal // 10))  # the decay in ten log lines
    annealed = copy.deepcopy(model)
    return annealed, train(annealed, tok, docs, cfg, branch, progress=False).tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-s")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="training precision (auto: bf16 autocast where the CPU has AMX)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--every", type=int, default=500, help="steps between evaluations")
    ap.add_argument("--save-every", type=int, default=None,
                    help="steps between checkpoints, dividing --every (default: --every)")
    ap.add_argument("--steps", type=int, default=4000, help="0: score --model as loaded")
    ap.add_argument("--error-rate", type=float, default=0.3, help="wrong solutions in the corpus")
    ap.add_argument("--n-pretrain", type=int, default=20000)
    ap.add_argument("--difficulties", type=int, nargs="+", default=None,
                    help="operations per pretraining problem, repeats weighting a length "
                    "(default: the preset's); the probes keep the preset's lengths")
    ap.add_argument("--pretrain-distractors", type=int, nargs=2, default=None,
                    metavar=("LO", "HI"), help="distractor definitions per pretraining problem "
                    "(default: the preset's)")
    ap.add_argument("--shift-distractors", type=int, nargs=2, default=None,
                    metavar=("LO", "HI"), help="distractors in the ood-shift probe "
                    "(default: the preset's ood-shift split)")
    ap.add_argument("--trace", choices=TRACES, default="needed",
                    help="what a pretraining solution computes: the needed operations or every one")
    ap.add_argument("--order", choices=ORDERS, default="shuffled",
                    help="how every problem states its definitions")
    ap.add_argument("--max-depth", type=int, default=None,
                    help="pretrain on problems at most this deep; ood-length probes one deeper")
    ap.add_argument("--max-new-tokens", type=int, default=160, help="per probe answer")
    ap.add_argument("--n-probe", type=int, default=100, help="problems per probe")
    ap.add_argument("--anneal", type=int, default=0,
                    help="also score each point annealed over this many more steps")
    ap.add_argument("--base", type=int, default=0,
                    help="which independent base: seeds initialisation, corpus and data order")
    ap.add_argument("--anneal-seed", type=int, default=None,
                    help="anneal on this base's corpus draw and data order (default: --base's), "
                    "to tell the anneal's noise from the pretraining's")
    ap.add_argument("--work", type=Path, default=None,
                    help="checkpoint directory (default: a fresh temporary one)")
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = ap.parse_args()
    if args.anneal < 0 or (args.anneal and not args.steps):
        ap.error("--anneal needs a positive count and --steps above 0")
    args.anneal_seed = args.base if args.anneal_seed is None else args.anneal_seed
    args.save_every = args.every if args.save_every is None else args.save_every
    if args.save_every < 1 or args.every % args.save_every:
        ap.error("--save-every must be a positive divisor of --every")
    if min(args.base, args.anneal_seed) < 0:
        ap.error("--base and --anneal-seed count from 0")
    if args.max_depth is not None and (args.max_depth < 1 or args.pretrain_distractors):
        ap.error("--max-depth needs a depth from 1 and redraws the corpus itself, so it does "
                 "not combine with --pretrain-distractors")

    ctx = default_context("cft-vs-sft", args.work)
    work = ctx.out_dir
    p = {**ctx.params, "n_pretrain": args.n_pretrain,
         "pretrain": {**ctx.params["pretrain"], "error_rate": args.error_rate}}
    if args.trace != "needed":
        p["world"] = {**p["world"], "trace": args.trace}
    if args.order != "shuffled":
        p["world"] = {**p["world"], "order": args.order}
    if args.difficulties:
        p["pretrain_difficulties"] = tuple(args.difficulties)
    world, splits = chain_splits(p)
    probe_p = p if not args.shift_distractors else {
        **p, "ood": {**p["ood"], "ood-shift": {"distractors": tuple(args.shift_distractors)}}}
    held_out = probes(world, splits, probe_p, args.n_probe)
    pretrain = splits["pretrain"]
    if args.pretrain_distractors:
        pretrain = redraw_pretraining(world, splits, held_out, p, args.pretrain_distractors)
    if args.max_depth is not None:
        pretrain, held_out["ood-length"] = depth_limited(world, splits, held_out, p,
                                                         args.max_depth)
    docs = pretrain_documents(world, pretrain, p, args.base)
    model, tok = load_model(args.model, seed=p["data_seed"] + args.base)
    anneal_docs = docs if args.anneal_seed == args.base else \
        pretrain_documents(world, pretrain, p, args.anneal_seed)
    start = time.time()
    for step in points(args.every, args.steps, work / "train") if args.steps else [0]:
        tokens = 0
        if step:
            cfg = TrainConfig(learning_rate=args.lr, max_steps=step, batch_size=args.batch_size,
                              precision=args.precision,
                              seed=args.base, lr_scheduler="constant", warmup_ratio=0.0,
                              save_steps=args.save_every)
            tokens = train(model, tok, docs, cfg, work / "train", progress=False).tokens
        branches = [(model, step, tokens, None)]
        if args.anneal:
            annealed, annealed_tokens = anneal_branch(model, tok, anneal_docs, args, work, step)
            branches.append((annealed, step + args.anneal, annealed_tokens, step))
        for scored, at, seen, annealed_from in branches:
            point = {name: score(world, scored, tok, ps, args.max_new_tokens)
                     for name, ps in held_out.items()}
            skip = ("out", "work", "save_every")  # where and how often it saves: not the result
            emit(args.out, {**{k: v for k, v in vars(args).items() if k not in skip},
                            "step": at, "annealed_from": annealed_from, "tokens": seen,
                            "precision": describe_precision(precision=args.precision), **point,
                            "meets_targets": meets_targets(point),
                            "wall_s": round(time.time() - start, 1)})


if __name__ == "__main__":
    main()
