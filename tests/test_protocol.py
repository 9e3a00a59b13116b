"""Protocol v2 on a toy experiment and by simulation: overrides, gates, withheld verdicts,
floors, Holm, MDE, t-CIs, bootstrap coverage over bases, and cell quarantine."""

import json
import random

import numpy as np
import pytest
import torch

from critiquelab.errors import UsageError
from critiquelab.evaluation.stats import (
    bootstrap_ci,
    holm,
    mde,
    paired_difference,
    t_ci,
    t_quantile,
)
from critiquelab.experiments.aggregate import gate_result, gate_text
from critiquelab.experiments.config import merge, parse_set
from critiquelab.experiments.finetune import FinetuneSpec, finetune
from critiquelab.experiments.runner import gate_inputs_missing, make_context, run_experiment
from critiquelab.experiments.spec import Arm, CellResult, Experiment, Gate
from critiquelab.models import load_model
from critiquelab.reporting.report import validity_table


class Dice(Experiment):
    """Arms with a known skill: 'learner' passes its gate, 'stuck' does not."""

    name = "dice"
    title = "Dice"
    question = "Which arm rolls higher?"
    arm_table = (Arm("ref"),
                 Arm("learner", "d", "roll", "sft", Gate("skill", "arm:ref")),
                 Arm("stuck", "d", "roll", "sft", Gate("skill", "trivial")))
    presets = {"smoke": {"n": 300, "train": {"lr": 0.5, "steps": 2}, "bases": 1}}
    metrics = ("hit",)
    splits = ("a",)
    baseline = "ref"

    def setup(self, ctx):
        return None

    def trivial(self, ctx, state):
        return {"hit": {"a": 0.2}, "skill": {"validation": 0.5}}

    def run_cell(self, ctx, state, arm, seed):
        rng = random.Random(f"{arm}{seed}")
        p = {"ref": 0.5, "learner": 0.7, "stuck": 0.1}[arm]
        hits = [float(rng.random() < p) for _ in range(ctx.params["n"])]
        return CellResult({"hit": {"a": hits}}, {"steps": 2.0},
                          validation={"skill": {"ref": 0.4, "learner": 0.6, "stuck": 0.3}[arm]},
                          checkpoints=[{"steps": s, "validation": {}, "scores": {"hit": {
                              "a": hits}}} for s in (1, 2, 4)],
                          generations=[{"item": i, "split": "a", "metric": "hit", "prompt": "",
                                        "output": str(h), "score": h}
                                       for i, h in enumerate(hits)])


def test_overrides_merge_and_fail_with_one_named_key():
    base = {"finetune": {"learning_rate": 3e-4, "steps": 8, "checkpoints": (0.5, 1.0)},
            "model": "tiny-xs"}
    sets = parse_set(["finetune.learning_rate=1e-4", "finetune.steps=16",
                      "finetune.checkpoints=[0.25, 1]"])
    merged = merge(base, sets)
    assert merged["finetune"] == {"learning_rate": 1e-4, "steps": 16, "checkpoints": (0.25, 1.0)}
    assert base["finetune"]["steps"] == 8
    with pytest.raises(UsageError, match="'finetune.nope'"):
        merge(base, parse_set(["finetune.nope=1"]))
    with pytest.raises(UsageError, match="did you mean 'finetune.steps'"):
        merge(base, parse_set(["finetune.step=1"]))
    with pytest.raises(UsageError, match="'finetune.learning_rate' expects float"):
        merge(base, parse_set(["finetune.learning_rate=abc"]))
    with pytest.raises(UsageError, match="'finetune.steps' expects int"):
        merge(base, parse_set(["finetune.steps=1.5"]))
    with pytest.raises(UsageError, match="is a group"):
        merge(base, parse_set(["finetune=3"]))


def test_gates_withhold_verdicts_and_floors_are_flagged(tmp_path):
    exp = Dice()
    ctx = make_context(exp, "smoke", 2, tmp_path / "out", tmp_path / "c", progress=False)
    res = run_experiment(exp, ctx)
    assert res["validity"]["learner"] == {
        "metric": "skill", "value": 0.6, "reference": 0.4, "passed": True, "against": "arm:ref",
        "means_only": "no per-item validation scores in learner seed 0, learner seed 1, "
                      "ref seed 0, ref seed 1"}
    assert res["validity"]["stuck"]["passed"] is False
    assert "ref" not in res["validity"]
    comps = {c["arm"]: c for c in res["comparisons"]}
    assert comps["learner"]["verdict"] == "ok" and comps["learner"]["reason"] is None
    assert comps["stuck"]["verdict"] == "withheld" and "stuck failed" in comps["stuck"]["reason"]
    assert comps["stuck"]["floor"] and not comps["learner"]["floor"]
    assert {(f["arm"], f["metric"]) for f in res["floors"]} == {("stuck", "hit")}
    assert all(c["p_holm"] >= c["p"] and c["mde"] > 0 for c in comps.values())
    assert [p["steps"] for p in res["budget_curve"]["learner"]["hit"]["a"]] == [1, 2, 4]
    gens = (tmp_path / "out" / "cells" / "learner__seed1.generations.jsonl").read_text()
    assert len(gens.splitlines()) == 300
    report = (tmp_path / "out" / "report.md").read_text()
    assert "withheld" in report and "p_holm" in report and "Resolved config" in report


def test_a_gate_is_not_passed_by_float_noise(tmp_path):
    ctx = make_context(Dice(), "smoke", 3, tmp_path, tmp_path / "c", progress=False)
    cells = {("stuck", s): CellResult({}, {}, validation={"skill": v})
             for s, v in zip(ctx.seeds, (0.28, 0.3, 0.29), strict=True)}
    trivial = {"skill": {"validation": 0.29}}
    result = gate_result(Dice(), "stuck", cells, ctx, trivial)
    assert result["value"] > 0.29 and result["passed"] is False  # 0.29000000000000004
    cells["stuck", ctx.seeds[0]] = CellResult({}, {}, validation={"skill": 0.29})
    assert gate_result(Dice(), "stuck", cells, ctx, trivial)["passed"] is True


def test_a_gate_with_per_item_scores_needs_its_margin_ci_above_zero(tmp_path):
    ctx = make_context(Dice(), "smoke", 2, tmp_path, tmp_path / "c", progress=False)
    rng = random.Random(0)

    def cell(p: float) -> CellResult:
        items = [float(rng.random() < p) for _ in range(100)]
        return CellResult({}, {}, validation={"skill": sum(items) / 100},
                          validation_items={"skill": items})

    trivial = {"skill": {"validation": 0.5}}
    cells = {("ref", s): cell(0.5) for s in ctx.seeds}
    cells |= {("learner", s): cell(0.53) for s in ctx.seeds}  # a little above, by chance
    close = gate_result(Dice(), "learner", cells, ctx, trivial)
    lo, hi = close["difference"]["ci95"]
    assert lo < 0 < hi and close["passed"] is False
    assert close["value"] > close["reference"]  # the means alone would have passed it
    cells |= {("learner", s): cell(0.8) for s in ctx.seeds}
    clear = gate_result(Dice(), "learner", cells, ctx, trivial)
    assert clear["difference"]["ci95"][0] > 0 and clear["passed"] is True
    assert clear["difference"]["mean"] == pytest.approx(clear["value"] - clear["reference"])
    cells |= {("stuck", s): cell(0.8) for s in ctx.seeds}  # against a constant: trivial
    assert gate_result(Dice(), "stuck", cells, ctx, trivial)["difference"]["ci95"][0] > 0.2
    cells["ref", ctx.seeds[0]] = CellResult({}, {}, validation={"skill": 0.5})  # older cell
    old = gate_result(Dice(), "learner", cells, ctx, trivial)
    assert "difference" not in old and old["passed"] is True  # read from the means
    assert old["means_only"] == f"no per-item validation scores in ref seed {ctx.seeds[0]}"


class Polish(Dice):
    """One arm whose last stage must improve the model it was given (an "entry" gate)."""

    arm_table = (Arm("ref"), Arm("tuned", "d", "roll", "rl", Gate("skill", "entry")))


def test_an_entry_gate_compares_a_cell_with_its_own_model_before_its_last_stage(tmp_path):
    exp = Polish()
    ctx = make_context(exp, "smoke", 2, tmp_path, tmp_path / "c", progress=False)
    rng = random.Random(1)

    def cell(before: float, after: float) -> CellResult:
        entry, items = ([float(rng.random() < p) for _ in range(100)] for p in (before, after))
        return CellResult({}, {}, validation={"skill": sum(items) / 100,
                                              "skill@entry": sum(entry) / 100},
                          validation_items={"skill": items, "skill@entry": entry})

    cells = {("tuned", s): cell(0.5, 0.5) for s in ctx.seeds}
    same = gate_result(exp, "tuned", cells, ctx, {})
    assert same["against"] == "entry" and same["passed"] is False
    assert same["reference"] == pytest.approx(
        sum(cells["tuned", s].validation["skill@entry"] for s in ctx.seeds) / 2)
    cells = {("tuned", s): cell(0.3, 0.8) for s in ctx.seeds}
    better = gate_result(exp, "tuned", cells, ctx, {})
    assert better["passed"] is True and better["difference"]["ci95"][0] > 0
    assert better["difference"]["mean"] == pytest.approx(better["value"] - better["reference"])
    cells["tuned", ctx.seeds[0]] = CellResult({}, {}, validation={"skill": 0.9})
    assert gate_result(exp, "tuned", cells, ctx, {})["passed"] is None  # cannot tell
    assert gate_inputs_missing(exp, "tuned", {"validation": {"skill": 0.9}}) == [
        "validation.skill@entry"]


def test_arms_selection_keeps_gate_references(tmp_path):
    exp = Dice()
    ctx = make_context(exp, "smoke", 1, tmp_path, tmp_path / "c", arms=["learner"])
    assert ctx.arms == ("ref", "learner")
    with pytest.raises(UsageError, match="did you mean 'stuck'"):
        make_context(exp, "smoke", 1, tmp_path, tmp_path / "c", arms=["stuk"])


def test_damaged_and_foreign_cells_are_quarantined_and_recomputed(tmp_path):
    exp = Dice()
    ctx = make_context(exp, "smoke", 1, tmp_path / "out", tmp_path / "c", progress=False)
    run_experiment(exp, ctx)
    cells = tmp_path / "out" / "cells"
    (cells / "ref__seed0.json").write_text('{"scores": ')  # a torn write
    foreign = json.loads((cells / "learner__seed0.json").read_text())
    foreign["key"] = "another-experiment"
    (cells / "learner__seed0.json").write_text(json.dumps(foreign))
    res = run_experiment(exp, ctx)
    reasons = {q["cell"]: q["reason"] for q in res["quarantined"]}
    assert reasons["ref__seed0.json"] == "unreadable"
    assert reasons["learner__seed0.json"].startswith("foreign")
    assert len(list((cells / "quarantine").glob("*__seed0.*.json"))) == 2
    assert json.loads((cells / "learner__seed0.json").read_text())["key"] != "another-experiment"
    assert "Quarantined cells" in (tmp_path / "out" / "report.md").read_text()


def test_a_cell_without_what_a_gate_reads_is_recomputed_not_scored_as_zero(tmp_path):
    exp = Dice()
    ctx = make_context(exp, "smoke", 1, tmp_path / "out", tmp_path / "c", progress=False)
    run_experiment(exp, ctx)
    cells = tmp_path / "out" / "cells"
    for arm in ("ref", "stuck"):  # as written by code from before the gate read validation
        old = json.loads((cells / f"{arm}__seed0.json").read_text())
        (cells / f"{arm}__seed0.json").write_text(json.dumps({**old, "validation": {}}))
    res = run_experiment(exp, ctx)
    reasons = {q["cell"]: q["reason"] for q in res["quarantined"]}
    assert reasons == {"ref__seed0.json": "stale (lacks validation.skill, which a gate reads)",
                       "stuck__seed0.json": "stale (lacks validation.skill, which a gate reads)"}
    assert res["validity"]["learner"]["reference"] == 0.4  # not the default of 0


def test_holm_matches_the_step_down_rule():
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.6]) == [1.0, 1.0]


def test_t_interval_covers_at_its_nominal_rate():
    rng = np.random.default_rng(0)
    draws = rng.normal(0.3, 0.05, size=(4000, 3))
    hits = 0
    for row in draws:
        lo, hi = t_ci(row.tolist())["ci95"]
        hits += lo <= 0.3 <= hi
    assert 0.935 <= hits / len(draws) <= 0.965
    assert t_quantile(2) == pytest.approx(4.303) and t_quantile(1000) == pytest.approx(1.962, 1e-3)
    assert t_ci([0.5])["ci95"] == [None, None]


def test_mde_is_the_effect_found_80_percent_of_the_time():
    rng = np.random.default_rng(1)
    se = 0.1
    effect = mde(se)
    found = np.abs(rng.normal(effect, se, 20000)) > 1.959964 * se
    assert 0.78 <= found.mean() <= 0.82


def test_paired_p_value_is_small_for_a_real_gap_and_large_for_none():
    rng = np.random.default_rng(2)
    base = (rng.random((3, 400)) < 0.3).astype(float)
    better = np.maximum(base, rng.random((3, 400)) < 0.3).astype(float)
    assert paired_difference(better.tolist(), base.tolist())["p"] < 0.01
    noise = (rng.random((3, 400)) < 0.3).astype(float)
    assert paired_difference(noise.tolist(), base.tolist())["p"] > 0.05


def test_base_level_bootstrap_covers_when_bases_differ():
    """With a base effect, seeds of one base understate the spread; resampling bases first
    restores coverage of the population mean."""
    rng = np.random.default_rng(3)
    hits, runs = 0, 150
    for _ in range(runs):
        base_means = 0.5 + rng.normal(0, 0.08, 4)
        per_seed = [(rng.random(60) < base_means[s % 4]).astype(float).tolist()
                    for s in range(8)]
        lo, hi = bootstrap_ci(per_seed, bases=[s % 4 for s in range(8)], n_boot=400)["ci95"]
        hits += lo <= 0.5 <= hi
    assert hits / runs >= 0.85


def test_config_file_then_set_and_bases_bounded_by_seeds(tmp_path):
    from critiquelab.experiments.config import load_config

    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  lr: 0.1\nbases: 2\n")
    exp = Dice()
    ctx = make_context(exp, "smoke", 2, tmp_path / "o", tmp_path / "c", config=load_config(path),
                       overrides=parse_set(["train.steps=5"]))
    assert ctx.params["train"] == {"lr": 0.1, "steps": 5} and ctx.bases == 2
    assert [ctx.base_of(s) for s in ctx.seeds] == [0, 1]
    with pytest.raises(UsageError, match="bases must be between 1 and"):
        make_context(exp, "smoke", 1, tmp_path / "o", tmp_path / "c", config=load_config(path))
    path.write_text("- not a mapping\n")
    with pytest.raises(UsageError, match="must hold a mapping"):
        load_config(path)


def test_a_fit_gate_reads_in_its_unit_and_a_share_in_points():
    fit = {"metric": "objective_logprob", "value": -0.81234, "reference": -0.81567,
           "unit": "nats/token", "difference": {"mean": 0.00333, "ci95": [0.0011, 0.0052]}}
    assert gate_text(fit) == ("objective_logprob -0.8123 vs -0.8157 nats/token, "
                              "margin +0.0033 [+0.0011, +0.0052]")
    share = {"metric": "solve_accuracy", "value": 0.31, "reference": 0.29,
             "difference": {"mean": 0.02, "ci95": [-0.015, 0.054]}}
    assert gate_text(share) == "solve_accuracy 31.0% vs 29.0%, margin +2.0 [-1.5, +5.4]"
    assert validity_table({"validity": {"a": {**fit, "passed": True, "against": "entry"}}})[1] \
        == [["a", "objective_logprob", "-0.8123", "-0.8157 (entry)",
             "+0.0033 [+0.0011, +0.0052]", "passed"]]


def test_validation_picks_among_checkpoints_that_learned_their_objective(tmp_path):
    """Selection is constrained to checkpoints that learned (best solving among them), falls
    back to all when none did, and a stored probe lacking an expected item is redone."""
    model, tok = load_model("tiny-xs", seed=0)
    records = [{"prompt": f"a = {i}. Find a.\n", "completion": f"Answer: {i} [END]"}
               for i in range(8)]
    spec = FinetuneSpec(steps=4, learning_rate=1e-3, batch_size=2,
                        checkpoints=(0.25, 0.5, 0.75, 1.0))
    calls = []

    def probe(m, t) -> dict:  # solving falls along the budget while the fit rises
        i = len(calls) % 4
        calls.append(i)
        fit = [0.1, 0.2, 0.6, 0.7][i]
        return {"validation": {"solve": [0.9, 0.8, 0.7, 0.6][i], "fit": fit},
                "validation_items": {"fit": [fit]}, "scores": {}}

    ctx = make_context(Dice(), "smoke", 1, tmp_path / "run")
    learned = lambda c: c["validation"]["fit"] > 0.5  # noqa: E731
    done = finetune(ctx, "dice", "learner", 0, model, tok, records, spec, probe, "solve",
                    learned=learned, expects=("fit",))
    assert done.picked_steps == 3 and done.budget["picked_steps"] == 3
    kept, _ = load_model(str(tmp_path / "run" / "work" / "learner__seed0" / "model-3"))
    assert all(torch.equal(a, b) for a, b in zip(done.model.state_dict().values(),
                                                  kept.state_dict().values(), strict=True))
    stored = tmp_path / "run" / "work" / "learner__seed0" / "probe-2.json"
    entry = json.loads(stored.read_text())
    del entry["validation_items"]["fit"]  # as probed by code that did not measure the fit
    stored.write_text(json.dumps(entry))
    again = finetune(ctx, "dice", "learner", 0, model, tok, records, spec, probe, "solve",
                     learned=lambda c: False, expects=("fit",))
    assert len(calls) == 5 and "fit" in json.loads(stored.read_text())["validation_items"]
    assert again.picked_steps == 1  # none learned: the best-solving of all
