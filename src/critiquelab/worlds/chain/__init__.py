"""The chain world: shuffled variable definitions, find one variable, show each operation.

    c = b * 2. a = 7. b = a + 5. d = c - a. Find d.

    b = a + 5 = 7 + 5 = 12
    c = b * 2 = 12 * 2 = 24
    d = c - a = 24 - 7 = 17
    Answer: 17

`trace="every"` writes every operation of the problem, distractors included, in dependency
order (the answer still the asked variable's value). `order="dependency"` states each
definition after those it uses (the same problems, reordered) and a solution computes the
needed operations in statement order, so finding the next line is a scan, not a sort.
`depths=(lo, hi)` keeps only problems whose longest chain of operations (what must run one
after another) is lo..hi long, so one split can be a step deeper than everything trained.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence

from critiquelab.io import stable_hash
from critiquelab.worlds import register_world
from critiquelab.worlds.base import InjectedError, Problem, StepCheck, Verification, World
from critiquelab.worlds.chain import check, inject
from critiquelab.worlds.chain.generate import ChainConfig, generate_defs
from critiquelab.worlds.chain.model import (
    computation,
    definitions,
    dependency_sorted,
    depth,
    every_order,
    make_problem,
    needed_order,
    parse_problem,
)

__all__ = ["ChainConfig", "ChainWorld"]

# What a reference solution writes: the operations the question needs (the default), or every
# operation in the problem, distractors included, so that its length is not a plan to learn.
# `signature` covers the needed operations only, so "every" is for calibration, not presets.
TRACES = ("needed", "every")
# How a problem states its definitions: shuffled (the default: a solution must find the
# dependency order) or already in it (a calibration of what finding the order costs).
ORDERS = ("shuffled", "dependency")
_DEPTH_TRIES = 1000  # draws before a difficulty is declared out of reach of the depth range


@register_world("chain")
class ChainWorld(World):
    """Arithmetic over shuffled definitions; difficulty = operations the question needs."""

    name = "chain"
    error_kinds = inject.ERROR_KINDS

    def __init__(self, max_value: int = 99, max_literal: int = 9, ops: str | Sequence[str] = "+-*",
                 distractors: int | Sequence[int] = (0, 2), min_ops: int = 1, max_ops: int = 8,
                 trace: str = "needed", order: str = "shuffled",
                 depths: int | Sequence[int] | None = None):
        self.config = ChainConfig.build(max_value, max_literal, ops, distractors, min_ops, max_ops,
                                        depths)
        if trace not in TRACES:
            raise ValueError(f"trace must be one of {', '.join(TRACES)}, got {trace!r}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
        self.trace, self.order = trace, order
        self.misconceptions: inject.Facts = {}

    def misconceived(self, share: float, seed: int | str) -> ChainWorld:
        """This world with a candidate writer that gets a fixed, seeded `share` of the
        arithmetic facts wrong wherever it meets them: a student's systematic errors, which a
        model can learn, unlike random slips. Canonical solutions and verification stay exact."""
        student = copy.copy(self)
        student.misconceptions = inject.misconceptions(self.config.ops, self.config.max_value,
                                                       share, random.Random(seed))
        return student

    def _order(self, problem: Problem) -> list[str]:
        """The variables a reference solution computes, in the order it writes them."""
        defs = definitions(problem)
        if self.trace == "every":
            return every_order(defs)
        needed = needed_order(defs, problem.data["question"])
        if self.order == "shuffled":
            return needed
        return [v for v in every_order(defs) if v in needed]  # statement order, when valid

    def difficulties(self) -> tuple[int, ...]:
        return tuple(range(self.config.min_ops, self.config.max_ops + 1))

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        if difficulty not in self.difficulties():
            raise ValueError(f"difficulty {difficulty} is outside {self.config.min_ops}.."
                             f"{self.config.max_ops}")
        lo, hi = self.config.depths or (1, difficulty)
        for _ in range(_DEPTH_TRIES):  # redrawn until the question's depth is in lo..hi
            defs, question = generate_defs(self.config, rng, difficulty)
            rng.shuffle(defs)  # drawn either way, so both orders state the same problems
            if lo <= depth({d.var: d for d in defs}, question) <= hi:
                break
        else:
            raise ValueError(f"no problem with {difficulty} operations found within depths "
                             f"{lo}..{hi} in {_DEPTH_TRIES} draws")
        if self.order == "dependency":
            defs = dependency_sorted(defs)
        return make_problem(self.name, defs, question)

    def parse_problem(self, text: str) -> Problem:
        return parse_problem(self.name, text)

    def solve(self, problem: Problem) -> str:
        return inject.write(definitions(problem), problem.data["question"], self._order(problem))

    def sample_solution(self, problem: Problem, rng: random.Random, error_rate: float) -> str:
        """The base world's candidate, written with this world's misconceptions (if any)."""
        if not self.misconceptions:
            return super().sample_solution(problem, rng, error_rate)
        defs, question, order = definitions(problem), problem.data["question"], self._order(problem)
        if rng.random() < error_rate:
            return inject.inject_error(defs, question, order, rng,
                                       table=self.misconceptions).solution
        return inject.write(defs, question, order, self.misconceptions)

    def signature(self, problem: Problem) -> str:
        """The hash of the needed sub-graph: what a solution computes, distractors aside."""
        computed = computation(definitions(problem), problem.data["question"])
        return stable_hash({"world": self.name, "computation": computed})

    def verify(self, problem: Problem, solution: str) -> Verification:
        return check.verify(problem, solution)

    def inject_error(self, problem: Problem, rng: random.Random,
                     kind: str | None = None) -> InjectedError:
        return inject.inject_error(definitions(problem), problem.data["question"],
                                   self._order(problem), rng, kind)

    def fake_reason(self, problem: Problem, check: StepCheck, rng: random.Random) -> str:
        reason = inject.fake_reason(definitions(problem), check, rng)
        return reason or super().fake_reason(problem, check, rng)
