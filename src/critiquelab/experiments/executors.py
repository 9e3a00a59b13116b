"""Where cells run. Every executor calls runner.compute_cell(experiment, ctx, arm, seed), which
writes the cell's file; the out directory stays the single source of truth."""

from __future__ import annotations

from critiquelab.experiments.spec import Experiment, RunContext


def run_cells(experiment: Experiment, ctx: RunContext, todo: list[tuple[str, int]]) -> None:
    """Compute every (arm, seed) in `todo`, in order, in this process (worker processes and
    remote executors get the experiment by its registered name)."""
    from critiquelab.experiments.runner import compute_cell

    for arm, seed in todo:
        compute_cell(experiment, ctx, arm, seed)
