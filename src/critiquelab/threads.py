"""How many threads a process takes: the cores that are free now, shared among the workers, so
that a competing process costs a little time instead of stalling every parallel region."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from critiquelab.errors import UsageError

THREADS_ENV = "CRITIQUELAB_THREADS"  # a fixed count per process, overriding the policy


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs since boot, or None where /proc/stat is missing."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(interval: float = 0.25) -> float:
    """How many cores other processes keep busy, sampled over `interval` seconds while this
    process sleeps (0 where it cannot be measured)."""
    first = _cpu_times()
    time.sleep(interval)
    second = _cpu_times()
    if first is None or second is None or second[1] == first[1]:
        return 0.0
    share = (second[0] - first[0]) / (second[1] - first[1])
    return share * (os.cpu_count() or 1)


def thread_budget(workers: int = 1) -> int:
    """Threads for each of `workers` processes: the free cores split evenly, at least one."""
    fixed = os.environ.get(THREADS_ENV, "")
    if fixed:
        if not fixed.isdigit():
            raise UsageError(f"{THREADS_ENV} must be a whole number of threads, got '{fixed}'")
        return max(1, int(fixed))
    free = usable_cores() - int(busy_cores() + 0.5)
    return max(1, free // max(1, workers))


def apply_thread_budget(workers: int = 1) -> int:
    """Set torch's thread count from thread_budget(workers); returns it."""
    n = thread_budget(workers)
    torch.set_num_threads(n)
    return n
