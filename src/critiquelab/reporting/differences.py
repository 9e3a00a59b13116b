"""A plot of every arm's paired difference against the baseline, with 95% CIs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def difference_bars(results: dict, metric: str, out_dir: Path,
                    name: str) -> tuple[str, str] | None:
    """Horizontal bars of arm - baseline on `metric`, one group per split, CI whiskers."""
    comps = [c for c in results["comparisons"] if c["metric"] == metric]
    if not comps:
        return None
    comps = [c for c in comps if c["baseline"] == comps[0]["baseline"]]
    arms = list(dict.fromkeys(c["arm"] for c in comps))
    splits = list(dict.fromkeys(c["split"] for c in comps))
    fig, ax = plt.subplots(figsize=(5.5, 0.9 + 0.45 * len(arms) * len(splits)))
    height = 0.8 / len(splits)
    for j, sp in enumerate(splits):
        by_arm = {c["arm"]: c for c in comps if c["split"] == sp}
        ys = [i + (j - (len(splits) - 1) / 2) * height for i in range(len(arms))]
        means = [100 * by_arm[a]["mean"] if a in by_arm else 0.0 for a in arms]
        err = [[m - 100 * by_arm[a]["ci95"][0] if a in by_arm else 0.0
                for m, a in zip(means, arms, strict=True)],
               [100 * by_arm[a]["ci95"][1] - m if a in by_arm else 0.0
                for m, a in zip(means, arms, strict=True)]]
        ax.barh(ys, means, height, xerr=err, capsize=3, label=sp)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(arms)), arms)
    ax.invert_yaxis()
    baseline = comps[0]["baseline"]
    ax.set_xlabel(f"{metric}: arm - {baseline} (points)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    return name, (f"{metric} of each arm minus {baseline}, paired over seeds and problems; "
                  "whiskers are 95% bootstrap CIs.")
