"""Typed errors injected into an optimal-path trace, each at a known first wrong line."""

from __future__ import annotations

import random

from critiquelab.worlds.base import InjectedError
from critiquelab.worlds.countdown.rules import State, remove, show
from critiquelab.worlds.countdown.trace import MOVE_PATTERN, OP_PATTERN

INJECT_KINDS = ("arithmetic", "unavailable", "wrong-state", "unreachable")


def _focus_before(numbers: tuple[int, ...], lines: list[str], i: int) -> State:
    """The focused state when line i is read (the last move before it, else the start)."""
    for line in reversed(lines[:i]):
        if m := MOVE_PATTERN.fullmatch(line):
            return tuple(sorted(int(x) for x in m[1].split()))
    return tuple(sorted(numbers))


def _with_result(a: int, op: str, b: int, c: int, rest: State, target: int) -> str:
    """An operation line whose state (or marker) follows from the written result c."""
    child = tuple(sorted((*rest, c)))
    if len(child) > 1:
        return f"{a}{op}{b}={c}|{show(child)}"
    return f"{a}{op}{b}={c} {'goal' if c == target else 'x'}"


def inject(numbers: tuple[int, ...], target: int, solution: str, rng: random.Random,
           kind: str | None = None) -> InjectedError:
    """Break one line of the solution with an error of the given (or a random applicable) kind."""
    lines = solution.splitlines()
    ops = [i for i, line in enumerate(lines) if OP_PATTERN.fullmatch(line)]
    inner = [i for i in ops if "|" in lines[i]]
    moves = [i for i, line in enumerate(lines) if MOVE_PATTERN.fullmatch(line)]
    where = {"arithmetic": ops, "unavailable": ops, "wrong-state": inner, "unreachable": moves}
    kinds = [k for k in INJECT_KINDS if where[k]]
    if kind is None:
        kind = rng.choice(kinds)
    if kind not in INJECT_KINDS:
        raise ValueError(f"unknown error kind '{kind}' (known: {', '.join(INJECT_KINDS)})")
    if kind not in kinds:
        raise ValueError(f"this solution has no line an error of kind '{kind}' fits")
    i = rng.choice(where[kind])
    if kind == "unreachable":
        state = [int(x) for x in lines[i][1:].split()]
        state[rng.randrange(len(state))] += rng.randint(1, 3)
        lines[i] = f"@{show(tuple(sorted(state)))}"
    else:
        m = OP_PATTERN.fullmatch(lines[i])
        a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
        focus = _focus_before(numbers, lines, i)
        rest = remove(focus, a, b)
        if kind == "arithmetic":
            lines[i] = _with_result(a, op, b, c + rng.choice([-2, -1, 1, 2, 3]) if c > 2
                                    else c + rng.randint(1, 3), rest, target)
        elif kind == "unavailable":
            absent = [n for n in range(1, max(focus) + 4) if n not in focus and n <= a]
            b2 = rng.choice(absent) if absent else max(focus) + 1
            lines[i] = _with_result(max(a, b2), "+", min(a, b2), a + b2, rest, target)
        else:
            child = sorted((*rest, c))
            child.pop(rng.randrange(len(child)))
            lines[i] = f"{a}{op}{b}={c}|{show(tuple(child))}"
    return InjectedError("\n".join(lines), kind, i + 1)
