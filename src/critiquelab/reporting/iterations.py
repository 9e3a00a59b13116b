"""Plots for iterative experiments (self-training): the difficulty histogram of the kept data
per iteration, and metrics over iterations. Each returns (file name, caption) or None."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _save(fig, out_dir: Path, name: str) -> None:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)


def seed_mean(runs: Sequence[Sequence[Sequence[float]]]) -> list[tuple[float, float]]:
    """Mean over seeds of [x, y] series, matched on x (a seed may lack some x)."""
    by_x: dict[float, list[float]] = defaultdict(list)
    for run in runs:
        for x, y in run:
            by_x[x].append(y)
    return [(x, sum(ys) / len(ys)) for x, ys in sorted(by_x.items())]


def kept_histograms(results: dict, arms: Sequence[str], out_dir: Path) -> tuple[str, str] | None:
    """Per arm, the share of kept solutions at each difficulty, one bar per iteration, with the
    pool's share of problems as a line (seeds averaged)."""
    if not all(results["extra"].get(a) and results["extra"][a][0]["iterations"] for a in arms):
        return None
    fig, axes = plt.subplots(1, len(arms), figsize=(4.2 * len(arms), 3.4), sharey=True,
                             squeeze=False)
    for ax, arm in zip(axes[0], arms, strict=True):
        runs = results["extra"][arm]
        levels = list(runs[0]["iterations"][0]["histogram"])
        n_iter = len(runs[0]["iterations"])
        width = 0.8 / n_iter
        for i in range(n_iter):
            shares = [_share(r["iterations"][i]["histogram"]) for r in runs]
            shares = [s for s in shares if s is not None]
            means = [sum(s[d] for s in shares) / len(shares) if shares else 0.0 for d in levels]
            xs = [j + (i - (n_iter - 1) / 2) * width for j in range(len(levels))]
            ax.bar(xs, means, width, label=f"iteration {i + 1}")
        pool = _share(runs[0]["iterations"][0]["pool"]) or {}
        ax.plot(range(len(levels)), [pool.get(d, 0.0) for d in levels], "k--", marker="_",
                label="pool")
        ax.set_xticks(range(len(levels)), levels)
        ax.set_xlabel("difficulty")
        ax.set_title(arm, fontsize=9)
    axes[0][0].set_ylabel("share of kept solutions")
    axes[0][-1].legend(fontsize=7)
    _save(fig, out_dir, "kept_histogram.png")
    return ("kept_histogram.png", "Difficulty histogram of the kept self-training data per "
            "iteration (share of kept solutions, seeds averaged); the dashed line is the share "
            "of problems at each difficulty in the pool.")


def _share(hist: dict[str, float]) -> dict[str, float] | None:
    total = sum(hist.values())
    return {d: v / total for d, v in hist.items()} if total else None


def iteration_curves(results: dict, arms: Sequence[str], ks: Sequence[int],
                     out_dir: Path) -> tuple[str, str] | None:
    """Greedy accuracy, pass@k, hard_share and coverage against iteration, per arm."""
    curves = results.get("curves", {})
    if not all(curves.get(a) for a in arms):
        return None
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
    solved = [name for name in curves[arms[0]] if name.startswith("solve_accuracy/")]
    panels = [
        (axes[0][0], "greedy solve_accuracy",
         [(name, name.split("/", 1)[1]) for name in solved]),
        (axes[0][1], "pass@k on id", [(f"pass_at_{k}/id", f"k={k}") for k in ks]),
        (axes[1][0], "hard_share of problems with a kept solution",
         [("hard_share", "problems"), ("hard_solution_share", "solutions")]),
        (axes[1][1], "coverage of the training pool",
         [("coverage_all", "all"), ("coverage_hard", "hard")]),
    ]
    for ax, title, series in panels:
        for ci, arm in enumerate(arms):
            for si, (name, label) in enumerate(series):
                pts = seed_mean(curves[arm].get(name, []))
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{ci}",
                            linestyle=("-", "--", ":", "-.")[si % 4], marker="o", markersize=3,
                            label=f"{arm} {label}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("iteration (0 = base)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 1)
        if ax.lines:
            ax.legend(fontsize=6)
    pool = results["extra"][arms[0]][0].get("pool_hard_share")
    if pool is not None:
        axes[1][0].axhline(pool, color="k", linestyle="--", linewidth=0.8)
    _save(fig, out_dir, "iterations.png")
    return ("iterations.png", "Per iteration, seeds averaged: greedy accuracy on each "
            "evaluation split, pass@k on id, the hard share of the kept data (black: the "
            "pool's), and the share of training problems with a kept solution (all, and the hard "
            "band dashed).")
