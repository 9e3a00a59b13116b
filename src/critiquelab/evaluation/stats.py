"""Confidence intervals, p-values and detectable effects for per-item scores over seeds (and
independently pretrained bases), plus Holm's correction across a report's comparisons."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

N_BOOT = 2000
Z_975 = 1.959964  # two-sided 95%
Z_80 = 0.841621  # 80% power
# Student t 0.975 quantiles for 1..30 degrees of freedom; larger ones use Cornish-Fisher.
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
          2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
          2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def _matrix(per_seed: Sequence[Sequence[float]]) -> np.ndarray:
    lengths = {len(s) for s in per_seed}
    if len(lengths) != 1:
        raise ValueError(f"every seed must score the same items, got lengths {sorted(lengths)}")
    return np.asarray(per_seed, dtype=float)


def _boot_means(m: np.ndarray, rng: np.random.Generator, n_boot: int,
                bases: Sequence[int] | None = None) -> np.ndarray:
    """Means of a hierarchical bootstrap: resample bases (when seeds span several), then seeds
    within them, then items (shared across seeds)."""
    n_seeds, n_items = m.shape
    if bases is None or len(set(bases)) < 2:
        seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    else:
        groups = [np.flatnonzero(np.asarray(bases) == b) for b in sorted(set(bases))]
        picked_groups = rng.integers(0, len(groups), size=(n_boot, len(groups)))
        per = min(len(g) for g in groups)
        seeds = np.concatenate([
            np.stack([rng.choice(groups[g], size=per) for g in picked_groups[:, k]])
            for k in range(len(groups))], axis=1)
    items = rng.integers(0, n_items, size=(n_boot, n_items))
    rows = m[seeds]  # (n_boot, seeds drawn, n_items)
    picked = np.take_along_axis(rows, items[:, None, :].repeat(seeds.shape[1], axis=1), axis=2)
    return picked.mean(axis=(1, 2))


def bootstrap_ci(per_seed: Sequence[Sequence[float]], seed: int = 0, n_boot: int = N_BOOT,
                 bases: Sequence[int] | None = None) -> dict:
    """Mean and 95% percentile CI of per-item scores given per seed (items aligned); `bases`
    names each seed's pretrained base, which then becomes the outer resampling level."""
    m = _matrix(per_seed)
    if m.size == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    boots = _boot_means(m, np.random.default_rng(seed), n_boot, bases)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": float(m.mean()), "ci95": [float(lo), float(hi)], "n": int(m.size)}


def paired_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]],
                      seed: int = 0, n_boot: int = N_BOOT,
                      bases: Sequence[int] | None = None) -> dict:
    """Mean of a - b with a 95% CI, a two-sided bootstrap p-value and the minimum detectable
    effect at 80% power, resampling the same bases, seeds and items for both arms."""
    diff = _matrix(a) - _matrix(b)
    if diff.size == 0:
        return {"mean": None, "ci95": [None, None], "p": None, "mde": None}
    boots = _boot_means(diff, np.random.default_rng(seed), n_boot, bases)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": float(diff.mean()), "ci95": [float(lo), float(hi)],
            "p": bootstrap_p(boots), "mde": mde(float(boots.std(ddof=1)))}


def bootstrap_p(boots: np.ndarray) -> float:
    """Two-sided p-value of 'no difference' from bootstrap draws of the difference."""
    n = len(boots)
    tail = min(int((boots <= 0).sum()), int((boots >= 0).sum()))
    return float(min(1.0, 2 * (tail + 1) / (n + 1)))


def mde(standard_error: float, alpha_z: float = Z_975, power_z: float = Z_80) -> float:
    """Smallest true difference a two-sided 5% test detects with 80% power, given the
    difference's standard error."""
    return (alpha_z + power_z) * standard_error


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (family-wise error) in the input order; None stays None."""
    ranked = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for k, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (len(ranked) - k) * p))
        out[i] = running
    return out


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError("a t interval needs at least two values")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = Z_975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def t_ci(values: Sequence[float]) -> dict:
    """Mean and 95% t interval of one value per seed, for quantities where only seeds vary."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    mean = float(x.mean())
    if len(x) == 1:
        return {"mean": mean, "ci95": [None, None], "n": 1}
    half = t_quantile(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": len(x)}
