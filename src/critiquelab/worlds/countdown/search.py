"""Heuristic search over Countdown states, serialised as a stream of search (trace format).

Depth-first search visits children best-heuristic first and backtracks with `@` lines;
beam breadth-first search expands a level's states, then keeps the best `beam` children.
Both stop after `max_nodes` generated nodes and then write `fail`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from critiquelab.worlds.countdown.rules import Move, State, moves, solution_path
from critiquelab.worlds.countdown.trace import FAIL, move_line, op_line

Heuristic = Callable[[State, int], float]


def sum_heuristic(state: State, target: int) -> float:
    """Mean distance of the numbers to the target (small when adding gets there)."""
    return sum(abs(n - target) for n in state) / len(state)


def mult_heuristic(state: State, target: int) -> float:
    """Total distance of each number to its nearest factor of the target."""
    factors = [f for f in range(1, target + 1) if target % f == 0] or [target]
    return float(sum(min(abs(n - f) for f in factors) for n in state))


HEURISTICS: dict[str, Heuristic] = {"sum": sum_heuristic, "mult": mult_heuristic}


@dataclass(frozen=True)
class Strategy:
    """`dfs` or `bfs` (beam width `beam`) guided by a named heuristic."""

    kind: str
    heuristic: str
    beam: int = 1

    @property
    def name(self) -> str:
        return f"dfs-{self.heuristic}" if self.kind == "dfs" else f"bfs{self.beam}-{self.heuristic}"


STRATEGIES = tuple([Strategy("dfs", h) for h in HEURISTICS]
                   + [Strategy("bfs", h, b) for b in range(1, 6) for h in HEURISTICS])


@dataclass(frozen=True)
class SearchTrace:
    lines: tuple[str, ...]
    solved: bool
    nodes: int  # generated nodes (operation lines)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class _Search:
    def __init__(self, target: int, heuristic: Heuristic, max_nodes: int, root: State):
        self.target, self.h, self.max_nodes = target, heuristic, max_nodes
        self.lines: list[str] = []
        self.nodes, self.focus = 0, root

    def ordered(self, state: State) -> list[Move]:
        ms = moves(state)
        return sorted(ms, key=lambda m: (self.h(m.child, self.target), ms.index(m)))

    def goto(self, state: State) -> None:
        if self.focus != state:
            self.lines.append(move_line(state))
            self.focus = state

    def generate(self, m: Move) -> bool | None:
        """Write m; True if it hits the goal, None if the node budget is spent."""
        if self.nodes >= self.max_nodes:
            return None
        self.nodes += 1
        self.lines.append(op_line(m, self.target))
        return len(m.child) == 1 and m.c == self.target

    def dfs(self, state: State) -> bool | None:
        for m in self.ordered(state):
            self.goto(state)
            hit = self.generate(m)
            if hit is None or hit:
                return hit
            if len(m.child) > 1:
                self.goto(m.child)
                found = self.dfs(m.child)
                if found is None or found:
                    return found
        return False

    def bfs(self, root: State, beam: int) -> bool | None:
        frontier = [root]
        while frontier:
            children: dict[State, None] = {}
            for state in frontier:
                self.goto(state)
                for m in self.ordered(state):
                    hit = self.generate(m)
                    if hit is None or hit:
                        return hit
                    if len(m.child) > 1:
                        children.setdefault(m.child)
            frontier = sorted(children, key=lambda s: self.h(s, self.target))[:beam]
        return False


def search(numbers: tuple[int, ...], target: int, strategy: Strategy,
           max_nodes: int) -> SearchTrace:
    """Run one strategy from the numbers; the trace ends with a goal line or `fail`."""
    root = tuple(sorted(numbers))
    s = _Search(target, HEURISTICS[strategy.heuristic], max_nodes, root)
    found = s.dfs(root) if strategy.kind == "dfs" else s.bfs(root, strategy.beam)
    if not found:
        s.lines.append(FAIL)
    return SearchTrace(tuple(s.lines), bool(found), s.nodes)


def optimal_trace(numbers: tuple[int, ...], target: int) -> SearchTrace:
    """The solution path alone in the same format: each operation, then a move to its result."""
    path = solution_path(tuple(sorted(numbers)), target)
    if path is None:
        raise ValueError(f"{target} cannot be made from {' '.join(map(str, numbers))}")
    lines = []
    for m in path:
        lines.append(op_line(m, target))
        if len(m.child) > 1:
            lines.append(move_line(m.child))
    return SearchTrace(tuple(lines), True, len(path))
