"""End to end: the smoke preset of cft-vs-sft through the CLI (every field protocol v2 promises,
the continued-pretraining control, a TensorBoard loss series per trained cell), a resume that
redoes nothing, and overrides that fail with one line."""

import json
import random
import subprocess
import sys
from itertools import islice

import pytest
from test_cli_fuzz import invoke
from test_tracking import loss_series

from critiquelab.experiments.chain_common import (
    EVAL,
    PRESETS,
    ChainState,
    arm_records,
    candidate_writer,
    chain_splits,
)
from critiquelab.experiments.finetune import fit_resolved
from critiquelab.experiments.spec import OBJECTIVE_FIT
from critiquelab.formats import COMPACT

GATED = ("sft-raw", "sft-verified", "sft-gold", "cft")
TRAINED = ("continued-pretraining", *GATED)  # the control arm trains but has no gate


def test_smoke_end_to_end(tmp_path, base_cache, monkeypatch, capsys):
    out, cache = tmp_path / "run", base_cache
    cmd = [sys.executable, "-m", "critiquelab.cli", "run", "cft-vs-sft", "--preset", "smoke",
           "--seeds", "1", "--out", str(out), "--cache", str(cache), "--quiet",
           "--report-to", "tensorboard"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "report:" in r.stdout and "…" not in r.stdout  # piped: no truncated cells
    res = json.loads((out / "results.json").read_text())
    assert res["experiment"] == "cft-vs-sft" and res["seeds"] == [0] and res["bases"] == 1
    for arm in ("base", *TRAINED):
        for metric in ("solve_accuracy", "sound_solution", "format_rate",
                       "critique_accuracy", "error_localization"):
            for split in EVAL:
                cell = res["arms"][arm][metric][split]
                assert 0.0 <= cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1] <= 1.0
        lines = (out / "cells" / f"{arm}__seed0.generations.jsonl").read_text().splitlines()
        assert {"item", "split", "metric", "prompt", "output", "score"} <= set(
            json.loads(lines[0]))
        for split in EVAL:  # a sound solution is a right one
            assert (res["arms"][arm]["sound_solution"][split]["mean"]
                    <= res["arms"][arm]["solve_accuracy"][split]["mean"])
    assert set(res["validity"]) == set(GATED)
    assert all(set(v) >= {"metric", "value", "reference", "passed"}
               for v in res["validity"].values())
    for arm in GATED:  # every fine-tuned arm: gated on its held-out fit
        assert res["validity"][arm] == res["objective_fit"][arm]
        assert res["validity"][arm]["unit"] == "nats/token"
    for v in res["validity"].values():  # every gate read on per-item validation scores
        assert v["passed"] == (v["difference"]["ci95"][0] > 0)
    gate_curve = res["curves"]["cft"]["validation_objective_logprob"][0]  # fit at checkpoints
    assert len(gate_curve) >= 3 and res["validity"]["cft"]["value"] in {v for _, v in gate_curve}
    for arm, gate in res["validity"].items():
        if not gate["passed"]:
            assert any(c.startswith(f"{arm}'s validation objective_logprob along its budget")
                       for c in res["conclusions"])
    assert res["comparisons"] and all("p_holm" in c and "mde" in c and c["verdict"] in
                                      ("ok", "withheld") for c in res["comparisons"])
    pairs = {(c["arm"], c["baseline"]) for c in res["comparisons"]}
    assert {("cft", "continued-pretraining"), ("sft-gold", "continued-pretraining")} <= pairs
    assert all(c["verdict"] == "withheld" for c in res["comparisons"]
               if not res["validity"].get(c["arm"], {"passed": True})["passed"])
    for arm in TRAINED:
        assert len(res["budget_curve"][arm]["solve_accuracy"]["id"]) >= 3
    steps = {res["budget"][a]["steps"] for a in TRAINED}
    assert steps == {res["params"]["finetune"]["steps"]} and res["matching"] == "steps"
    assert set(res["trivial"]) >= {"solve_accuracy", "critique_accuracy", "error_localization"}
    assert isinstance(res["floors"], list)
    assert all(f["value"] <= f["trivial"] for f in res["floors"])
    assert set(res["objective_fit"]) == set(TRAINED)  # held-out fit to its own records
    for v in res["objective_fit"].values():
        assert v["against"] == "entry" and v["value"] < 0 and v["reference"] < 0
        assert v["passed"] == (v["difference"]["ci95"][0] > 0)
    report = (out / "report.md").read_text()
    for needle in ("Resolved config", "p_holm", "Per seed", "Validity gates", "commit",
                   "Held-out fit"):
        assert needle in report
    for name in ("report.html", "solve_accuracy.png", "budget_curve.png", "by_difficulty.png"):
        assert (out / name).stat().st_size > 0
    for arm in TRAINED:
        logged = [s for s, _ in loss_series(out / "work" / f"{arm}__seed0")]
        assert len(logged) >= 2 and logged[-1] == res["budget"][arm]["steps"], (arm, logged)

    # The resumes run in this process (the same entry point, without a second start-up).
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    code, _, err = invoke(cmd[3:], monkeypatch, capsys)
    assert code == 0, err[-3000:]
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    assert json.loads((out / "results.json").read_text())["arms"] == res["arms"]

    # A cell fine-tuned before gates read per-item scores: its probes are redone, not trusted.
    probes = sorted((out / "work" / "sft-gold__seed0").glob("probe-*.json"))
    for path in probes:
        entry = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in entry.items() if k != "validation_items"}))
    (out / "cells" / "sft-gold__seed0.json").unlink()
    code, _, err = invoke(cmd[3:], monkeypatch, capsys)
    assert code == 0, err[-3000:]
    assert all("validation_items" in json.loads(p.read_text()) for p in probes)
    gate = json.loads((out / "results.json").read_text())["validity"]["sft-gold"]
    assert gate == res["validity"]["sft-gold"]


@pytest.mark.parametrize(("override", "needle", "fresh_process"), [
    ("finetune.nope=1", "unknown setting 'finetune.nope'", True),  # nothing else on stderr
    ("finetune.learning_rate=abc", "'finetune.learning_rate' expects float", False),
    ("finetune.step=3", "did you mean 'finetune.steps'", False),
    ("finetune.lr_scheduler=exp", "unknown finetune.lr_scheduler 'exp'", False),
    ("misconceptions=1.5", "misconceptions must be a share in 0..1", False),
])
def test_bad_overrides_exit_2_with_one_line(tmp_path, monkeypatch, capsys, override, needle,
                                            fresh_process):
    args = ["run", "cft-vs-sft", "--preset", "smoke", "--out", str(tmp_path), "--set", override]
    if fresh_process:
        r = subprocess.run([sys.executable, "-m", "critiquelab.cli", *args],
                           capture_output=True, text=True, timeout=120)
        code, err = r.returncode, r.stderr
    else:
        code, _, err = invoke(args, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], err


def test_held_out_records_are_the_arms_kind_on_validation_problems(tmp_path):
    """Each arm's fit is measured on one record per validation problem, the same for every
    seed, of the kind it trains on; an arm with its own record stream gets none by default."""
    from critiquelab.experiments import get_experiment
    from critiquelab.experiments.chain_common import ChainState, chain_splits
    from critiquelab.experiments.runner import make_context
    from critiquelab.formats import COMPACT

    exp = get_experiment("cft-vs-sft")
    ctx = make_context(exp, "smoke", 1, tmp_path / "run", tmp_path / "cache", progress=False)
    world, splits = chain_splits(ctx.params)
    state = ChainState(world, COMPACT, splits, {}, [], ctx.params)
    validation = {p.id for p in splits["validation"]}
    for arm in TRAINED:
        held = exp.heldout(ctx, state, arm)
        assert len(held) == len(splits["validation"]) == len({id(r) for r in held})
        assert held == exp.heldout(ctx, state, arm)  # seeded, not drawn per call
        if arm != "continued-pretraining":  # stage 0's text carries no problem id
            assert {r["problem_id"] for r in held} <= validation
    assert "Critique" in exp.heldout(ctx, state, "cft")[0]["prompt"]
    assert exp.heldout(ctx, state, "base") == []


def test_a_checkpoint_has_learned_only_when_its_fit_gain_is_resolved():
    rng = random.Random(0)
    entry = [-0.5 + rng.gauss(0, 0.1) for _ in range(100)]

    def checkpoint(gain: float, noise: float) -> dict:
        return {"validation_items": {OBJECTIVE_FIT: [e + gain + rng.gauss(0, noise)
                                                     for e in entry]}}
    assert fit_resolved(checkpoint(0.02, 0.01), entry)
    assert not fit_resolved(checkpoint(0.0, 0.01), entry)
    assert not fit_resolved(checkpoint(0.002, 0.05), entry)  # within the items' noise
    assert not fit_resolved(checkpoint(-0.02, 0.01), entry)



def written_facts(text: str) -> list[tuple[tuple[str, int, int], int]]:
    """((op, left, right), result) of every step line `v = x op y = 7 op 5 = 12` in text."""
    out = []
    for line in text.splitlines():
        parts = line.split(" = ")
        if len(parts) == 4:
            a, op, b = parts[2].split(" ")
            out.append(((op, int(a), int(b)), int(parts[3])))
    return out


def test_misconceptions_reach_the_fine_tuning_candidates_and_nothing_else():
    params = {**PRESETS["smoke"], "misconceptions": 0.3}
    world, splits = chain_splits(params)
    state = ChainState(world, COMPACT, splits, {}, [], params)
    student = candidate_writer(state)
    assert student.misconceptions and not world.misconceptions

    def misconceived(source: str, split: str = "train") -> int:
        """How many of 200 records of the stream write one of the student's wrong facts."""
        records = islice(arm_records(state, source, 0, 0.0, split=split), 200)
        return sum(any(student.misconceptions.get(f) == v for f, v in written_facts(
            r["prompt"].split("Solution:\n")[-1] + "\n" + r["completion"])) for r in records)

    assert misconceived("raw") > 0 and misconceived("cft") > 0
    assert misconceived("raw", "validation") > 0  # the held-out fit meets the same student
    assert misconceived("gold") == 0
    assert candidate_writer(ChainState(world, COMPACT, splits, {}, [], PRESETS["smoke"])) is world
