"""The `sos` experiment: training data of each arm, and a smoke run through the runner."""

import json
import random
from itertools import islice

from critiquelab.experiments import get_experiment
from critiquelab.experiments.runner import make_context, run_experiment
from critiquelab.experiments.sos import SMOKE, score_trajectory, trace_records
from critiquelab.worlds import get_world


def test_arms_train_on_the_same_problems_in_two_formats():
    world = get_world("countdown", **SMOKE["world"], targets="seen")
    problems = [world.generate(random.Random(i), 3) for i in range(30)]
    opt = list(islice(trace_records(problems, "optimal-path", random.Random(0), 20), 30))
    sos = list(islice(trace_records(problems, "stream-of-search", random.Random(0), 20), 30))
    assert [r["prompt"] for r in opt] == [r["prompt"] for r in sos]
    assert all(r["solved"] and " x" not in r["completion"] for r in opt)
    assert any(" x\n" in r["completion"] for r in sos)  # dead ends
    assert sum(len(r["completion"]) for r in sos) > 2 * sum(len(r["completion"]) for r in opt)
    for p, r in zip(problems, sos, strict=True):
        assert world.verify(p, r["completion"]).answer_correct == r["solved"]


def test_score_trajectory_counts_arithmetic_errors():
    world = get_world("countdown", sizes=3)
    p = world.parse_problem("20 from 2 3 4")
    row = score_trajectory(p, "4+3=8|2 8\n@2 8\n3+2=5|4 5\n@4 5\n5*4=20 goal")
    assert row["solved"] == 1.0 and row["valid"] == 0.0
    assert row["arithmetic_errors"] == 1.0 and row["arithmetic_error_rate"] == 1 / 3


def test_smoke_run_end_to_end(tmp_path, base_cache):
    exp = get_experiment("sos")
    ctx = make_context(exp, "smoke", 1, tmp_path / "out", base_cache, progress=False)
    results = run_experiment(exp, ctx)
    assert json.loads((tmp_path / "out" / "results.json").read_text())["experiment"] == "sos"
    assert (tmp_path / "out" / "report.md").is_file()
    for arm in exp.arms:
        for split in exp.splits:
            acc = results["arms"][arm]["solve_accuracy"][split]
            assert acc["n"] == SMOKE["n_eval"] and 0.0 <= acc["mean"] <= 1.0
    budget = results["budget"]
    tokens = [budget[arm]["tokens"] for arm in exp.arms]
    assert min(tokens) >= SMOKE["train"]["token_budget"] * 0.95
    assert max(tokens) <= SMOKE["train"]["token_budget"] * 1.1
    assert budget["optimal-path"]["problems"] > budget["stream-of-search"]["problems"]
    assert any("optimal-path" in c for c in results["conclusions"])
    for arm in exp.arms:  # one model per learning rate; the kept one is the validation best
        for run in results["extra"][arm]:
            sweep = run["lr_sweep"]
            assert list(sweep) == [f"{lr:g}" for lr in SMOKE["train"]["learning_rates"]]
            assert sweep[f"{run['learning_rate']:g}"] == max(sweep.values())
        assert results["validity"][arm]["against"] == "trivial"
        assert "difference" in results["validity"][arm]
    assert any(c["metric"] == "solve_accuracy" and c["split"] == "held-out-targets"
               for c in results["comparisons"])
