"""Seeded splits: evaluation problems are drawn first, and no training problem shares the
computation (the world's signature) of an evaluation problem."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from critiquelab.errors import UsageError
from critiquelab.worlds import get_world
from critiquelab.worlds.base import Problem, World

# eval: kept out of training by signature; recall: single facts that cannot be deduplicated
# (kept out by exact problem only, reported on their own); train: everything a model trains on.
ROLES = ("eval", "recall", "train")
OOD_KINDS = ("ood-length", "ood-shift")


@dataclass(frozen=True)
class SplitSpec:
    """How many problems a split holds, the difficulties it draws from (uniformly), its role,
    and the world it draws from when that differs from the shared one (a shifted split)."""

    n: int
    difficulties: tuple[int, ...]
    role: str = "train"
    world: World | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"split role must be one of {ROLES}, got {self.role!r}")


def generate_problems(world: World, spec: SplitSpec, rng: random.Random,
                      exclude: set[str] = frozenset(), max_tries: int = 50,
                      signatures: set[str] = frozenset()) -> list[Problem]:
    """Draw spec.n distinct problems whose ids are not in `exclude` and whose signatures are
    not in `signatures`, from spec.world when it has one."""
    source = spec.world or world
    out: list[Problem] = []
    seen = set(exclude)
    budget = spec.n * max_tries
    while len(out) < spec.n and budget > 0:
        budget -= 1
        try:
            p = source.generate(rng, rng.choice(spec.difficulties))
        except ValueError as e:  # a setting the world cannot meet, e.g. an unreachable depth
            raise UsageError(f"world '{world.name}': {e}") from None
        if p.id not in seen and not (signatures and source.signature(p) in signatures):
            seen.add(p.id)
            out.append(p)
    if len(out) < spec.n:
        raise UsageError(f"world '{world.name}' cannot produce {spec.n} distinct problems "
                         f"at difficulties {list(spec.difficulties)}")
    return out


def make_splits(world: World, specs: dict[str, SplitSpec], seed: int) -> dict[str, list[Problem]]:
    """Eval splits first, then recall, then training: each split avoids every problem drawn
    before it, and eval and training splits avoid every eval split's signatures."""
    splits: dict[str, list[Problem]] = {}
    ids: set[str] = set()
    signatures: set[str] = set()
    for name in sorted(specs, key=lambda s: ROLES.index(specs[s].role)):
        spec = specs[name]
        avoid = frozenset() if spec.role == "recall" else signatures
        splits[name] = generate_problems(world, spec, random.Random(f"{seed}:{name}"),
                                         exclude=ids, signatures=avoid)
        ids |= {p.id for p in splits[name]}
        if spec.role == "eval":
            signatures |= {(spec.world or world).signature(p) for p in splits[name]}
    assert_no_leak(world, specs, splits)
    return {name: splits[name] for name in specs}


def assert_no_leak(world: World, specs: Mapping[str, SplitSpec],
                   splits: Mapping[str, Sequence[Problem]]) -> None:
    """Raise if a training problem shares an eval problem's signature or a recall problem."""
    evals = [p for s in specs if specs[s].role == "eval" for p in splits[s]]
    recall = [p for s in specs if specs[s].role == "recall" for p in splits[s]]
    for name, spec in specs.items():
        if spec.role == "train":
            shared = shared_signatures(world, splits[name], evals)
            same = leaked_ids(splits[name], recall)
            if shared or same:
                raise AssertionError(f"'{name}' shares {len(shared)} computations with "
                                     f"evaluation splits and {len(same)} recall problems")


def shared_signatures(world: World, train: Iterable[Problem],
                      tests: Iterable[Problem]) -> set[str]:
    """Signatures (computations) that occur in both `train` and `tests`."""
    return {world.signature(p) for p in train} & {world.signature(p) for p in tests}


def leaked_ids(train: Iterable[Problem], tests: Iterable[Problem]) -> set[str]:
    return {p.id for p in train} & {p.id for p in tests}


def ood_spec(kind: str, n: int, world: World, config: Mapping, lengths: Sequence[int],
             options: Mapping) -> SplitSpec:
    """An out-of-distribution eval split of a named kind, relative to the trained `lengths`:
    `ood-length` is `steps` (default 1) operations longer than the longest, drawn from the world
    reconfigured by any other options (for the chain world, `depths` one longer than trained);
    `ood-shift` keeps the trained lengths and draws from the world reconfigured by `options`
    (for the chain world, e.g. more `distractors`)."""
    if kind == "ood-length":
        settings = {k: v for k, v in options.items() if k != "steps"}
        difficulty = max(lengths) + options.get("steps", 1)
        if difficulty not in world.difficulties():
            raise UsageError(f"ood-length: need a world that generates difficulty {difficulty}, "
                             f"got options {dict(options)}")
        source = get_world(world.name, **{**config, **settings}) if settings else None
        return SplitSpec(n, (difficulty,), "eval", source)
    if kind == "ood-shift":
        if not options:
            raise UsageError("ood-shift: name the world settings that shift, e.g. distractors")
        return SplitSpec(n, tuple(lengths), "eval", get_world(world.name, **{**config, **options}))
    raise UsageError(f"unknown ood split kind '{kind}' (known: {', '.join(OOD_KINDS)})")
