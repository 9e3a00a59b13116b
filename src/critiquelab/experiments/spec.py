"""The declarative shape of an experiment: arms as data x seeds x presets, the comparisons the
runner computes, and what a cell returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Gate:
    """What an arm must beat on validation for its comparisons to count as findings.

    reference: "trivial" (the metric's trivial baseline on validation), "arm:<name>" (that
    arm's validation value), "entry" (the same cell's model as it entered its last stage,
    stored as `<metric>@entry` in `validation` and `validation_items`: an RL stage or a
    self-training loop must improve the model it was given) or "start" (the first quarter of
    the cell's `metric` curve, which the last quarter must beat: RL rewards, SRL similarity).
    """

    metric: str
    reference: str


# Held-out fit of a trained arm to its own training distribution: mean log-probability per
# loss-bearing token of records drawn as its training records are but on validation problems,
# stored with its `entry` value (the model the arm started from). Reported for every chain
# fine-tune; the gate of the imitation and CFT arms (chain_common.FIT_GATE).
OBJECTIVE_FIT = "objective_logprob"
FIT_UNIT = "nats/token"


def entry_key(metric: str) -> str:
    """Where a cell stores `metric` of the model that entered its last stage (gate "entry")."""
    return f"{metric}@entry"


@dataclass(frozen=True)
class Arm:
    """One arm as data: what it trains on, for which objective, with which trainer, and the
    gate that says whether it learned that objective."""

    name: str
    data: str = "none"  # key of the experiment's record builders; "none" trains nothing
    objective: str = "none"  # what the training signal teaches: solve | critique | reward | ...
    trainer: str = "none"  # none | sft | rl | srl | pipeline
    gate: Gate | None = None

    @property
    def trained(self) -> bool:
        return self.trainer != "none"


@dataclass(frozen=True)
class Comparison:
    """arm minus baseline, paired, on the given metrics (all of the arm's when empty)."""

    arm: str
    baseline: str
    metrics: tuple[str, ...] = ()


@dataclass
class CellResult:
    """What one (arm, seed) cell measured.

    scores: metric -> split -> per-item scores (items aligned across seeds and arms).
    groups: split -> per-item group label (e.g. difficulty), for breakdown plots.
    budget: training cost (steps, examples, tokens, loss_tokens, wall_s).
    curves: named series of [x, y] points (e.g. train_loss, validation solve_accuracy).
    validation: metric -> value on the validation split (gate metrics), of the kept model.
    validation_items: metric -> that model's per-item validation scores, so a gate can ask
      for a confidence bound, not just a higher mean.
    checkpoints: [{"steps", "validation": {metric: value}, "scores": metric -> split ->
      per-item scores}] along the run, for budget curves; the kept one was picked on validation.
    generations: one dict per evaluated item (item, split, metric, prompt, output, score);
      written beside the cell as JSON lines, not inside it.
    """

    scores: dict[str, dict[str, list[float]]]
    budget: dict[str, float] = field(default_factory=dict)
    groups: dict[str, list[int]] = field(default_factory=dict)
    curves: dict[str, list[list[float]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)
    checkpoints: list[dict] = field(default_factory=list)
    generations: list[dict] = field(default_factory=list)
    validation_items: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("generations")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CellResult:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


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
    workers: int = 1  # parallel cell processes (executor "local"); 0: pick for this machine
    executor: str = "local"  # local | ray | slurm: where cells run
    executor_options: dict[str, Any] = field(default_factory=dict)  # e.g. submitit's SLURM options
    verbose: bool = False  # library logging at info level instead of warning
    arms: tuple[str, ...] = ()  # the arms to run (all when empty)

    def work_dir(self, *parts: str) -> Path:
        path = self.out_dir.joinpath("work", *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def bases(self) -> int:
        """How many independently pretrained bases the seeds span (seed k uses base k mod N)."""
        return int(self.params.get("bases", 1))

    def base_of(self, seed: int) -> int:
        return seed % self.bases


class Experiment(ABC):
    """One experiment: subclasses declare arms, presets and metrics and run one cell."""

    name: str
    title: str
    question: str  # the question the experiment answers, one sentence
    arm_table: tuple[Arm, ...] = ()
    presets: dict[str, dict[str, Any]]
    metrics: tuple[str, ...]
    splits: tuple[str, ...]
    baseline: str | None = None  # arm every other arm is compared against by default
    seed_invariant_arms: tuple[str, ...] = ()  # arms no seed changes (run once per base)
    default_seeds: int = 3
    matching: str = "steps"  # the unit budgets are matched on: steps | tokens | none

    @property
    def arms(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arm_table)

    def arm(self, name: str) -> Arm:
        """The arm's row of the table (an experiment that only names its arms gets bare rows)."""
        return next((a for a in self.arm_table if a.name == name), Arm(name))

    def comparisons(self) -> tuple[Comparison, ...]:
        """The comparisons the runner computes; by default every arm against the baseline."""
        if not self.baseline:
            return ()
        return tuple(Comparison(a, self.baseline) for a in self.arms if a != self.baseline)

    @abstractmethod
    def setup(self, ctx: RunContext) -> Any:
        """Build what every cell shares (data, a cached base model); returns a state object."""

    @abstractmethod
    def run_cell(self, ctx: RunContext, state: Any, arm: str, seed: int) -> CellResult:
        """Train and evaluate one arm with one seed."""

    def trivial(self, ctx: RunContext, state: Any) -> dict[str, dict[str, float]]:
        """metric -> split -> the score of a trivial strategy (floors); none by default."""
        return {}

    def conclusions(self, results: dict) -> list[str]:
        """Plain sentences saying what the numbers mean; none by default."""
        return []

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        """Experiment-specific plots as (file name, caption); none by default."""
        return []
