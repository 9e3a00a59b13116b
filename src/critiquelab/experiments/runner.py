"""The one runner: every (arm, seed) cell of an experiment, resumable, then aggregate and report."""

from __future__ import annotations

import json
import os
import platform
from collections import defaultdict
from pathlib import Path

from critiquelab.errors import UsageError
from critiquelab.evaluation.stats import bootstrap_ci, paired_difference
from critiquelab.experiments.spec import CellResult, Experiment, RunContext
from critiquelab.io import atomic_write_json, ensure_writable_dir, read_json
from critiquelab.reporting import console, write_report


def default_cache_dir() -> Path:
    return Path(os.environ.get("CRITIQUELAB_CACHE", Path.home() / ".cache" / "critiquelab"))


def make_context(exp: Experiment, preset: str, seeds: int | None, out_dir: Path,
                 cache_dir: Path | None = None, progress: bool = True,
                 overrides: dict | None = None) -> RunContext:
    """Validate the request and build the run context (UsageError on bad input)."""
    if preset not in exp.presets:
        raise UsageError(f"unknown preset '{preset}' for experiment '{exp.name}' "
                         f"(known: {', '.join(exp.presets)})")
    n = exp.default_seeds if seeds is None else seeds
    if n < 1:
        raise UsageError(f"--seeds must be at least 1, got {n}")
    params = {**exp.presets[preset], **(overrides or {})}
    return RunContext(preset, params, list(range(n)), ensure_writable_dir(out_dir),
                      ensure_writable_dir(cache_dir or default_cache_dir()), progress)


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


_STATES: dict[tuple[str, str], object] = {}


def shared_state(exp: Experiment, ctx: RunContext) -> object:
    """exp.setup(ctx), once per process and run directory (worker processes call it too)."""
    key = (exp.name, str(ctx.out_dir))
    if key not in _STATES:
        _STATES[key] = exp.setup(ctx)
    return _STATES[key]


def compute_cell(experiment: Experiment | str, ctx: RunContext, arm: str, seed: int) -> None:
    """Train and evaluate one cell and store it atomically; the unit every executor runs.
    Top-level and callable by name, so a worker process, Ray or SLURM can run it."""
    from critiquelab.experiments import get_experiment

    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    state = shared_state(exp, ctx)
    console.log(f"[bold]{exp.name}[/]: arm [cyan]{arm}[/], seed {seed}")
    atomic_write_json(cell_path(ctx, arm, seed), exp.run_cell(ctx, state, arm, seed).to_dict())


def run_experiment(exp: Experiment, ctx: RunContext) -> dict:
    """Run every missing cell (seed-major, so a partial run covers whole seeds), then report."""
    from critiquelab.experiments.executors import run_cells

    _check_manifest(exp, ctx)
    shared_state(exp, ctx)  # builds shared artefacts (a cached base) once, before any worker
    todo = [(arm, seed) for seed in ctx.seeds for arm in exp.arms
            if not cell_path(ctx, arm, seed).exists()
            and not (arm in exp.seed_invariant_arms and seed != ctx.seeds[0])]
    run_cells(exp, ctx, todo)
    cells: dict[tuple[str, int], CellResult] = {}
    for seed in ctx.seeds:
        for arm in exp.arms:
            if arm in exp.seed_invariant_arms and seed != ctx.seeds[0]:
                cells[arm, seed] = cells[arm, ctx.seeds[0]]
            else:
                cells[arm, seed] = CellResult.from_dict(_load_json(cell_path(ctx, arm, seed)))
    results = aggregate(exp, ctx, cells)
    write_report(exp, results, ctx.out_dir)
    return results


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def aggregate(exp: Experiment, ctx: RunContext, cells: dict[tuple[str, int], CellResult]) -> dict:
    """Means with 95% bootstrap CIs per arm/metric/split, paired differences, budgets."""
    arms: dict = {}
    budget: dict = {}
    curves: dict = {}
    by_group: dict = {}
    for arm in exp.arms:
        runs = [cells[arm, s] for s in ctx.seeds]
        arms[arm] = {m: {sp: bootstrap_ci([r.scores[m][sp] for r in runs])
                         for sp in runs[0].scores.get(m, {})}
                     for m in exp.metrics if m in runs[0].scores}
        keys = sorted({k for r in runs for k in r.budget})
        budget[arm] = {k: sum(r.budget.get(k, 0) for r in runs) / len(runs) for k in keys}
        curves[arm] = {name: [r.curves.get(name, []) for r in runs]
                       for name in sorted({n for r in runs for n in r.curves})}
        by_group[arm] = _by_group(runs, exp.metrics[0])
    comparisons = []
    if exp.baseline:
        for arm in exp.arms:
            if arm == exp.baseline:
                continue
            for m in arms[arm]:
                for sp in arms[arm][m]:
                    if sp not in arms[exp.baseline].get(m, {}):
                        continue
                    a = [cells[arm, s].scores[m][sp] for s in ctx.seeds]
                    b = [cells[exp.baseline, s].scores[m][sp] for s in ctx.seeds]
                    comparisons.append({"arm": arm, "baseline": exp.baseline, "metric": m,
                                        "split": sp, **paired_difference(a, b)})
    results = {
        "experiment": exp.name,
        "title": exp.title,
        "question": exp.question,
        "preset": ctx.preset_name,
        "primary_metric": exp.metrics[0],
        "params": ctx.params,
        "seeds": ctx.seeds,
        "arms": arms,
        "comparisons": comparisons,
        "budget": budget,
        "by_difficulty": by_group,
        "curves": curves,
        "extra": {arm: [cells[arm, s].extra for s in ctx.seeds] for arm in exp.arms},
        "versions": versions(),
    }
    results["conclusions"] = exp.conclusions(results)
    atomic_write_json(ctx.out_dir / "results.json", results)
    return results


def _by_group(runs: list[CellResult], metric: str) -> dict:
    """The primary metric per split and group (difficulty), pooled over seeds."""
    out: dict = {}
    for sp, groups in runs[0].groups.items():
        acc: dict[int, list[float]] = defaultdict(list)
        for r in runs:
            for g, score in zip(groups, r.scores.get(metric, {}).get(sp, []),
                                strict=False):
                acc[g].append(score)
        out[sp] = {str(g): sum(v) / len(v) for g, v in sorted(acc.items())}
    return out


def versions() -> dict:
    """Library versions and the machine, for the record."""
    from importlib.metadata import PackageNotFoundError, version

    from critiquelab.training.precision import describe_precision

    out = {"python": platform.python_version(), "machine": platform.machine(),
           "cpus": os.cpu_count(), "precision": describe_precision()}
    for pkg in ("critiquelab", "torch", "transformers", "trl", "peft", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
