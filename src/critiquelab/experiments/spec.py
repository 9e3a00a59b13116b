"""The declarative shape of an experiment: arms x seeds x presets, and what a cell returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CellResult:
    """What one (arm, seed) cell measured.

    scores: metric -> split -> per-item scores (items aligned across seeds and arms).
    groups: split -> per-item group label (e.g. difficulty), for breakdown plots.
    budget: training cost (tokens, loss_tokens, steps, examples, wall_s).
    curves: named series of [x, y] points (e.g. train_loss).
    """

    scores: dict[str, dict[str, list[float]]]
    budget: dict[str, float] = field(default_factory=dict)
    groups: dict[str, list[int]] = field(default_factory=dict)
    curves: dict[str, list[list[float]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CellResult:
        return cls(**d)


@dataclass
class RunContext:
    """Where a run lives and how it was asked for."""

    preset_name: str
    params: dict[str, Any]
    seeds: list[int]
    out_dir: Path
    cache_dir: Path
    progress: bool = True
    report_to: str = "none"  # none | tensorboard | wandb | trackio, passed to every trainer
    workers: int = 1  # parallel cell processes (executor "local"); 0: one per free core
    executor: str = "local"  # local | ray | slurm: where cells run
    executor_options: dict[str, Any] = field(default_factory=dict)  # e.g. submitit's SLURM options
    verbose: bool = False  # library logging at info level instead of warning

    def work_dir(self, *parts: str) -> Path:
        path = self.out_dir.joinpath("work", *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


class Experiment(ABC):
    """One experiment: subclasses declare arms, presets and metrics and run one cell."""

    name: str
    title: str
    question: str  # the question the experiment answers, one sentence
    arms: tuple[str, ...]
    presets: dict[str, dict[str, Any]]
    metrics: tuple[str, ...]
    splits: tuple[str, ...]
    baseline: str | None = None  # arm every other arm is compared against
    seed_invariant_arms: tuple[str, ...] = ()  # arms whose result no seed changes (run once)
    default_seeds: int = 3

    @abstractmethod
    def setup(self, ctx: RunContext) -> Any:
        """Build what every cell shares (data, a cached base model); returns a state object."""

    @abstractmethod
    def run_cell(self, ctx: RunContext, state: Any, arm: str, seed: int) -> CellResult:
        """Train and evaluate one arm with one seed."""

    def conclusions(self, results: dict) -> list[str]:
        """Plain sentences saying what the numbers mean; the default compares to baseline."""
        return []

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        """Experiment-specific plots as (file name, caption); none by default."""
        return []
