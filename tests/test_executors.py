"""Executors: cells in worker processes, on a local Ray instance and through submitit give
every cell the same scores as one process; the thread budget follows the free cores."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from critiquelab.errors import UsageError
from critiquelab.experiments import get_experiment
from critiquelab.experiments.executors import run_cells
from critiquelab.experiments.runner import make_context, run_experiment
from critiquelab.threads import THREADS_ENV, busy_cores, thread_budget, usable_cores

# sos has no stage 0; a small budget and short answers keep each of its 2 cells to seconds
CHEAP = {"train": {"token_budget": 3000, "learning_rates": (3e-3,), "batch_size": 16,
                   "max_length": 512}, "max_new_tokens": 48}


def _run(tmp_path, name: str, **ctx_fields) -> dict[str, dict]:
    exp = get_experiment("sos")
    ctx = make_context(exp, "smoke", 1, tmp_path / name, tmp_path / "cache", progress=False,
                       overrides=CHEAP)
    for key, value in ctx_fields.items():
        setattr(ctx, key, value)
    run_experiment(exp, ctx)
    cells = (ctx.out_dir / "cells").glob("*.json")  # not the .generations.jsonl beside them
    return {p.name: json.loads(p.read_text())["scores"] for p in cells}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv(THREADS_ENV, "1")  # equal thread counts: equal floating point
    return _run(tmp_path_factory.mktemp("seq"), "seq", workers=1)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_worker_processes_give_the_same_cells(sequential, tmp_path):
    cells = _run(tmp_path, "workers", workers=2)
    assert len(cells) == 2 and cells == sequential


def test_ray_gives_the_same_cells(sequential, tmp_path):
    assert _run(tmp_path, "ray", executor="ray") == sequential


def test_submitit_gives_the_same_cells(sequential, tmp_path):
    # submitit's debug cluster runs the jobs here, as SLURM would
    got = _run(tmp_path, "slurm", executor="slurm", executor_options={"cluster": "debug"})
    assert got == sequential


def test_bad_executor_or_workers_is_a_usage_error(tmp_path):
    exp = get_experiment("sos")
    ctx = make_context(exp, "smoke", 1, tmp_path / "o", tmp_path / "c", progress=False)
    ctx.executor = "mpi"
    with pytest.raises(UsageError, match="unknown executor 'mpi'"):
        run_cells(exp, ctx, [("optimal-path", 0)])
    ctx.executor, ctx.workers = "local", -1
    with pytest.raises(UsageError, match="--workers must be 0"):
        run_cells(exp, ctx, [("optimal-path", 0)])


def test_thread_budget_splits_the_free_cores(monkeypatch):
    assert 0.0 <= busy_cores(0.05) <= usable_cores() + 0.5
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr("critiquelab.threads.busy_cores", lambda: 0.0)
    assert thread_budget(1) == usable_cores()
    assert thread_budget(usable_cores() * 4) == 1
    monkeypatch.setattr("critiquelab.threads.busy_cores", lambda: float(usable_cores()))
    assert thread_budget(1) == 1  # a fully busy machine still gets one thread
    monkeypatch.setenv(THREADS_ENV, "3")
    assert thread_budget(2) == 3


ORPHAN = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from critiquelab.experiments.executors import exit_with_parent

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=exit_with_parent,
                               initargs=(os.getpid(),))
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 600)
    time.sleep(1)
    os._exit(0)  # as a killed run: no shutdown, the worker mid-cell
"""


def test_a_worker_ends_when_its_run_is_killed(tmp_path):
    """The worker holds the run's stdout: reading it to the end returns only once the worker
    has exited (an orphan that went on computing would hold it for the 600 s cell)."""
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and int(r.stdout.split()[0]) > 0, r.stderr[-2000:]
