"""Where cells run. Every executor calls runner.compute_cell(experiment, ctx, arm, seed), which
writes the cell's file; the out directory stays the single source of truth.

local: in this process (workers == 1) or in `workers` spawned processes, each with its own
thread budget. ray: tasks on a Ray cluster (RAY_ADDRESS, else a local instance). slurm: jobs
through submitit; ctx.executor_options go to submitit (e.g. slurm_partition, timeout_min)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from critiquelab.errors import UsageError
from critiquelab.experiments.spec import Experiment, RunContext
from critiquelab.reporting import console
from critiquelab.threads import thread_budget, usable_cores

EXECUTORS = ("local", "ray", "slurm")

Cell = tuple[str, int]


CELLS_PER_WORKER = 4  # a spawned worker's start (imports, setup) costs about one cell


def default_workers(cells: int) -> int:
    """Workers for `cells` cells here: one per free core on a CPU when each worker gets at
    least CELLS_PER_WORKER cells to pay for its start (docs/PERFORMANCE.md), one on a GPU."""
    if torch.cuda.is_available():
        return 1
    return max(1, min(cells // CELLS_PER_WORKER, thread_budget(1)))


def run_cells(experiment: Experiment, ctx: RunContext, todo: list[Cell]) -> None:
    """Compute every (arm, seed) in `todo` with ctx.executor; cells finish in any order."""
    if ctx.executor not in EXECUTORS:
        raise UsageError(f"unknown executor '{ctx.executor}': expected one of "
                         f"{', '.join(EXECUTORS)}")
    if ctx.workers < 0:
        raise UsageError(f"--workers must be 0 (pick for this machine) or more, got {ctx.workers}")
    if not todo:
        return
    run = {"local": _run_local, "ray": _run_ray, "slurm": _run_slurm}[ctx.executor]
    with cell_progress(len(todo), ctx.progress) as advance:
        run(experiment, ctx, todo, advance)


@contextmanager
def cell_progress(total: int, show: bool) -> Iterator[Callable[[], None]]:
    """A progress line over cells (k of n, ETA from the cells finished so far)."""
    if not show:
        yield lambda: None
        return
    columns = (TextColumn("cells"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
               TimeRemainingColumn(elapsed_when_finished=True))
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("cells", total=total)
        yield lambda: bar.advance(task)


def compute_cell_with_threads(name: str, ctx: RunContext, arm: str, seed: int,
                              threads: int) -> Cell:
    """runner.compute_cell on `threads` torch threads, for a worker process or a remote task."""
    from critiquelab.experiments.runner import compute_cell

    torch.set_num_threads(threads)
    compute_cell(name, ctx, arm, seed)
    return arm, seed


PARENT_POLL_S = 2.0


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end this process once `parent` is gone, so a killed run leaves no
    worker computing a cell nobody will collect (its finished cells are already on disk)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _run_local(exp: Experiment, ctx: RunContext, todo: list[Cell],
               advance: Callable[[], None]) -> None:
    from critiquelab.experiments.runner import compute_cell

    workers = min(ctx.workers or default_workers(len(todo)), len(todo))
    threads = thread_budget(workers)
    if workers == 1:
        torch.set_num_threads(threads)
        for arm, seed in todo:
            compute_cell(exp, ctx, arm, seed)
            advance()
        return
    console.log(f"{len(todo)} cells on {workers} worker processes x {threads} thread(s)")
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(compute_cell_with_threads, exp.name, ctx, arm, seed, threads)
                   for arm, seed in todo]
        for future in as_completed(futures):
            future.result()  # a failed cell stops the run; finished cells are kept
            advance()


def _run_ray(exp: Experiment, ctx: RunContext, todo: list[Cell],
             advance: Callable[[], None]) -> None:
    ray = _import_optional("ray")
    started = not ray.is_initialized()
    if started:  # RAY_ADDRESS joins a running cluster; without it, a local instance
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                 log_to_driver=ctx.verbose, num_cpus=None if os.environ.get("RAY_ADDRESS")
                 else usable_cores())
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(compute_cell_with_threads)
        pending = [task.remote(exp.name, ctx, arm, seed, 1) for arm, seed in todo]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            ray.get(done)
            advance()
    finally:
        if started:
            ray.shutdown()


def _run_slurm(exp: Experiment, ctx: RunContext, todo: list[Cell],
               advance: Callable[[], None]) -> None:
    submitit = _import_optional("submitit")
    options = dict(ctx.executor_options)
    cluster = options.pop("cluster", None)  # "local" or "debug" run without SLURM (tests)
    executor = submitit.AutoExecutor(folder=ctx.out_dir / "slurm", cluster=cluster)
    threads = int(options.get("cpus_per_task", 1))
    executor.update_parameters(**{"cpus_per_task": threads, "timeout_min": 60, **options})
    jobs = [executor.submit(compute_cell_with_threads, exp.name, ctx, arm, seed, threads)
            for arm, seed in todo]
    pending = list(jobs)
    while pending:
        finished = [j for j in pending if j.done()]
        for job in finished:
            job.result()  # raises the cell's error, with its log's path
            pending.remove(job)
            advance()
        if pending and not finished:
            time.sleep(1.0)


def _import_optional(name: str):
    try:
        return __import__(name)
    except ImportError:
        raise UsageError(f"--executor {name if name == 'ray' else 'slurm'} needs the "
                         f"'{name}' package: pip install 'critiquelab[cluster]'") from None
