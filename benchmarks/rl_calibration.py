"""RL calibration: RLVR from the shipped default base, validation scored every few steps.

    python benchmarks/rl_calibration.py --lr 1e-4 3e-4 1e-3 --every 10 --steps 40 --out rl.jsonl

For each learning rate, GRPO on `sequencing`'s default RL settings (group size, completions per
step, completion length) from the cft-vs-sft default base, resuming between evaluation points;
one JSON line per point: the mean training reward over the last `every` steps and greedy
validation solve accuracy. It says at which budget the reward rises on validation, which the
sequencing preset needs for its RL gate.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from calibration import default_context, emit

from critiquelab.evaluation.metrics import solve_scores
from critiquelab.experiments.chain_common import chain_setup
from critiquelab.experiments.sequencing import rl_config
from critiquelab.models import load_model
from critiquelab.training.rl import train_rlvr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, nargs="+", default=[1e-4])
    ap.add_argument("--every", type=int, default=10, help="RL steps between evaluations")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--n-validation", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=None, help="default: the preset's")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="completions per step (default: the preset's)")
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = ap.parse_args()

    ctx = default_context("sequencing")
    work = ctx.out_dir
    state = chain_setup(ctx)
    p = ctx.params
    val = state.splits["validation"][:args.n_validation]
    rl = dict(p["rl"])
    if args.temperature is not None:
        rl["temperature"] = args.temperature
    if args.batch_size is not None:
        rl["batch_size"] = args.batch_size
    for lr in args.lr:
        model, tok = load_model(str(state.base_dir))
        start, done = time.time(), 0
        for step in [0, *range(args.every, args.steps + 1, args.every)]:
            reward = None
            if step:
                cfg = replace(rl_config({**rl, "learning_rate": lr}, args.seed),
                              max_steps=step, save_steps=args.every)
                r = train_rlvr(model, tok, state.world, state.splits["train"], state.fmt, cfg,
                               work / f"lr{lr:g}", rl["format_bonus"])
                recent = [y for x, y in r.accuracy_curve if x > done]
                reward, done = sum(recent) / max(len(recent), 1), step
            got = solve_scores(state.world, model, tok, state.fmt, val, p["max_new_tokens"])
            row = {"lr": lr, "temperature": rl["temperature"], "batch_size": rl["batch_size"],
                   "step": step, "train_accuracy": reward,
                   "validation_solve": sum(got.scores["solve_accuracy"]) / len(val),
                   "wall_s": round(time.time() - start, 1)}
            emit(args.out, row)


if __name__ == "__main__":
    main()
