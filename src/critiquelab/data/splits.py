"""Seeded train / validation / test splits with a hash check that no test problem trains."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from critiquelab.errors import UsageError
from critiquelab.worlds.base import Problem, World

EVAL_SPLITS = ("validation", "id", "ood")


@dataclass(frozen=True)
class SplitSpec:
    """How many problems a split holds and which difficulties it draws from (uniformly)."""

    n: int
    difficulties: tuple[int, ...]


def generate_problems(world: World, spec: SplitSpec, rng: random.Random,
                      exclude: set[str] = frozenset(), max_tries: int = 50) -> list[Problem]:
    """Draw spec.n distinct problems whose ids are not in `exclude`."""
    out: list[Problem] = []
    seen = set(exclude)
    budget = spec.n * max_tries
    while len(out) < spec.n and budget > 0:
        budget -= 1
        p = world.generate(rng, rng.choice(spec.difficulties))
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    if len(out) < spec.n:
        raise UsageError(f"world '{world.name}' cannot produce {spec.n} distinct problems "
                         f"at difficulties {list(spec.difficulties)}")
    return out


def make_splits(world: World, specs: dict[str, SplitSpec], seed: int) -> dict[str, list[Problem]]:
    """Evaluation splits first, then every other split with their problems excluded."""
    splits: dict[str, list[Problem]] = {}
    held: set[str] = set()
    order = [s for s in specs if s in EVAL_SPLITS] + [s for s in specs if s not in EVAL_SPLITS]
    for i, name in enumerate(order):
        rng = random.Random(f"{seed}:{name}:{i}")
        splits[name] = generate_problems(world, specs[name], rng, exclude=held)
        held |= {p.id for p in splits[name]}
    assert_disjoint(splits)
    return splits


def assert_disjoint(splits: dict[str, Sequence[Problem]]) -> None:
    """Raise if any evaluation problem appears in a non-evaluation split (by canonical hash)."""
    evals = {p.id for name, ps in splits.items() if name in EVAL_SPLITS for p in ps}
    for name, ps in splits.items():
        if name not in EVAL_SPLITS:
            leaked = evals & {p.id for p in ps}
            if leaked:
                raise AssertionError(f"{len(leaked)} evaluation problems leaked into '{name}'")


def leaked_ids(train: Iterable[Problem], tests: Iterable[Problem]) -> set[str]:
    return {p.id for p in train} & {p.id for p in tests}
