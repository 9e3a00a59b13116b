"""Critics: anything that turns (problem, solution) into a step-level critique."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Protocol

from critiquelab.critics.format import render_critique
from critiquelab.io import stable_hash
from critiquelab.worlds.base import Problem, StepCheck, World


@dataclass(frozen=True)
class Critique:
    verdict: str  # "right" or "wrong"
    first_error_step: int | None
    text: str

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "first_error_step": self.first_error_step,
                "critique": self.text}


class Critic(Protocol):
    def critique(self, problem: Problem, solution: str) -> Critique: ...


class ExactCritic:
    """Checks every line with the world's verifier; never wrong. `form` is the critique
    layout (critics/format.py)."""

    def __init__(self, world: World, form: str = "steps"):
        self.world, self.form = world, form

    def critique(self, problem: Problem, solution: str) -> Critique:
        v = self.world.verify(problem, solution)
        verdict = "right" if v.correct else "wrong"
        return Critique(verdict, v.first_error_step,
                        render_critique(v.steps, verdict, self.form))


class NoisyCritic:
    """An imperfect teacher: with probability p a critique flips its verdict or blames
    the wrong line. The choice is seeded by (seed, problem, solution), so it is reproducible."""

    def __init__(self, world: World, p: float, seed: int = 0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"noise rate must be in [0, 1], got {p}")
        self.world, self.p, self.seed = world, p, seed

    def critique(self, problem: Problem, solution: str) -> Critique:
        v = self.world.verify(problem, solution)
        rng = random.Random(stable_hash([self.seed, problem.id, solution]))
        verdict = "right" if v.correct else "wrong"
        if rng.random() >= self.p:
            return Critique(verdict, v.first_error_step, render_critique(v.steps, verdict))
        if not v.steps:
            return Critique("right", None, render_critique([], "right"))
        blame_other = verdict == "wrong" and len(v.steps) > 1 and rng.random() < 0.5
        if verdict == "wrong" and not blame_other:  # flip: call a wrong solution right
            return Critique("right", None, render_critique(map(_as_ok, v.steps), "right"))
        j = rng.choice([c.index for c in v.steps if c.index != v.first_error_step])
        checks = [_as_ok(c) for c in v.steps if c.index < j]
        blamed = _as_ok(v.steps[j - 1])
        reason = self.world.fake_reason(problem, blamed, rng)
        checks.append(replace(blamed, ok=False, reason=reason))
        return Critique("wrong", j, render_critique(checks, "wrong"))


def _as_ok(check: StepCheck) -> StepCheck:
    return replace(check, ok=True, reason="", kind="")
