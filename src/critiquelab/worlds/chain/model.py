"""Chain-world problem structure: definitions, their values, dependency order, canonical form."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from critiquelab.worlds.base import Problem
from critiquelab.worlds.chain.arith import ParseError, apply, as_int, binary, parse_expr

Operand = str | int  # a variable name or an integer literal
Triple = tuple[Operand, str, Operand]
OPS = "+-*"
COMMUTATIVE = "+*"
_DEF = re.compile(r"([a-z])\s*=\s*(.+)")
_FIND = re.compile(r"find\s+([a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class Def:
    """`var = value` (a given constant, op None) or `var = left op right` (an operation)."""

    var: str
    op: str | None
    args: tuple[Operand, ...]  # (value,) for a constant, (left, right) for an operation

    def rhs(self) -> str:
        return str(self.args[0]) if self.op is None else fmt(self.args[0], self.op, self.args[1])

    def to_json(self) -> dict[str, Any]:
        if self.op is None:
            return {"var": self.var, "value": self.args[0]}
        return {"var": self.var, "op": self.op, "args": list(self.args)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Def:
        if "value" in d:
            return cls(d["var"], None, (d["value"],))
        return cls(d["var"], d["op"], tuple(d["args"]))


def fmt(left: Operand, op: str, right: Operand) -> str:
    return f"{left} {op} {right}"


def rhs_key(op: str, args: Sequence[Operand]) -> tuple:
    """Identity of a right-hand side, operands ordered for commutative operators (as strings:
    numbers and names never collide)."""
    left, right = str(args[0]), str(args[1])
    return (op, right, left) if op in COMMUTATIVE and right < left else (op, left, right)


def definitions(problem: Problem) -> dict[str, Def]:
    return {d["var"]: Def.from_json(d) for d in problem.data["defs"]}


def values(defs: Mapping[str, Def]) -> dict[str, int]:
    """The true value of every defined variable."""
    vals: dict[str, int] = {}

    def value(v: str) -> int:
        if v not in vals:
            d = defs[v]
            nums = [a if isinstance(a, int) else value(a) for a in d.args]
            vals[v] = nums[0] if d.op is None else apply(d.op, *nums)
        return vals[v]

    for v in defs:
        value(v)
    return vals


def _post_order(defs: Mapping[str, Def], roots: Iterable[str],
                constants: bool = False) -> list[str]:
    """The operations the roots need (with `constants`, their given values too), in dependency
    order (post-order, left operand first)."""
    order: list[str] = []

    def visit(v: str) -> None:
        if v in order or (defs[v].op is None and not constants):
            return
        for a in defs[v].args:
            if isinstance(a, str):
                visit(a)
        order.append(v)

    for root in roots:
        visit(root)
    return order


def needed_order(defs: Mapping[str, Def], question: str) -> list[str]:
    """The operations the question needs, in dependency order (post-order, left operand first)."""
    return _post_order(defs, [question])


def depth(defs: Mapping[str, Def], question: str) -> int:
    """The longest chain of operations the question needs: how many must run one after another
    (a difficulty counts every needed operation, side branches included)."""
    memo: dict[str, int] = {}
    for v in needed_order(defs, question):  # inputs come first, so each is already known
        memo[v] = 1 + max((memo[a] for a in defs[v].args if isinstance(a, str) and a in memo),
                          default=0)
    return memo.get(question, 0)


def every_order(defs: Mapping[str, Def]) -> list[str]:
    """Every computed variable, distractors included, in dependency order (statement order
    among those ready): a solution that needs no plan of what the question uses."""
    return _post_order(defs, defs)


def dependency_sorted(defs: Sequence[Def]) -> list[Def]:
    """The definitions reordered so each follows those it uses, otherwise in the given order."""
    by_var = {d.var: d for d in defs}
    return [by_var[v] for v in _post_order(by_var, by_var, constants=True)]


def canonical(defs: Mapping[str, Def], question: str) -> str:
    """Order- and name-independent form: variables renamed v0, v1, ... round by round.

    Each round names the definitions whose operands are all named, sorted by their renamed
    right-hand side; this is exact because generated right-hand sides are all distinct.
    """
    names: dict[str, str] = {}
    parts: list[str] = []
    pending = dict(defs)

    def rename(a: Operand) -> tuple[int, int]:
        return (0, a) if isinstance(a, int) else (1, int(names[a][1:]))

    while pending:
        ready = [d for d in pending.values() if d.op is None
                 or all(isinstance(a, int) or a in names for a in d.args)]
        if not ready:
            raise ValueError("definitions form a cycle")
        for d in sorted(ready, key=lambda d: (d.op or "", [rename(a) for a in d.args])):
            args = [names[a] if isinstance(a, str) else a for a in d.args]
            names[d.var] = f"v{len(names)}"
            rhs = str(args[0]) if d.op is None else "".join(map(str, (args[0], d.op, args[1])))
            parts.append(f"{names[d.var]}={rhs}")
            del pending[d.var]
    return ";".join(parts) + f";?{names[question]}"


def computation(defs: Mapping[str, Def], question: str) -> str:
    """The canonical form of only the definitions the question needs (its constants included):
    distractors dropped, variables renamed, numbers and operand order kept."""
    needed: dict[str, Def] = {}

    def visit(v: str) -> None:
        if v not in needed:
            needed[v] = defs[v]
            for a in defs[v].args:
                if isinstance(a, str):
                    visit(a)

    visit(question)
    return canonical(needed, question)


def render_problem(defs: Sequence[Def], question: str) -> str:
    return " ".join(f"{d.var} = {d.rhs()}." for d in defs) + f" Find {question}."


def make_problem(world: str, defs: Sequence[Def], question: str) -> Problem:
    """The Problem for definitions in text order; its difficulty is the operations needed."""
    by_var = {d.var: d for d in defs}
    data = {"defs": [d.to_json() for d in defs], "question": question,
            "canonical": canonical(by_var, question)}
    return Problem(world, render_problem(defs, question), str(values(by_var)[question]),
                   len(needed_order(by_var, question)), data)


def _read_def(text: str) -> Def:
    m = _DEF.fullmatch(text)
    try:
        node = parse_expr(m.group(2)) if m else None
    except ParseError:
        node = None
    n = None if node is None else as_int(node)
    t = None if node is None or n is not None else binary(node, allow_vars=True)
    if n is None and t is None:
        raise ValueError(f"cannot read definition '{text}'")
    return Def(m.group(1), None, (n,)) if t is None else Def(m.group(1), t[1], (t[0], t[2]))


def parse_problem(world: str, text: str) -> Problem:
    """Rebuild a problem from its text `a = 7. b = a + 5. Find b.`; ValueError if malformed."""
    parts = [s.strip() for s in text.strip().rstrip(".").split(".")]
    m = _FIND.fullmatch(parts[-1])
    if not m:
        raise ValueError("it does not end with 'Find x.'")
    defs = [_read_def(s) for s in parts[:-1]]
    by_var = {d.var: d for d in defs}
    if len(by_var) < len(defs):
        raise ValueError("a variable is defined twice")
    unknown = {a for d in defs if d.op for a in d.args if isinstance(a, str)} - set(by_var)
    if m.group(1) not in by_var or unknown:
        raise ValueError(f"{min(unknown or {m.group(1)})} is never defined")
    if by_var[m.group(1)].op is None:
        raise ValueError(f"{m.group(1)} is given, there is nothing to compute")
    return make_problem(world, defs, m.group(1))  # canonical() rejects cycles
