"""The runner on a toy experiment: results shape, resume, seed-invariant arms, conflicts."""

import json
import random

import pytest

from critiquelab.errors import UsageError
from critiquelab.experiments.runner import make_context, run_experiment
from critiquelab.experiments.spec import CellResult, Experiment


class Coin(Experiment):
    name = "coin"
    title = "Coins"
    question = "Is the biased coin biased?"
    arms = ("fair", "biased", "const")
    presets = {"smoke": {"n": 200}}
    metrics = ("heads",)
    splits = ("a",)
    baseline = "fair"
    seed_invariant_arms = ("const",)

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def setup(self, ctx):
        return ctx.params["n"]

    def run_cell(self, ctx, n, arm, seed):
        self.calls.append((arm, seed))
        rng = random.Random(f"{arm}{seed}")
        p = {"fair": 0.5, "biased": 0.8, "const": 1.0}[arm]
        scores = [float(rng.random() < p) for _ in range(n)]
        return CellResult({"heads": {"a": scores}}, {"tokens": 10.0, "steps": 2.0},
                          {"a": [i % 3 for i in range(n)]}, {"train_loss": [[0, 1.0], [1, 0.5]]})


def test_results_shape_and_resume(tmp_path):
    exp = Coin()
    ctx = make_context(exp, "smoke", 2, tmp_path / "out", tmp_path / "cache", progress=False)
    res = run_experiment(exp, ctx)
    assert sorted(exp.calls) == sorted([("fair", 0), ("biased", 0), ("const", 0),
                                        ("fair", 1), ("biased", 1)])
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["experiment"] == "coin" and on_disk["seeds"] == [0, 1]
    cell = on_disk["arms"]["biased"]["heads"]["a"]
    assert cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1]
    assert 0.7 < cell["mean"] < 0.9
    diff = next(c for c in res["comparisons"] if c["arm"] == "biased")
    assert diff["ci95"][0] > 0
    assert on_disk["budget"]["fair"] == {"steps": 2.0, "tokens": 10.0}
    for name in ("report.html", "report.md", "heads.png", "by_difficulty.png", "train_loss.png"):
        assert (tmp_path / "out" / name).exists(), name
    html = (tmp_path / "out" / "report.html").read_text()
    assert "data:image/png;base64," in html and "<img src=\"heads.png\"" not in html

    (tmp_path / "out" / "cells" / "biased__seed1.json").unlink()
    again = Coin()
    run_experiment(again, make_context(again, "smoke", 2, tmp_path / "out", tmp_path / "cache",
                                       progress=False))
    assert again.calls == [("biased", 1)]


def test_refuses_to_mix_presets(tmp_path):
    exp = Coin()
    run_experiment(exp, make_context(exp, "smoke", 1, tmp_path, tmp_path / "c", progress=False))
    with pytest.raises(UsageError, match="other settings"):
        run_experiment(exp, make_context(exp, "smoke", 1, tmp_path, tmp_path / "c",
                                         progress=False, overrides={"n": 3}))


def test_bad_requests(tmp_path):
    with pytest.raises(UsageError, match="unknown preset"):
        make_context(Coin(), "huge", 1, tmp_path, tmp_path)
    with pytest.raises(UsageError, match="--seeds"):
        make_context(Coin(), "smoke", 0, tmp_path, tmp_path)
