"""Reports: plots, report.md, self-contained report.html, and the stdout summary."""

from rich.console import Console

console = Console(stderr=True)

from critiquelab.reporting.report import write_report  # noqa: E402
from critiquelab.reporting.summary import print_summary  # noqa: E402

__all__ = ["console", "print_summary", "write_report"]
