"""Imitation headroom: the most an imitation arm can gain on its held-out fit gate.

    python benchmarks/imitation_headroom.py --pretrain-error-rates 0.3 0.1 --out headroom.jsonl

`sft-raw` imitates candidates flawed at the preset's `error_rate`; the base was pretrained on
the same kinds of candidates flawed at `pretrain.error_rate`. Where the two differ only in that
rate (a student without misconceptions, which this bound sets; benchmarks/student_headroom.py
measures what misconceptions add), the best any model can do from the base is to move its share
of flawed solutions from one rate to the other, which gains log(r'/r) nats on a flawed record
and log((1 - r')/(1 - r)) on a correct one. Spread over each held-out record's loss-bearing
tokens (the gate's unit) and averaged over the runner's held-out records (one per validation
problem, drawn as its fit records are), that is the gate's headroom: the mean gain an arm that
learned its data's error rate exactly would show. Each row sets it beside the half-width of the
95% CI that `sft-raw`'s gate drew in a committed run (`--run`): a headroom below it is smaller
than the noise fine-tuning adds to each record's fit, so the gate cannot tell even a perfect
imitator from the base on that many records unless fine-tuning moved nothing but the rate; the
rows at other pretraining rates say what a base pretrained on fewer flawed solutions would
give.
Reads no model weights: only the tokenizer and the records.
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

from calibration import add_gate_run, default_context, emit, sft_raw_half_width

from critiquelab.data.builders import record_tokens
from critiquelab.experiments.chain_common import arm_records, chain_setup
from critiquelab.models.tokenizer import build_char_tokenizer


def headroom(flawed: list[bool], tokens: list[int], pretrain_rate: float, rate: float) -> float:
    """Mean per-token log-likelihood gain of moving the flawed share from pretrain_rate to rate."""
    on_flawed = math.log(rate / pretrain_rate)
    on_correct = math.log((1 - rate) / (1 - pretrain_rate))
    gains = [(on_flawed if f else on_correct) / t for f, t in zip(flawed, tokens, strict=True)]
    return sum(gains) / len(gains)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain-error-rates", type=float, nargs="+", default=None,
                    help="stage 0 error rates to compare (default: the preset's)")
    add_gate_run(ap)
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = ap.parse_args()
    ctx = default_context("cft-vs-sft")
    ctx.params["misconceptions"] = 0.0  # random slips only: what this bound is about
    state, p = chain_setup(ctx), ctx.params
    n = len(state.splits["validation"])
    records = list(itertools.islice(
        arm_records(state, "raw", 0, p["error_rate"], split="validation"), n))
    tok, by_id = build_char_tokenizer(), {q.id: q for q in state.splits["validation"]}
    tokens = [record_tokens({"text": r["completion"]}, tok) for r in records]
    flawed = [not state.world.verify(by_id[r["problem_id"]], r["completion"]).correct
              for r in records]
    half_width, commit = sft_raw_half_width(args.run)
    for rate in args.pretrain_error_rates or [p["pretrain"]["error_rate"]]:
        gain = headroom(flawed, tokens, rate, p["error_rate"])
        emit(args.out, {"pretrain_error_rate": rate, "error_rate": p["error_rate"],
                        "records": n, "flawed_share": round(sum(flawed) / n, 4),
                        "loss_tokens": round(sum(tokens) / n, 1),
                        "headroom": round(gain, 5), "gate_ci_half_width": round(half_width, 5),
                        "run_commit": commit, "above_half_width": gain > half_width})


if __name__ == "__main__":
    main()
