"""The world plug-in interface: generate, render, parse, verify, critique, inject errors.

A world owns a family of exactly checkable problems. Everything else (critics, datasets,
training, experiments) talks to worlds only through `World` and the value types here.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from critiquelab.io import stable_hash


@dataclass(frozen=True)
class Problem:
    """One problem: its rendered text, reference answer, difficulty and structured payload."""

    world: str
    text: str
    answer: str
    difficulty: int
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @cached_property
    def id(self) -> str:
        """Canonical hash: identical problems share it however they were generated."""
        canonical = self.data.get("canonical", self.text)
        return stable_hash({"world": self.world, "canonical": canonical})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "world": self.world,
            "problem": self.text,
            "answer": self.answer,
            "difficulty": self.difficulty,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(d["world"], d["problem"], d["answer"], d["difficulty"], d.get("data", {}))


@dataclass(frozen=True)
class StepCheck:
    """The verdict on one line of a candidate solution (1-based `index`)."""

    index: int
    line: str
    ok: bool
    note: str  # what the line claims, as the critic restates it: "b = 7 + 5 = 12"
    reason: str = ""  # why the line is wrong; empty when ok
    kind: str = ""  # the world's name for what went wrong ("copy", "arithmetic"); empty when ok
    expected: str = ""  # the line as it should read, by the critic's own computation; "" if unknown


@dataclass(frozen=True)
class Verification:
    """The exact verdict on a candidate solution."""

    parsed: bool  # the text has the world's solution format (right or wrong)
    answer: str | None  # the final answer the solution states, if any
    answer_correct: bool  # that answer equals the reference
    steps: tuple[StepCheck, ...]  # every line of the solution, in order

    @property
    def first_error_step(self) -> int | None:
        return next((s.index for s in self.steps if not s.ok), None)

    @property
    def correct(self) -> bool:
        """Right in every checked line and in the final answer."""
        return self.answer_correct and self.first_error_step is None


@dataclass(frozen=True)
class InjectedError:
    """A flawed solution made by the error injector, with the line it broke (1-based)."""

    solution: str
    kind: str
    first_error_step: int


class World(ABC):
    """A family of generated problems with an exact verifier and step-level checking."""

    name: str
    error_kinds: tuple[str, ...] = ()

    @abstractmethod
    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        """Draw one problem of the given difficulty."""

    @abstractmethod
    def difficulties(self) -> tuple[int, ...]:
        """All difficulty levels this world's configuration can generate."""

    @abstractmethod
    def parse_problem(self, text: str) -> Problem:
        """Rebuild a Problem from its rendered text (as `world critique` reads it from stdin);
        raise ValueError with a short reason when the text is not a problem of this world."""

    @abstractmethod
    def solve(self, problem: Problem) -> str:
        """The canonical solution text."""

    @abstractmethod
    def verify(self, problem: Problem, solution: str) -> Verification:
        """Check every line of a free-form candidate solution and its final answer."""

    @abstractmethod
    def inject_error(
        self, problem: Problem, rng: random.Random, kind: str | None = None
    ) -> InjectedError:
        """Break the canonical solution with a typed error at a chosen step."""

    def signature(self, problem: Problem) -> str:
        """The computation a problem asks for, as a hash: problems that differ only in what a
        solution ignores (distractors, names, order) share it, so splits can keep evaluation
        computations out of training. Worlds without such noise use the canonical hash."""
        return problem.id

    def fake_reason(self, problem: Problem, check: StepCheck, rng: random.Random) -> str:
        """A plausible but false reason to blame a correct line (used by noisy critics)."""
        return "this step does not follow from the earlier ones"

    def sample_solution(self, problem: Problem, rng: random.Random, error_rate: float) -> str:
        """The canonical solution, or with probability `error_rate` a flawed one."""
        if self.error_kinds and rng.random() < error_rate:
            return self.inject_error(problem, rng).solution
        return self.solve(problem)
