"""Standard plots of any experiment's results.json: metric bars with CIs, accuracy by
difficulty, training-loss curves. Each returns (file name, caption) or None."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _save(fig, out_dir: Path, name: str) -> None:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)


def metric_bars(results: dict, metric: str, out_dir: Path) -> tuple[str, str] | None:
    """Grouped bars: one group per split, one bar per arm, 95% CI whiskers."""
    arms = [a for a in results["arms"] if metric in results["arms"][a]]
    if not arms:
        return None
    splits = list(dict.fromkeys(sp for a in arms for sp in results["arms"][a][metric]))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(splits) * max(1, len(arms)) / 3, 3.6))
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        cells = [results["arms"][arm][metric].get(sp) for sp in splits]
        means = [c["mean"] if c and c["mean"] is not None else 0.0 for c in cells]
        err = [[m - (c["ci95"][0] or 0) for m, c in zip(means, cells, strict=True)],
               [(c["ci95"][1] or 0) - m for m, c in zip(means, cells, strict=True)]]
        xs = [j + (i - (len(arms) - 1) / 2) * width for j in range(len(splits))]
        ax.bar(xs, means, width, yerr=err, capsize=3, label=arm)
    ax.set_xticks(range(len(splits)), splits)
    ax.set_ylim(0, 1)
    ax.set_ylabel(metric)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{metric} per arm (95% bootstrap CI)", fontsize=9)
    name = f"{metric}.png"
    _save(fig, out_dir, name)
    return name, f"{metric} per arm and split; whiskers are 95% bootstrap CIs over seeds and items."


def difficulty_lines(results: dict, out_dir: Path) -> tuple[str, str] | None:
    """The primary metric against difficulty, one line per arm with a 95% CI band, splits
    pooled (their difficulties do not overlap)."""
    series = {}
    for arm, splits in results.get("by_difficulty", {}).items():
        pooled: dict[int, dict] = {}
        for groups in splits.values():
            pooled.update({int(g): c for g, c in groups.items()})
        if pooled:
            series[arm] = sorted(pooled.items())
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for arm, pts in series.items():
        xs = [g for g, _ in pts]
        line, = ax.plot(xs, [c["mean"] for _, c in pts], marker="o", label=arm)
        ax.fill_between(xs, [c["ci95"][0] for _, c in pts], [c["ci95"][1] for _, c in pts],
                        color=line.get_color(), alpha=0.15, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("difficulty")
    metric = results.get("primary_metric", "solve_accuracy")
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    _save(fig, out_dir, "by_difficulty.png")
    return "by_difficulty.png", (f"{metric} by problem difficulty; bands are 95% CIs over "
                                 "seeds and problems.")


def budget_curves(results: dict, out_dir: Path) -> tuple[str, str] | None:
    """Test score against optimizer steps at every checkpoint, one panel per split, 95% CI
    bands: whether the budget was enough for each arm's curve to flatten."""
    metric = results.get("primary_metric", "solve_accuracy")
    curves = {a: c[metric] for a, c in results.get("budget_curve", {}).items() if metric in c}
    splits = list(dict.fromkeys(sp for c in curves.values() for sp in c))
    if not splits:
        return None
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 3.4), squeeze=False)
    for ax, sp in zip(axes[0], splits, strict=True):
        for arm, by_sp in curves.items():
            pts = by_sp.get(sp, [])
            xs = [p["steps"] for p in pts]
            line, = ax.plot(xs, [p["mean"] for p in pts], marker="o", label=arm)
            ax.fill_between(xs, [p["ci95"][0] for p in pts], [p["ci95"][1] for p in pts],
                            color=line.get_color(), alpha=0.15, linewidth=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("optimizer steps")
        ax.set_ylabel(f"{metric} ({sp})")
        ax.set_ylim(0, 1)
    axes[0][0].legend(fontsize=7)
    _save(fig, out_dir, "budget_curve.png")
    return "budget_curve.png", (f"{metric} on the test splits at each checkpoint of the run; "
                                "bands are 95% CIs. Validation picked the checkpoint reported.")


def loss_curves(results: dict, out_dir: Path, curve: str = "train_loss") -> tuple[str, str] | None:
    """Training loss against step, seed 0 of each arm."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    drawn = False
    for arm, curves in results.get("curves", {}).items():
        runs = curves.get(curve) or []
        if runs and runs[0]:
            ax.plot([p[0] for p in runs[0]], [p[1] for p in runs[0]], label=arm)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    _save(fig, out_dir, f"{curve}.png")
    return f"{curve}.png", "Training loss per step (first seed of each arm)."
