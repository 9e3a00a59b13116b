"""benchmarks/imitation_headroom.py bounds an imitation arm's held-out fit gain by what
learning its data's error rate is worth."""

from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def headroom():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return runpy.run_path(str(BENCHMARKS / "imitation_headroom.py"))["headroom"]
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_no_headroom_when_the_base_was_pretrained_at_the_arm_s_rate(headroom):
    assert headroom([True, False, False], [10, 20, 30], 0.45, 0.45) == 0.0


def test_headroom_is_the_rate_shift_spread_over_each_record_s_tokens(headroom):
    got = headroom([True, False], [10, 40], 0.3, 0.45)
    assert got == pytest.approx((math.log(1.5) / 10 + math.log(0.55 / 0.7) / 40) / 2)
    assert headroom([True, False], [10, 40], 0.1, 0.45) > got > 0
