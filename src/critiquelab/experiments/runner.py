"""The one runner: every (arm, seed) cell of an experiment, resumable and checked, then
aggregate and report."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from critiquelab.errors import UsageError
from critiquelab.experiments.aggregate import aggregate
from critiquelab.experiments.config import resolve
from critiquelab.experiments.finetune import check_schedule
from critiquelab.experiments.spec import CellResult, Experiment, RunContext, entry_key
from critiquelab.io import (
    atomic_write_json,
    ensure_writable_dir,
    read_json,
    stable_hash,
    write_jsonl,
)
from critiquelab.reporting import console, write_report


def default_cache_dir() -> Path:
    return Path(os.environ.get("CRITIQUELAB_CACHE", Path.home() / ".cache" / "critiquelab"))


def make_context(exp: Experiment, preset: str, seeds: int | None, out_dir: Path,
                 cache_dir: Path | None = None, progress: bool = True,
                 overrides: dict | None = None, config: dict | None = None,
                 arms: list[str] | None = None) -> RunContext:
    """Validate the request (preset, config file and --set overrides, arms) and build the run
    context (UsageError on bad input)."""
    if preset not in exp.presets:
        raise UsageError(f"unknown preset '{preset}' for experiment '{exp.name}' "
                         f"(known: {', '.join(exp.presets)})")
    n = exp.default_seeds if seeds is None else seeds
    if n < 1:
        raise UsageError(f"--seeds must be at least 1, got {n}")
    params = resolve(exp.presets, preset, config, overrides)
    if isinstance(params.get("finetune"), dict):  # fail now, not in a cell an hour in
        check_schedule(params["finetune"].get("lr_scheduler", "constant"))
    ctx = RunContext(preset, params, list(range(n)), ensure_writable_dir(out_dir),
                     ensure_writable_dir(cache_dir or default_cache_dir()), progress,
                     arms=selected_arms(exp, arms))
    if not 1 <= ctx.bases <= n:
        raise UsageError(f"bases must be between 1 and the number of seeds ({n}), got "
                         f"{ctx.bases}")
    return ctx


def selected_arms(exp: Experiment, names: list[str] | None) -> tuple[str, ...]:
    """--arms, plus every arm a selected arm's gate refers to (all arms when none given)."""
    if not names:
        return exp.arms
    import difflib

    for name in names:
        if name not in exp.arms:
            close = difflib.get_close_matches(name, exp.arms, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"unknown arm '{name}' for '{exp.name}'{hint}")
    refs = {exp.arm(a).gate.reference.removeprefix("arm:") for a in names
            if exp.arm(a).gate and exp.arm(a).gate.reference.startswith("arm:")}
    return tuple(a for a in exp.arms if a in names or a in refs)


def _check_manifest(exp: Experiment, ctx: RunContext) -> None:
    """Refuse to resume into a directory that holds a different experiment or preset."""
    path = ctx.out_dir / "run.json"
    manifest = json.loads(json.dumps(  # tuples become lists, as they come back from disk
        {"experiment": exp.name, "preset": ctx.preset_name, "params": ctx.params}))
    if path.exists():
        old = read_json(path)  # a damaged run.json is one line of error, not a traceback
        if not isinstance(old, dict):
            raise UsageError(f"{path}: not a run manifest; use another --out")
        if {k: old.get(k) for k in manifest} != manifest:
            raise UsageError(f"{ctx.out_dir} holds a run of '{old.get('experiment')}' preset "
                             f"'{old.get('preset')}' with other settings; use another --out")
    atomic_write_json(path, manifest)


def cell_path(ctx: RunContext, arm: str, seed: int) -> Path:
    return ctx.out_dir / "cells" / f"{arm}__seed{seed}.json"


def cell_key(exp_name: str, ctx: RunContext, arm: str, seed: int) -> str:
    """What a cell file must carry to be this run's: experiment, resolved params, arm, seed."""
    return stable_hash({"experiment": exp_name, "params": ctx.params, "arm": arm,
                        "seed": seed})


_STATES: dict[tuple[str, str], object] = {}


def shared_state(exp: Experiment, ctx: RunContext) -> object:
    """exp.setup(ctx), once per process and run directory (worker processes call it too)."""
    key = (exp.name, str(ctx.out_dir))
    if key not in _STATES:
        _STATES[key] = exp.setup(ctx)
    return _STATES[key]


def compute_cell(experiment: Experiment | str, ctx: RunContext, arm: str, seed: int) -> None:
    """Train and evaluate one cell and store it atomically, generations first (the cell file
    marks it complete); the unit every executor runs. Top-level and callable by name, so a
    worker process, Ray or SLURM can run it."""
    from critiquelab.experiments import get_experiment

    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    state = shared_state(exp, ctx)
    console.log(f"[bold]{exp.name}[/]: arm [cyan]{arm}[/], seed {seed}")
    cell = exp.run_cell(ctx, state, arm, seed)
    path = cell_path(ctx, arm, seed)
    write_jsonl(path.with_suffix(".generations.jsonl"), cell.generations)
    atomic_write_json(path, {**cell.to_dict(), "key": cell_key(exp.name, ctx, arm, seed)})


def gate_inputs_missing(exp: Experiment, arm: str, data: dict) -> list[str]:
    """What a gate reads from this cell but the cell lacks: written by older code, it would
    otherwise fail (or pass) its gate on a default of 0 instead of being recomputed."""
    needs = []
    own = exp.arm(arm).gate
    if own and own.reference == "start":
        needs.append(("curves", own.metric))
    elif own:
        needs.append(("validation", own.metric))
        if own.reference == "entry":
            needs.append(("validation", entry_key(own.metric)))
    needs += [("validation", exp.arm(a).gate.metric) for a in exp.arms
              if exp.arm(a).gate and exp.arm(a).gate.reference == f"arm:{arm}"]
    return sorted({f"{where}.{metric}" for where, metric in needs
                   if metric not in (data.get(where) or {})})


def load_cell(exp: Experiment, ctx: RunContext, arm: str, seed: int) -> CellResult | None:
    """The stored cell, or None when it is missing; an unreadable, incomplete or foreign one
    is moved to cells/quarantine/ (and recorded there) so it gets recomputed."""
    path = cell_path(ctx, arm, seed)
    if not path.exists():
        return None
    problem = None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "scores" not in data:
            problem = "incomplete"
        elif data.get("key") != cell_key(exp.name, ctx, arm, seed):
            problem = "foreign (another experiment, preset or settings)"
        elif missing := gate_inputs_missing(exp, arm, data):
            problem = f"stale (lacks {', '.join(missing)}, which a gate reads)"
        else:
            return CellResult.from_dict(data)
    except (OSError, ValueError, TypeError):
        problem = "unreadable"
    quarantine = ctx.out_dir / "cells" / "quarantine"
    quarantine.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path.replace(quarantine / f"{path.stem}.{stamp}.json")
    log = quarantine / "quarantined.json"
    entries = json.loads(log.read_text()) if log.exists() else []
    atomic_write_json(log, [*entries, {"cell": path.name, "reason": problem, "at": stamp}])
    console.log(f"[yellow]quarantined {path.name}: {problem}; recomputing it[/]")
    return None


def owner_seed(exp: Experiment, ctx: RunContext, arm: str, seed: int) -> int:
    """The seed whose cell holds this one: a seed-invariant arm runs once per base."""
    return ctx.base_of(seed) if arm in exp.seed_invariant_arms else seed


def run_experiment(exp: Experiment, ctx: RunContext) -> dict:
    """Run every missing cell (seed-major, so a partial run covers whole seeds), then report."""
    from critiquelab.experiments.executors import run_cells

    _check_manifest(exp, ctx)
    state = shared_state(exp, ctx)  # builds shared artefacts (a cached base) once
    arms = ctx.arms or exp.arms
    todo = [(arm, seed) for seed in ctx.seeds for arm in arms
            if owner_seed(exp, ctx, arm, seed) == seed and load_cell(exp, ctx, arm, seed) is None]
    run_cells(exp, ctx, todo)
    cells: dict[tuple[str, int], CellResult] = {}
    for seed in ctx.seeds:
        for arm in arms:
            cell = load_cell(exp, ctx, arm, owner_seed(exp, ctx, arm, seed))
            if cell is None:
                raise UsageError(f"cell {arm} seed {seed} is missing after the run")
            cells[arm, seed] = cell
    log = ctx.out_dir / "cells" / "quarantine" / "quarantined.json"
    quarantined = json.loads(log.read_text()) if log.exists() else []
    results = aggregate(exp, ctx, cells, exp.trivial(ctx, state), quarantined)
    write_report(exp, results, ctx.out_dir)
    return results
