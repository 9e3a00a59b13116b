"""The Countdown world (Gandhi et al. 2024, Stream of Search): reach a target from numbers.

    Problem:  14 from 73 98 9 33          (target, then the input numbers)
    Solution: 98+73=171|9 33 171          (the optimal path, in the trace format of trace.py)
              @9 33 171
              171/9=19|19 33
              @19 33
              33-19=14 goal
    Answer:   33-((98+73)/9)=14

Every input number is used once; operations are +, *, larger-minus-smaller and exact
division. Only solvable problems are generated. Difficulty is the count of input numbers.
A seeded tenth of the target values is held out: `targets="seen"` or `"held-out"` restricts
generation to one side, so an experiment builds both test splits from the same seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from critiquelab.worlds import register_world
from critiquelab.worlds.base import InjectedError, Problem, StepCheck, Verification, World
from critiquelab.worlds.countdown.inject import INJECT_KINDS, inject
from critiquelab.worlds.countdown.rules import heldout_targets, reachable, show
from critiquelab.worlds.countdown.search import optimal_trace
from critiquelab.worlds.countdown.trace import check_trace

__all__ = ["CountdownWorld", "TARGET_SETS"]

TARGET_SETS = ("all", "seen", "held-out")
MIN_NUMBERS, MAX_NUMBERS = 2, 6  # the search is exponential in the count: more never finishes
_PROBLEM = re.compile(r"\s*(\d{1,6}) from (\d{1,6}(?: \d{1,6})+)\s*")


def make_problem(world: str, numbers: Sequence[int], target: int) -> Problem:
    """A Problem for numbers and target (ValueError when the target is unreachable or there
    are fewer than 2 or more than 6 numbers)."""
    if not MIN_NUMBERS <= len(numbers) <= MAX_NUMBERS:
        raise ValueError(f"a problem has {MIN_NUMBERS} to {MAX_NUMBERS} numbers, got "
                         f"{len(numbers)}")
    trace = optimal_trace(tuple(numbers), target)
    answer = check_trace(tuple(numbers), target, trace.text).answer or ""
    canonical = f"{show(tuple(sorted(numbers)))}>{target}"
    return Problem(world, f"{target} from {show(tuple(numbers))}", answer, len(numbers),
                   {"numbers": list(numbers), "target": target, "canonical": canonical})


@register_world("countdown")
class CountdownWorld(World):
    """Countdown with `sizes` input numbers from 1..max_number and targets in a range."""

    name = "countdown"
    error_kinds = INJECT_KINDS

    def __init__(self, sizes: int | Sequence[int] = (4,), max_number: int = 99,
                 min_target: int = 10, max_target: int = 100, targets: str = "all",
                 heldout_seed: int = 0, heldout_share: float = 0.1):
        self.sizes = (sizes,) if isinstance(sizes, int) else tuple(sorted(set(sizes)))
        if not self.sizes or min(self.sizes) < MIN_NUMBERS or max(self.sizes) > MAX_NUMBERS:
            raise ValueError(f"sizes must lie in 2..6, got {list(self.sizes)}")
        if max_number < 1 or not 1 <= min_target <= max_target:
            raise ValueError("need max_number >= 1 and 1 <= min_target <= max_target")
        if targets not in TARGET_SETS:
            raise ValueError(f"targets must be one of {TARGET_SETS}, got '{targets}'")
        if not 0.0 <= heldout_share < 1.0:
            raise ValueError(f"heldout_share must be in [0, 1), got {heldout_share}")
        self.max_number, self.targets = max_number, targets
        self.heldout = heldout_targets(heldout_seed, min_target, max_target, heldout_share)
        every = set(range(min_target, max_target + 1))
        self.allowed = {"all": every, "seen": every - self.heldout,
                        "held-out": set(self.heldout)}[targets]
        if not self.allowed:
            raise ValueError(f"no target values left for targets='{targets}'")

    def difficulties(self) -> tuple[int, ...]:
        return self.sizes

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        """Draw numbers uniformly, then a target uniformly among the allowed reachable ones."""
        if difficulty not in self.sizes:
            raise ValueError(f"difficulty must be one of {list(self.sizes)}, got {difficulty}")
        for _ in range(10_000):
            numbers = [rng.randint(1, self.max_number) for _ in range(difficulty)]
            hits = sorted(reachable(tuple(sorted(numbers))) & self.allowed)
            if hits:
                return make_problem(self.name, numbers, rng.choice(hits))
        raise ValueError("no solvable problem found; widen the number or target range")

    def parse_problem(self, text: str) -> Problem:
        m = _PROBLEM.fullmatch(text)
        if not m:
            raise ValueError("expected '<target> from <n1> <n2> ...'")
        return make_problem(self.name, [int(x) for x in m[2].split()], int(m[1]))

    def solve(self, problem: Problem) -> str:
        return optimal_trace(_numbers(problem), problem.data["target"]).text

    def verify(self, problem: Problem, solution: str) -> Verification:
        checked = check_trace(_numbers(problem), problem.data["target"], solution)
        steps = tuple(StepCheck(i, c.line, c.ok, c.note, c.reason)
                      for i, c in enumerate(checked.lines, start=1))
        parsed = any(c.kind != "syntax" for c in checked.lines)
        return Verification(parsed, checked.answer, checked.solved, steps)

    def inject_error(self, problem: Problem, rng: random.Random,
                     kind: str | None = None) -> InjectedError:
        return inject(_numbers(problem), problem.data["target"], self.solve(problem), rng, kind)

    def fake_reason(self, problem: Problem, check: StepCheck, rng: random.Random) -> str:
        return f"the numbers after '{check.line}' cannot reach {problem.data['target']}"


def _numbers(problem: Problem) -> tuple[int, ...]:
    return tuple(problem.data["numbers"])
