"""Bootstrap confidence intervals over seeds and items, and paired arm differences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N_BOOT = 2000


def _matrix(per_seed: Sequence[Sequence[float]]) -> np.ndarray:
    lengths = {len(s) for s in per_seed}
    if len(lengths) != 1:
        raise ValueError(f"every seed must score the same items, got lengths {sorted(lengths)}")
    return np.asarray(per_seed, dtype=float)


def _boot_means(m: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Means of a two-level bootstrap: resample seeds, then items (shared across seeds)."""
    n_seeds, n_items = m.shape
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    items = rng.integers(0, n_items, size=(n_boot, n_items))
    rows = m[seeds]  # (n_boot, n_seeds, n_items)
    picked = np.take_along_axis(rows, items[:, None, :].repeat(n_seeds, axis=1), axis=2)
    return picked.mean(axis=(1, 2))


def bootstrap_ci(per_seed: Sequence[Sequence[float]], seed: int = 0,
                 n_boot: int = N_BOOT) -> dict:
    """Mean and 95% percentile CI of per-item scores given per seed (items aligned)."""
    m = _matrix(per_seed)
    if m.size == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    boots = _boot_means(m, np.random.default_rng(seed), n_boot)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": float(m.mean()), "ci95": [float(lo), float(hi)], "n": int(m.size)}


def paired_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]],
                      seed: int = 0, n_boot: int = N_BOOT) -> dict:
    """Mean of a - b with a 95% CI, resampling the same seeds and items for both arms."""
    diff = _matrix(a) - _matrix(b)
    boots = _boot_means(diff, np.random.default_rng(seed), n_boot)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": float(diff.mean()), "ci95": [float(lo), float(hi)]}
