"""Fine-tuning calibration: one cft-vs-sft arm from the shipped default base, scored on
validation every few steps, to size the arms' budgets from validation curves.

    python benchmarks/finetune_calibration.py --source cft --lr 3e-4 1e-3 --steps 320 \
        --every 40 --out ft.jsonl

For each learning rate, trains on the arm's record stream (`gold`, `raw`, `verified`, `cft` or
`pretrain`) at the default batch along one `--schedule` (constant, or linear or cosine decay
to 0 at `--steps`), resuming between evaluation points; one
JSON line per point: greedy validation solve accuracy, the validation candidates' critique
accuracy and error localisation, the trivial references (the most common answer, the
majority verdict), and the held-out fit the runner gates imitation arms on: the mean
log-likelihood (nats/token) of one record of the arm's own kind per validation problem, with
its paired 95% CI against the starting model (`fit_gain`). `--fit-problems N` measures the
fit on N fresh problems instead (half at each trained composed length, drawn after every split
and sharing no problem or computation with any), to size a held-out set with the power the
gate needs, and also judges one candidate per fresh problem (`fresh`: critique accuracy with
its 95% CI, and the majority verdict's share). Only validation-like problems are scored: a
budget chosen from these curves never saw a test problem.
"""

from __future__ import annotations

import argparse
import random
import time
from itertools import islice
from pathlib import Path

from calibration import default_context, emit, unseen

from critiquelab.critics.format import FORMS
from critiquelab.data.splits import SplitSpec
from critiquelab.evaluation.metrics import critique_scores, solve_scores
from critiquelab.evaluation.stats import bootstrap_ci, paired_difference
from critiquelab.experiments.chain_common import (
    ChainState,
    arm_records,
    chain_setup,
    make_candidates,
    trivial_baselines,
)
from critiquelab.experiments.finetune import SCHEDULES, take_examples
from critiquelab.models import load_model
from critiquelab.training import TrainConfig, record_logprobs, train
from critiquelab.worlds import Problem


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def fresh_problems(state: ChainState, p: dict, n: int) -> list[Problem]:
    """`n` problems at the trained composed lengths, half at each, that no split has seen."""
    lengths = [d for d in p["id_difficulties"] if d not in p["recall_difficulties"]]
    out: list[Problem] = []
    for i, d in enumerate(lengths):
        spec = SplitSpec(n // len(lengths) + (i < n % len(lengths)), (d,))
        out += unseen(state.world, state.splits, spec, random.Random(f"fit:{d}"), also=out)
    return out


def fresh_judging(model, tok, state: ChainState, p: dict) -> dict:
    """Critique accuracy on the fresh problems' candidates, with its CI."""
    got = critique_scores(model, tok, state.fmt, state.candidates["fit"], p["max_new_tokens"])
    ci = bootstrap_ci([got.scores["critique_accuracy"]])
    return {"critique_accuracy": round(ci["mean"], 4),
            "critique_ci95": [round(x, 4) for x in ci["ci95"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="cft", choices=("gold", "raw", "verified", "cft",
                                                        "pretrain"))
    ap.add_argument("--lr", type=float, nargs="+", default=[3e-4])
    ap.add_argument("--every", type=int, default=40, help="steps between evaluations")
    ap.add_argument("--steps", type=int, default=320)
    ap.add_argument("--schedule", default="constant", choices=SCHEDULES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--critique-form", default="steps", choices=FORMS,
                    help="layout of the cft records (critics/format.py)")
    ap.add_argument("--max-new-tokens", type=int, help="the probes' (default: the preset's)")
    ap.add_argument("--fit-problems", type=int, default=0,
                    help="fresh held-out problems for the fit (default: the validation split)")
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = ap.parse_args()

    ctx = default_context("cft-vs-sft")
    ctx.params["critique_form"] = args.critique_form
    ctx.params["max_new_tokens"] = args.max_new_tokens or ctx.params["max_new_tokens"]
    work = ctx.out_dir
    state, p = chain_setup(ctx), ctx.params
    batch = p["finetune"]["batch_size"]
    records = take_examples(arm_records(state, args.source, args.seed, p["error_rate"]),
                            args.steps * batch, args.source)
    trivial = trivial_baselines(state, ("validation",))
    val, cands = state.splits["validation"], state.candidates["validation"]
    fresh_trivial = None
    if args.fit_problems:
        state.splits["fit"] = fresh_problems(state, p, args.fit_problems)
        state.candidates["fit"] = make_candidates(state.world, state.splits["fit"],
                                                  random.Random("fit:candidates"))
        fresh_trivial = round(trivial_baselines(state, ("fit",))["critique_accuracy"]["fit"], 4)
    fit_split = "fit" if args.fit_problems else "validation"
    heldout = list(islice(arm_records(state, args.source, 0, p["error_rate"], split=fit_split),
                          len(state.splits[fit_split])))
    for lr in args.lr:
        model, tok = load_model(str(state.base_dir))
        entry = record_logprobs(model, tok, heldout)
        start, tokens = time.time(), 0
        for step in [0, *range(args.every, args.steps + 1, args.every)]:
            if step:
                cfg = TrainConfig(learning_rate=lr, max_steps=args.steps, stop_step=step,
                                  batch_size=batch, lr_scheduler=args.schedule, warmup_ratio=0.0,
                                  save_steps=args.every, seed=args.seed)
                tokens = train(model, tok, records, cfg, work / f"lr{lr:g}-{args.schedule}",
                               progress=False).tokens
            solved = solve_scores(state.world, model, tok, state.fmt, val, p["max_new_tokens"])
            judged = critique_scores(model, tok, state.fmt, cands, p["max_new_tokens"])
            fit = record_logprobs(model, tok, heldout)
            gain = paired_difference([fit], [entry])
            extra = ({"fresh": {**fresh_judging(model, tok, state, p),
                                "trivial_critique_accuracy": fresh_trivial}}
                     if args.fit_problems else {})
            row = {"source": args.source, "critique_form": args.critique_form, "lr": lr,
                   **({"fit_problems": args.fit_problems} if args.fit_problems else {}),
                   "schedule": args.schedule, "step": step, "tokens": tokens,
                   **{m: mean(v) for m, v in (*solved.scores.items(), *judged.scores.items())},
                   **{f"trivial_{m}": by_sp["validation"] for m, by_sp in trivial.items()},
                   "objective_logprob": mean(fit),
                   "fit_gain": [round(gain["mean"], 5), *(round(x, 5) for x in gain["ci95"])],
                   **extra,
                   "wall_s": round(time.time() - start, 1)}
            emit(args.out, row)


if __name__ == "__main__":
    main()
