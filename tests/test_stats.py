import numpy as np
import pytest

from critiquelab.evaluation.stats import bootstrap_ci, paired_difference


def test_ci_contains_mean_and_is_deterministic():
    rng = np.random.default_rng(0)
    scores = (rng.random((3, 200)) < 0.4).astype(float).tolist()
    a = bootstrap_ci(scores)
    assert a == bootstrap_ci(scores)
    assert a["ci95"][0] <= a["mean"] <= a["ci95"][1]
    assert abs(a["mean"] - 0.4) < 0.06


def test_ci_narrows_with_more_items():
    rng = np.random.default_rng(1)
    small = bootstrap_ci((rng.random((3, 30)) < 0.5).astype(float).tolist())
    large = bootstrap_ci((rng.random((3, 3000)) < 0.5).astype(float).tolist())
    assert large["ci95"][1] - large["ci95"][0] < small["ci95"][1] - small["ci95"][0]


def test_constant_scores_have_zero_width():
    ci = bootstrap_ci([[1.0] * 10, [1.0] * 10])
    assert ci["mean"] == 1.0 and ci["ci95"] == [1.0, 1.0]


def test_paired_difference_detects_a_real_gap():
    rng = np.random.default_rng(2)
    base = (rng.random((3, 400)) < 0.3).astype(float)
    better = np.maximum(base, (rng.random((3, 400)) < 0.3)).astype(float)
    d = paired_difference(better.tolist(), base.tolist())
    assert d["ci95"][0] > 0
    same = paired_difference(base.tolist(), base.tolist())
    assert same["mean"] == 0 and same["ci95"] == [0.0, 0.0]


def test_misaligned_items_are_refused():
    with pytest.raises(ValueError):
        bootstrap_ci([[1.0, 0.0], [1.0]])


def test_floor_sentence_only_when_every_arm_is_at_the_floor():
    from critiquelab.reporting.report import floor_sentence

    def results(*means):
        return {"arms": {f"a{i}": {"solve_accuracy": {"id": {"mean": m, "ci95": [m, m]}}}
                         for i, m in enumerate(means)}}

    assert "Floor effect" in floor_sentence(results(0.0, 0.01))
    assert floor_sentence(results(0.0, 0.05)) is None
    assert floor_sentence(results(0.0), metric="format_rate") is None
