"""The one fine-tune of an arm: a step-matched budget, validation at checkpoints along the run,
the checkpoint picked on validation, and the test scores at every checkpoint for budget curves."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from critiquelab.errors import UsageError
from critiquelab.evaluation.stats import paired_difference
from critiquelab.experiments.aggregate import GATE_TOLERANCE
from critiquelab.experiments.spec import OBJECTIVE_FIT, RunContext, entry_key
from critiquelab.io import atomic_write_json
from critiquelab.models import load_model, save_model
from critiquelab.training import TrainConfig, record_logprobs, train

SCHEDULES = ("constant", "linear", "cosine")


def check_schedule(name: str) -> None:
    """A fine-tuning schedule the arms can be checkpointed along (UsageError otherwise)."""
    if name not in SCHEDULES:
        raise UsageError(f"unknown finetune.lr_scheduler '{name}' (known: {', '.join(SCHEDULES)})")


@dataclass(frozen=True)
class FinetuneSpec:
    """A preset's `finetune` group, typed: optimizer steps at a batch size (so equal examples
    for every arm), the learning rate and its schedule over the whole budget, and where along
    the run validation looks."""

    steps: int
    learning_rate: float
    batch_size: int
    checkpoints: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    lr_scheduler: str = "constant"  # or "linear" / "cosine": decay to 0 at the last step

    @classmethod
    def of(cls, group: dict[str, Any]) -> FinetuneSpec:
        """Validate a preset's `finetune` group (UsageError naming the bad key)."""
        known = {f.name for f in fields(cls)}
        for key in group:
            if key not in known:
                raise UsageError(f"unknown setting 'finetune.{key}' (known: {', '.join(known)})")
        spec = cls(**{**group, "checkpoints": tuple(group.get("checkpoints",
                                                              cls.checkpoints))})
        if spec.steps < 1 or spec.batch_size < 1 or spec.learning_rate <= 0:
            raise UsageError("finetune.steps, finetune.batch_size and finetune.learning_rate "
                             "must be positive")
        if not spec.checkpoints or not all(0 < f <= 1 for f in spec.checkpoints):
            raise UsageError("finetune.checkpoints must be fractions in (0, 1]")
        check_schedule(spec.lr_scheduler)
        return spec

    @property
    def examples(self) -> int:
        return self.steps * self.batch_size

    def checkpoint_steps(self) -> list[int]:
        """Distinct steps at which validation looks; the last is always the full budget."""
        return sorted({max(1, round(f * self.steps)) for f in self.checkpoints} | {self.steps})


# (model, tokenizer) -> {"validation": {...}, "scores": {...}, optionally "validation_items"}
Probe = Callable[[Any, Any], dict]


@dataclass
class Finetuned:
    """The model at the checkpoint validation picked, what the run cost, and its curves."""

    model: Any
    tokenizer: Any
    budget: dict[str, float]
    curves: dict[str, list[list[float]]]
    checkpoints: list[dict] = field(default_factory=list)
    picked_steps: int = 0
    outputs: dict[str, list[str]] = field(default_factory=dict)  # the picked probe's, by split
    validation_items: dict[str, list[float]] = field(default_factory=dict)  # the picked probe's
    entry_fit: list[float] = field(default_factory=list)  # the starting model's held-out fit

    @property
    def validation(self) -> dict[str, float]:
        """The picked probe's validation means, with the starting model's held-out fit."""
        picked = next(c["validation"] for c in self.checkpoints if c["steps"] == self.picked_steps)
        if not self.entry_fit:
            return picked
        return {**picked, entry_key(OBJECTIVE_FIT): sum(self.entry_fit) / len(self.entry_fit)}


def fit_resolved(checkpoint: dict, entry: list[float]) -> bool:
    """Whether a checkpoint fits the held-out records better than the model it started from,
    by a 95% CI of the paired margin above 0 (the gate's test, on one cell)."""
    diff = paired_difference([checkpoint["validation_items"][OBJECTIVE_FIT]], [entry])
    return diff["ci95"][0] > GATE_TOLERANCE


def with_fit(probe: Probe, heldout: list[dict]) -> Probe:
    """`probe` that also measures the fit to the held-out records (OBJECTIVE_FIT, per record)."""
    def run(model, tokenizer) -> dict:
        got = probe(model, tokenizer)
        fit = record_logprobs(model, tokenizer, heldout)
        got["validation_items"] = {**got.get("validation_items", {}), OBJECTIVE_FIT: fit}
        got["validation"] = {**got["validation"], OBJECTIVE_FIT: sum(fit) / len(fit)}
        return got
    return run


def take_examples(records: Iterable[dict], n: int, arm: str) -> list[dict]:
    """The first n records of a stream: the step-matched budget (UsageError if it runs dry)."""
    out = list(islice(records, n))
    if len(out) < n:
        raise UsageError(f"arm '{arm}' has only {len(out)} training records for a budget of {n} "
                         "examples; lower finetune.steps or raise n_train")
    return out


def finetune(ctx: RunContext, experiment: str, arm: str, seed: int, model, tokenizer,
             records: list[dict], spec: FinetuneSpec, probe: Probe, select: str,
             work: Path | None = None, learned: Callable[[dict], bool] | None = None,
             expects: tuple[str, ...] = (), heldout: list[dict] | None = None,
             fit_gate: bool = False) -> Finetuned:
    """Train `model` on `records` along one spec.steps schedule, stopping at each checkpoint to
    probe validation and test (the next chunk resumes the same schedule); every chunk is
    stored, so a killed cell resumes, and a stored probe lacking a validation item in
    `expects` is redone. `model` ends holding the checkpoint best on `select` (earliest on
    ties) among those that `learned` their own objective (all of them when none did).
    With `heldout` records every probe measures the fit to them, beside the starting model's
    (`entry_fit`); `fit_gate` makes "learned" mean fitting them better than it."""
    work = work or ctx.work_dir(f"{arm}__seed{seed}")
    entry_fit = record_logprobs(model, tokenizer, heldout) if heldout else []
    if heldout:
        probe, expects = with_fit(probe, heldout), (*expects, OBJECTIVE_FIT)
    if fit_gate and entry_fit:
        learned = partial(fit_resolved, entry=entry_fit)
    steps = spec.checkpoint_steps()
    gaps = [b - a for a, b in zip([0, *steps], steps, strict=False)]
    checkpoints, wall, result = [], 0.0, None
    for step in steps:
        done = work / f"probe-{step}.json"
        if done.is_file():
            entry = json.loads(done.read_text())
            items = entry.get("validation_items")
            if items is None or any(k not in items for k in expects):  # probed by older code
                saved, _ = load_model(str(work / f"model-{step}"), device=str(model.device))
                entry.update(probe(saved, tokenizer))
                atomic_write_json(done, entry)
            checkpoints.append(entry)
            continue
        cfg = TrainConfig(learning_rate=spec.learning_rate, max_steps=spec.steps, stop_step=step,
                          batch_size=spec.batch_size, lr_scheduler=spec.lr_scheduler,
                          warmup_ratio=0.0,
                          save_steps=min(gaps), logging_steps=1, seed=seed,
                          report_to=ctx.report_to, run_name=f"{experiment}/{arm}/seed{seed}")
        result = train(model, tokenizer, records, cfg, work / "trainer", progress=ctx.progress)
        wall += result.wall_s
        save_model(model, tokenizer, work / f"model-{step}")
        entry = {"steps": step, "tokens": result.tokens, "loss_tokens": result.loss_tokens,
                 "loss_curve": [list(p) for p in result.loss_curve], **probe(model, tokenizer)}
        atomic_write_json(done, entry)
        checkpoints.append(entry)
    last = checkpoints[-1]
    eligible = [c for c in checkpoints if learned is None or learned(c)] or checkpoints
    best = max(eligible, key=lambda c: (c["validation"][select], -c["steps"]))
    if best["steps"] != last["steps"] or result is None:
        picked, _ = load_model(str(work / f"model-{best['steps']}"), device=str(model.device))
        model.load_state_dict(picked.state_dict())
    budget = {"steps": last["steps"], "examples": len(records), "tokens": last["tokens"],
              "loss_tokens": last["loss_tokens"], "wall_s": wall,
              "picked_steps": best["steps"]}
    curves = {"train_loss": last["loss_curve"],
              **{f"validation_{m}": [[c["steps"], c["validation"][m]] for c in checkpoints]
                 for m in last["validation"]}}
    kept = [{k: c[k] for k in ("steps", "validation", "scores")} for c in checkpoints]
    items = {**best.get("validation_items", {}),
             **({entry_key(OBJECTIVE_FIT): entry_fit} if entry_fit else {})}
    return Finetuned(model, tokenizer, budget, curves, kept, best["steps"],
                     best.get("outputs", {}), items, entry_fit)
