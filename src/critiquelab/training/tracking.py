"""Experiment trackers a trainer may report to, checked before any training starts."""

from __future__ import annotations

import importlib.util

from critiquelab.errors import UsageError

# tracker -> the module it needs; "none" needs nothing
TRACKERS = {"none": None, "tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}


def check_tracker(name: str) -> str:
    """`name` if it is a known tracker whose package is installed, else a one-line UsageError."""
    if name not in TRACKERS:
        raise UsageError(f"unknown tracker '{name}': expected one of {', '.join(TRACKERS)}")
    module = TRACKERS[name]
    if module is not None and importlib.util.find_spec(module) is None:
        raise UsageError(f"--report-to {name} needs the '{module}' package: "
                         f"pip install {module}")
    return name
