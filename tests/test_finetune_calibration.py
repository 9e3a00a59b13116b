"""benchmarks/finetune_calibration.py can measure the held-out fit on fresh problems that no
split shares."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

from critiquelab.experiments.chain_common import PRESETS, chain_splits

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def test_fresh_fit_problems_share_no_problem_or_computation_with_any_split():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        fresh_problems = runpy.run_path(str(BENCHMARKS / "finetune_calibration.py"))[
            "fresh_problems"]
    finally:
        sys.path.remove(str(BENCHMARKS))
    p = {**PRESETS["smoke"], "id_difficulties": (1, 2, 3), "world": {
        **PRESETS["smoke"]["world"], "max_ops": 5}}
    world, splits = chain_splits(p)
    fresh = fresh_problems(SimpleNamespace(world=world, splits=splits), p, 13)
    assert len(fresh) == len({q.id for q in fresh}) == 13
    assert sorted(q.difficulty for q in fresh) == [2] * 7 + [3] * 6  # recall's length left out
    assert not {q.id for q in fresh} & {q.id for ps in splits.values() for q in ps}
    assert not ({world.signature(q) for q in fresh}
                & {world.signature(q) for ps in splits.values() for q in ps})
