"""The summary table printed on stdout at the end of a run."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from critiquelab.reporting.report import cell_text


def print_summary(results: dict, metrics: tuple[str, ...] | None = None) -> None:
    """One row per arm, one column per metric and split, mean [95% CI] in percent."""
    metrics = metrics or tuple(dict.fromkeys(m for a in results["arms"].values() for m in a))
    cols = [(m, sp) for m in metrics
            for sp in dict.fromkeys(sp for a in results["arms"].values() for sp in a.get(m, {}))]
    table = Table(title=f"{results['experiment']} ({results['preset']}, "
                        f"{len(results['seeds'])} seeds)")
    table.add_column("arm")
    for m, sp in cols:
        table.add_column(f"{m}\n{sp}", justify="right")
    for arm, cells in results["arms"].items():
        table.add_row(arm, *[cell_text(cells.get(m, {}).get(sp)) for m, sp in cols])
    out = _console()
    out.print(table)
    for sentence in results.get("conclusions", []):
        out.print(f"- {sentence}")


def _console() -> Console:
    """The terminal's width on a terminal; piped, wide enough that no cell is truncated."""
    return Console() if sys.stdout.isatty() else Console(width=10_000, soft_wrap=True)
