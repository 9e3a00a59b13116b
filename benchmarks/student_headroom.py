"""Student headroom: how much worse the base fits candidates from a student with misconceptions.

    python benchmarks/student_headroom.py --shares 0 0.1 0.2 0.3 --out headroom.jsonl

Stage 0 saw candidates flawed by random slips only, so the base already fits `sft-raw`'s
random-slip candidates as well as it can (benchmarks/imitation_headroom.py). A student who gets
a fixed share of the arithmetic facts wrong (the preset's `misconceptions`) writes the same
wrong result every time it meets one of them: something a model can learn, and stage 0 never
showed. Per share, each row gives the base's mean log-probability per loss-bearing token (the
held-out fit's unit) of the runner's held-out `raw` and `cft` records (one per validation
problem, drawn as the fit records are), and the share of those raw candidates the verifier
rejects. The drop from share 0 (`room_raw`, `room_cft`) is the most an arm gains by learning
the student's wrong facts as well as the base knows the right ones; set it against the 95% CI
half-width that `sft-raw`'s gate drew in a committed run (`--run`). Loads the shipped base.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from calibration import add_gate_run, default_context, emit, sft_raw_half_width

from critiquelab.experiments.chain_common import arm_records, chain_setup
from critiquelab.models import load_model
from critiquelab.training import record_logprobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3],
                    help="misconception shares to compare (share 0, the reference, always runs)")
    add_gate_run(ap)
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = ap.parse_args()
    half_width, commit = sft_raw_half_width(args.run)
    ctx = default_context("cft-vs-sft")
    model = tok = None
    plain: dict[str, float] = {}  # the base's fit on a student without misconceptions
    for share in [0.0, *(s for s in args.shares if s)]:
        ctx.params["misconceptions"] = share
        state = chain_setup(ctx)
        if model is None:
            model, tok = load_model(str(state.base_dir))
        n = len(state.splits["validation"])
        by_id = {q.id: q for q in state.splits["validation"]}
        row = {"misconceptions": share, "error_rate": ctx.params["error_rate"], "records": n}
        for source in ("raw", "cft"):
            records = list(itertools.islice(arm_records(
                state, source, 0, ctx.params["error_rate"], split="validation"), n))
            fit = record_logprobs(model, tok, records)
            mean = sum(fit) / n
            plain.setdefault(source, mean)
            row[f"base_fit_{source}"] = round(mean, 4)
            row[f"room_{source}"] = round(plain[source] - mean, 4)
            if source == "raw":
                row["flawed_share"] = round(sum(
                    not state.world.verify(by_id[r["problem_id"]], r["completion"]).correct
                    for r in records) / n, 2)
        emit(args.out, {**row, "gate_ci_half_width": round(half_width, 4), "run_commit": commit})


if __name__ == "__main__":
    main()
