"""What the calibration scripts share: a default-preset run context and one JSON line per point."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from critiquelab.experiments import get_experiment
from critiquelab.experiments.runner import make_context
from critiquelab.experiments.spec import RunContext


def default_context(experiment: str, work: Path | None = None) -> RunContext:
    """The experiment's default preset, run in `work` (a fresh temporary directory if None)."""
    work = work or Path(tempfile.mkdtemp(prefix=f"{experiment}-calib-"))
    return make_context(get_experiment(experiment), "default", 1, work, None, progress=False)


def emit(out: Path, row: dict) -> None:
    """Append a point to the JSON-lines file and show it."""
    with out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
