"""lm-evaluation-harness hooks for critiquelab's worlds: seeded problems as a dataset, and
completions graded by the world's own verifier (line by line, not by regex).

Loaded by lm_eval from this directory (`--include_path`, see `critiquelab configs --lm-eval`);
needs critiquelab installed.
"""

from __future__ import annotations

import random

import datasets

from critiquelab.formats import COMPACT
from critiquelab.worlds import get_world

N_PROBLEMS = 200
SEED = 20_240_601  # fixed: every model is evaluated on the same problems


def _dataset(world_name: str, n: int = N_PROBLEMS, seed: int = SEED) -> datasets.DatasetDict:
    world = get_world(world_name)
    rng = random.Random(f"lm-eval:{world_name}:{seed}")
    levels = world.difficulties()
    rows = []
    for _ in range(n):
        p = world.generate(rng, rng.choice(levels))
        rows.append({"id": p.id, "prompt": COMPACT.solve_prompt(p.text), "problem": p.text,
                     "answer": p.answer, "difficulty": p.difficulty, "world": world_name})
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def chain_dataset(**metadata) -> datasets.DatasetDict:
    """The chain world's problems, every difficulty (`--metadata '{"n": 50}'` for fewer)."""
    return _dataset("chain", int(metadata.get("n", N_PROBLEMS)), int(metadata.get("seed", SEED)))


def countdown_dataset(**metadata) -> datasets.DatasetDict:
    """Countdown problems (reach the target from the numbers)."""
    return _dataset("countdown", int(metadata.get("n", N_PROBLEMS)),
                    int(metadata.get("seed", SEED)))


def process_results(doc: dict, results: list[str]) -> dict:
    """acc: the final answer is right; format: the completion parses as a solution."""
    world = get_world(doc["world"])
    check = world.verify(world.parse_problem(doc["problem"]), results[0])
    return {"acc": float(check.answer_correct), "format": float(check.parsed)}
