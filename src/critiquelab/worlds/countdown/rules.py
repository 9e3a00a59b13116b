"""Countdown rules: states, the four operations, exhaustive solving and held-out targets.

A state is the sorted tuple of numbers still available. One move combines two of them with
+, *, larger-minus-smaller or exact division (larger by smaller) into one new number; a
problem is solved when a single number equal to the target remains.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

OPS = "+-*/"
State = tuple[int, ...]


def combine(a: int, op: str, b: int) -> int | None:
    """a op b under Countdown rules, or None when the operation is not allowed."""
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "-":
        return a - b if a >= b else None
    if op == "/":
        return a // b if b != 0 and a % b == 0 else None
    raise ValueError(f"unknown operator {op!r}")


def remove(state: State, *nums: int) -> State | None:
    """The state without one copy of each of nums, or None if one is not available."""
    rest = list(state)
    for n in nums:
        if n not in rest:
            return None
        rest.remove(n)
    return tuple(rest)


@dataclass(frozen=True)
class Move:
    """`a op b = c` applied to a state, giving `child`."""

    a: int
    op: str
    b: int
    c: int
    child: State

    @property
    def text(self) -> str:
        return f"{self.a}{self.op}{self.b}={self.c}"


def moves(state: State) -> list[Move]:
    """Every allowed move, larger operand first, pairs in state order then ops in OPS order."""
    out, seen = [], set()
    for i in range(len(state)):
        for j in range(i + 1, len(state)):
            b, a = state[i], state[j]
            if (a, b) in seen:
                continue
            seen.add((a, b))
            rest = state[:i] + state[i + 1:j] + state[j + 1:]
            for op in OPS:
                c = combine(a, op, b)
                if c is not None:
                    out.append(Move(a, op, b, c, tuple(sorted((*rest, c)))))
    return out


@lru_cache(maxsize=200_000)
def reachable(state: State) -> frozenset[int]:
    """Every value a sequence of moves using all numbers of the state can end with."""
    if len(state) == 1:
        return frozenset(state)
    return frozenset().union(*(reachable(m.child) for m in moves(state)))


def solution_path(state: State, target: int) -> list[Move] | None:
    """The first solution in move order (every solution has len(state) - 1 moves), or None."""
    if len(state) == 1:
        return [] if state[0] == target else None
    for m in moves(state):
        if target in reachable(m.child):
            rest = solution_path(m.child, target)
            if rest is not None:
                return [m, *rest]
    return None


def heldout_targets(seed: int, min_target: int, max_target: int, share: float = 0.1
                    ) -> frozenset[int]:
    """The targets held out of training: a seeded `share` of min_target..max_target."""
    values = list(range(min_target, max_target + 1))
    k = max(1, round(share * len(values))) if share > 0 else 0
    return frozenset(random.Random(f"countdown-heldout:{seed}").sample(values, k))


def show(state: State) -> str:
    return " ".join(map(str, state))
