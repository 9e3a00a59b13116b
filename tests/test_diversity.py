"""Tail-narrowing and diversity metrics: pass@k against enumeration, entropy, coverage."""

import math
import random
from itertools import combinations

import pytest

from critiquelab.evaluation.diversity import (
    answer_entropy,
    distinct_structures,
    hard_band,
    kept_summary,
    pass_at_k,
    sample_scores,
)
from critiquelab.worlds import Problem, get_world


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n samples (the first c correct) holding a correct one."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_matches_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k))


def test_pass_at_k_edge_cases_and_bad_input():
    assert pass_at_k(16, 0, 16) == 0.0
    assert pass_at_k(16, 1, 16) == 1.0
    assert pass_at_k(16, 4, 1) == pytest.approx(0.25)
    for n, c, k in ((4, 5, 1), (4, 1, 5), (4, 1, 0), (4, -1, 1)):
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_answer_entropy_is_normalised():
    assert answer_entropy(["3", "3", "3", "3"]) == 0.0
    assert answer_entropy(["1", "2", "3", "4"]) == pytest.approx(1.0)
    assert answer_entropy(["1", "1", None, None]) == pytest.approx(math.log(2) / math.log(4))
    assert answer_entropy(["7"]) == 0.0


def test_distinct_structures_counts_valid_step_orders_only():
    world = get_world("chain")
    p = world.parse_problem("a = 2. b = 3. c = a + 1. d = b * 2. e = c + d. Find e.")
    orders = ["c = a + 1 = 2 + 1 = 3\nd = b * 2 = 3 * 2 = 6\ne = c + d = 3 + 6 = 9\nAnswer: 9",
              "d = b * 2 = 3 * 2 = 6\nc = a + 1 = 2 + 1 = 3\ne = c + d = 3 + 6 = 9\nAnswer: 9",
              "c = a + 1 = 2 + 1 = 3\nd = b * 2 = 3 * 2 = 6\ne = c + d = 3 + 6 = 9\nAnswer: 9\n",
              "c = a + 1 = 2 + 1 = 3\nd = b * 2 = 3 * 2 = 7\ne = c + d = 3 + 7 = 10\nAnswer: 10"]
    checks = [world.verify(p, s) for s in orders]
    assert [v.correct for v in checks] == [True, True, True, False]
    assert distinct_structures(checks) == 2
    scores = sample_scores(world, [p], [orders], ks=(1, 4))
    assert scores["pass_at_1"] == [pytest.approx(0.75)] and scores["pass_at_4"] == [1.0]
    assert scores["distinct_structures"] == [2.0]
    assert 0.0 < scores["answer_entropy"][0] < 1.0


def test_hard_band_is_the_top_third_of_levels():
    assert hard_band([1, 2]) == (2,)
    assert hard_band([2, 3, 4, 5]) == (4, 5)
    assert hard_band([5, 3, 3, 4]) == (5,)
    assert hard_band([]) == ()


def _problem(i: int, difficulty: int) -> Problem:
    return Problem("toy", f"problem {i}", "0", difficulty)


def test_kept_summary_on_hand_made_data():
    pool = [_problem(i, d) for i, d in enumerate([1, 1, 1, 1, 2, 2, 3, 3])]
    kept = {pool[0].id: 5, pool[1].id: 3, pool[2].id: 0, pool[4].id: 1, pool[6].id: 1}
    s = kept_summary(pool, kept, hard=(3,))
    assert s["kept_solutions"] == 10 and s["covered_problems"] == 4
    assert s["histogram"] == {"1": 8, "2": 1, "3": 1}
    assert s["coverage"] == {"1": 0.5, "2": 0.5, "3": 0.5}
    assert s["pool"] == {"1": 4, "2": 2, "3": 2}
    assert s["coverage_all"] == 0.5 and s["coverage_hard"] == 0.5
    assert s["hard_share"] == 0.25  # 1 of the 4 covered problems is hard
    assert s["hard_solution_share"] == 0.1
    assert s["pool_hard_share"] == 0.25
    empty = kept_summary(pool, {}, hard=(3,))
    assert empty["hard_share"] is None and empty["coverage_all"] == 0.0


def test_tail_narrowing_shows_as_a_falling_hard_share():
    rng = random.Random(0)
    pool = [_problem(i, 1 + i % 3) for i in range(300)]
    solve_rate = {1: 0.9, 2: 0.5, 3: 0.3}
    wide = {p.id: int(rng.random() < solve_rate[p.difficulty]) for p in pool}
    narrow = {p.id: wide[p.id] if p.difficulty < 3 else 0 for p in pool}
    first, later = kept_summary(pool, wide, (3,)), kept_summary(pool, narrow, (3,))
    assert first["hard_share"] < first["pool_hard_share"]
    assert later["hard_share"] == 0.0 < first["hard_share"]
