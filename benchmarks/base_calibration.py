"""Base calibration: pretrain a chain-world base and score validation every few hundred steps.

    python benchmarks/base_calibration.py --model tiny-s --lr 1e-3 --batch-size 32 \
        --every 500 --steps 4000 --out calib.jsonl

Trains at a constant learning rate on cft-vs-sft's `default` pretraining corpus (with
--n-pretrain problems), resuming between evaluation points, and writes one JSON line per point:
solve accuracy, sound solutions (every line right) and the share of the most common answer,
which exposes a base that guesses a constant. Runs on a CPU; a GPU makes a sweep take minutes.
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

from calibration import default_context, emit

from critiquelab.evaluation.metrics import solve_scores
from critiquelab.experiments.chain_common import chain_splits, pretrain_documents
from critiquelab.formats import COMPACT
from critiquelab.models import load_model
from critiquelab.training import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-s")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--every", type=int, default=500, help="steps between evaluations")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--error-rate", type=float, default=0.3, help="wrong solutions in the corpus")
    ap.add_argument("--n-pretrain", type=int, default=20000)
    ap.add_argument("--n-validation", type=int, default=60)
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = ap.parse_args()

    ctx = default_context("cft-vs-sft")
    work = ctx.out_dir
    p = {**ctx.params, "n_pretrain": args.n_pretrain,
         "pretrain": {**ctx.params["pretrain"], "error_rate": args.error_rate}}
    world, splits = chain_splits(p)
    docs = pretrain_documents(world, splits["pretrain"], p)
    model, tok = load_model(args.model, seed=p["data_seed"])
    val = splits["validation"][:args.n_validation]
    start = time.time()
    for step in range(args.every, args.steps + 1, args.every):
        cfg = TrainConfig(learning_rate=args.lr, max_steps=step, batch_size=args.batch_size,
                          lr_scheduler="constant", warmup_ratio=0.0, save_steps=args.every)
        result = train(model, tok, docs, cfg, work / "train", progress=False)
        got = solve_scores(world, model, tok, COMPACT, val, 160)
        sound = [world.verify(q, o).correct for q, o in zip(val, got.outputs, strict=True)]
        answers = collections.Counter(o.strip().splitlines()[-1] if o.strip() else ""
                                      for o in got.outputs)
        row = {**{k: v for k, v in vars(args).items() if k != "out"}, "step": step,
               "tokens": result.tokens,
               "solve": sum(got.scores["solve_accuracy"]) / len(val),
               "sound": sum(sound) / len(val),
               "top_answer_share": answers.most_common(1)[0][1] / len(val),
               "wall_s": round(time.time() - start, 1)}
        emit(args.out, row)


if __name__ == "__main__":
    main()
