"""Line plots experiments add to the standard ones: a curve per arm over training steps, and a
metric against a swept level with reference arms drawn across. Each returns (file, caption)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, out_dir: Path, name: str) -> None:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)


def step_curves(results: dict, curve: str, out_dir: Path, label: str) -> tuple[str, str] | None:
    """One line per arm of a named [step, value] curve, seed 0."""
    series = {arm: runs[curve][0] for arm, runs in results.get("curves", {}).items()
              if runs.get(curve) and runs[curve][0]}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for arm, pts in series.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=arm)
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    name = f"{curve}.png"
    _save(fig, out_dir, name)
    return name, f"{label} against training step (first seed of each arm)."


def sweep_plot(results: dict, metric: str, levels: Sequence[tuple[float, str]],
               references: Sequence[str], out_dir: Path, xlabel: str) -> tuple[str, str] | None:
    """`metric` of the swept arms (level, arm) against level with 95% CIs, one panel per
    split; each reference arm is a horizontal line with its CI as a band."""
    arms = results["arms"]
    splits = list(arms[levels[0][1]].get(metric, {}))
    if not splits:
        return None
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 3.4), squeeze=False)
    xs = [x for x, _ in levels]
    for ax, sp in zip(axes[0], splits, strict=True):
        cells = [arms[a][metric][sp] for _, a in levels]
        means = [c["mean"] for c in cells]
        err = [[m - c["ci95"][0] for m, c in zip(means, cells, strict=True)],
               [c["ci95"][1] - m for m, c in zip(means, cells, strict=True)]]
        ax.errorbar(xs, means, yerr=err, marker="o", capsize=3, label="cft", color="C0")
        for i, ref in enumerate(references):
            c = arms[ref][metric][sp]
            color = f"C{i + 1}"
            ax.axhline(c["mean"], color=color, linestyle="--", label=ref)
            ax.axhspan(c["ci95"][0], c["ci95"][1], color=color, alpha=0.15)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.set_ylim(0, 1)
        ax.set_title(sp, fontsize=9)
        ax.legend(fontsize=7)
    name = f"{metric}_sweep.png"
    _save(fig, out_dir, name)
    return name, (f"{metric} against {xlabel}; whiskers and bands are 95% bootstrap CIs, "
                  f"dashed lines are {', '.join(references)}.")
