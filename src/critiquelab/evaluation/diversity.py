"""Tail narrowing and diversity: what self-generated training data covers, and how varied a
model's samples are (unbiased pass@k, answer entropy, distinct correct solution structures)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from critiquelab.worlds.base import Problem, Verification, World


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def answer_entropy(answers: Sequence[str | None]) -> float:
    """Shannon entropy of the stated answers in units of log(n): 0 when all samples agree,
    1 when all differ. A missing answer counts as one more answer value."""
    n = len(answers)
    if n < 2:
        return 0.0
    counts = Counter(answers).values()
    return -sum(c / n * math.log(c / n) for c in counts) / math.log(n)


def structure(v: Verification) -> tuple[str, ...]:
    """A solution's structure: the normalised claims of its lines, in order (step order and
    content, not spacing or wording)."""
    return tuple(s.note for s in v.steps)


def distinct_structures(checks: Sequence[Verification]) -> int:
    """How many different correct structures the samples of one problem contain."""
    return len({structure(v) for v in checks if v.correct})


def sample_scores(world: World, problems: Sequence[Problem], samples: Sequence[Sequence[str]],
                  ks: Sequence[int]) -> dict[str, list[float]]:
    """Per-problem pass_at_<k> (final answer right), answer_entropy and distinct_structures
    from n sampled solutions per problem."""
    out: dict[str, list[float]] = {f"pass_at_{k}": [] for k in ks}
    out.update(answer_entropy=[], distinct_structures=[])
    for p, sols in zip(problems, samples, strict=True):
        checks = [world.verify(p, s) for s in sols]
        right = sum(v.answer_correct for v in checks)
        for k in ks:
            out[f"pass_at_{k}"].append(pass_at_k(len(sols), right, k))
        out["answer_entropy"].append(answer_entropy([v.answer for v in checks]))
        out["distinct_structures"].append(float(distinct_structures(checks)))
    return out


def hard_band(difficulties: Sequence[int]) -> tuple[int, ...]:
    """The hard band: the top third (rounded up) of the distinct difficulty levels."""
    levels = sorted(set(difficulties))
    return tuple(levels[-math.ceil(len(levels) / 3):]) if levels else ()


def kept_summary(problems: Sequence[Problem], kept: Mapping[str, int],
                 hard: Sequence[int]) -> dict:
    """What self-generated data covers, from kept solutions per problem id.

    hard_share: share of hard problems among problems with >= 1 kept solution;
    hard_solution_share: share of kept solutions that solve hard problems;
    histogram: kept solutions per difficulty (pool: problems per difficulty); coverage: share
    of problems with >= 1 kept solution per difficulty, overall and on the hard band.
    """
    levels = sorted({p.difficulty for p in problems})
    pool = Counter(p.difficulty for p in problems)
    covered = Counter(p.difficulty for p in problems if kept.get(p.id, 0) > 0)
    solutions: Counter[int] = Counter()
    for p in problems:
        solutions[p.difficulty] += kept.get(p.id, 0)
    n_covered, n_kept = sum(covered.values()), sum(solutions.values())
    on_hard = {d for d in levels if d in hard}
    pool_hard = sum(pool[d] for d in on_hard)
    return {
        "kept_solutions": n_kept,
        "covered_problems": n_covered,
        "histogram": {str(d): solutions[d] for d in levels},
        "pool": {str(d): pool[d] for d in levels},
        "coverage": {str(d): covered[d] / pool[d] for d in levels},
        "coverage_all": n_covered / len(problems) if problems else 0.0,
        "coverage_hard": sum(covered[d] for d in on_hard) / pool_hard if pool_hard else None,
        "hard_share": (sum(covered[d] for d in on_hard) / n_covered) if n_covered else None,
        "hard_solution_share": (sum(solutions[d] for d in on_hard) / n_kept) if n_kept else None,
        "pool_hard_share": pool_hard / len(problems) if problems else None,
    }
