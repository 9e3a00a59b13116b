"""Run every experiment the claims need (resumable, one directory each), then assess them."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from critiquelab.claims.assess import Run, assess
from critiquelab.claims.catalog import claim_arms, claim_experiments
from critiquelab.errors import UsageError
from critiquelab.experiments import get_experiment
from critiquelab.experiments.runner import make_context, run_experiment

SMOKE_SEEDS = 1  # smoke checks the pipeline, not the claims: one seed and only the arms
# the checks compare (plus those their gates refer to) keep it under 5 minutes


def run_dir(out: Path, experiment: str, size: str | None) -> Path:
    """out/<experiment>, or out/<experiment>/<size> when sizes are asked for."""
    return out / experiment if size is None else out / experiment / size


def run_one(experiment: str, preset: str, size: str | None, out: Path, seeds: int | None,
            workers: int, cache: Path | None, progress: bool, verbose: bool = False) -> Run:
    """One experiment at one size through the resumable runner; a finished one is reused."""
    exp = get_experiment(experiment)
    if preset not in exp.presets:
        return Run(experiment, size or "-", preset,
                   missing=f"{experiment} has no {preset} preset")
    params = exp.presets[preset]
    if size is not None and "model" not in params:
        return Run(experiment, size, preset, missing=f"{experiment} takes no model size")
    smoke = preset == "smoke"
    if seeds is None and smoke:
        seeds = SMOKE_SEEDS
    ctx = make_context(exp, preset, seeds, run_dir(out, experiment, size), cache,
                       progress=progress, overrides={"model": size} if size else None,
                       arms=claim_arms(experiment) if smoke else None)
    ctx.workers, ctx.verbose = workers, verbose
    results = run_experiment(exp, ctx)
    return Run(experiment, size or str(params.get("model", "-")), preset, results)


def run_claims(preset: str, out: Path, sizes: list[str] | None = None,
               experiments: list[str] | None = None, seeds: int | None = None,
               workers: int = 1, cache: Path | None = None, progress: bool = True,
               verbose: bool = False) -> dict:
    """claims.json for the preset; `experiments` limits what runs (the others are withheld).

    The first experiment runs alone at every size (its cells `workers` at a time), so the
    chain base the other chain experiments share is built once per size; then up to
    `workers` experiments run at a time, each in its own process.
    """
    needed = claim_experiments()
    unknown = [e for e in experiments or [] if e not in needed]
    if unknown:
        raise UsageError(f"no claim needs experiment '{unknown[0]}' "
                         f"(claims need: {', '.join(needed)})")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    jobs = [(name, size) for name in needed if name in (experiments or needed)
            for size in sizes or [None]]
    done: dict[tuple[str, str | None], Run] = {}
    first = [j for j in jobs if j[0] == jobs[0][0]]  # at every size
    for name, size in jobs if workers == 1 else first:
        done[name, size] = run_one(name, preset, size, out, seeds, workers, cache, progress,
                                   verbose)
    rest = [j for j in jobs if j not in done]
    if rest:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {j: pool.submit(run_one, j[0], preset, j[1], out, seeds, 1, cache,
                                      False, verbose) for j in rest}
            done.update({j: f.result() for j, f in futures.items()})
    runs = {name: [done.get((name, size)) or
                   Run(name, size or "-", preset, missing=f"{name} not run (--only)")
                   for size in sizes or [None]] for name in needed}
    return assess(runs, preset, sizes)
