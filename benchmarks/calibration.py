"""What the calibration scripts share: a default-preset run context, problems no split has
seen, and one JSON line per point."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections.abc import Iterable
from pathlib import Path

from critiquelab.data.splits import SplitSpec, generate_problems
from critiquelab.experiments import get_experiment
from critiquelab.experiments.runner import make_context
from critiquelab.experiments.spec import RunContext
from critiquelab.worlds import Problem, World


def default_context(experiment: str, work: Path | None = None) -> RunContext:
    """The experiment's default preset, run in `work` (a fresh temporary directory if None)."""
    work = work or Path(tempfile.mkdtemp(prefix=f"{experiment}-calib-"))
    return make_context(get_experiment(experiment), "default", 1, work, None, progress=False)


def unseen(world: World, splits: dict[str, list[Problem]], spec: SplitSpec, rng: random.Random,
           also: Iterable[Problem] = ()) -> list[Problem]:
    """Problems drawn after every split, sharing no problem and no computation signature with
    any of them (nor a problem with `also`), so a probe never reads a split's item."""
    taken = {q.id for ps in splits.values() for q in ps} | {q.id for q in also}
    signatures = {world.signature(q) for ps in splits.values() for q in ps}
    return generate_problems(world, spec, rng, exclude=taken, signatures=signatures)


def emit(out: Path, row: dict) -> None:
    """Append a point to the JSON-lines file and show it."""
    with out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def add_gate_run(ap: argparse.ArgumentParser) -> None:
    """--run: the cft-vs-sft results.json whose `sft-raw` gate gives a headroom's resolution."""
    ap.add_argument("--run", type=Path, default=Path("docs/results/cft-vs-sft.json"),
                    help="a cft-vs-sft results.json whose sft-raw gate gives the resolution")


def sft_raw_half_width(run_path: Path) -> tuple[float, str | None]:
    """The half-width of the 95% CI of `sft-raw`'s gate margin in a run, and the run's commit."""
    run = json.loads(run_path.read_text())
    lo, hi = run["validity"]["sft-raw"]["difference"]["ci95"]
    return (hi - lo) / 2, run.get("commit")
