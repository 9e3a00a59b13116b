"""Typed errors injected into canonical solutions, and plausible false reasons."""

from __future__ import annotations

import random
from collections.abc import Mapping

from critiquelab.worlds.base import InjectedError, StepCheck
from critiquelab.worlds.chain.arith import apply
from critiquelab.worlds.chain.check import Answer, Step, parse_line
from critiquelab.worlds.chain.model import OPS, Def, fmt, needed_order

ERROR_KINDS = ("arithmetic_slip", "wrong_operand", "wrong_operator", "skipped_step",
               "used_before_computed", "wrong_final_answer")
_IN_LINE = ("arithmetic_slip", "wrong_operand", "wrong_operator")
_NEEDS_TWO_STEPS = {"skipped_step": "arithmetic_slip", "used_before_computed": "wrong_operand"}
Facts = Mapping[tuple[str, int, int], int]  # (op, left, right) -> the result a student writes


def nudge(x: int, rng: random.Random) -> int:
    """x moved by a small nonzero amount, staying non-negative when x is."""
    deltas = [d for d in (-3, -2, -1, 1, 2, 3) if x + d >= 0 or x < 0]
    return x + rng.choice(deltas)


def misconceptions(ops: str, max_value: int, share: float, rng: random.Random) -> Facts:
    """A student's wrong arithmetic facts: a seeded `share` of the facts whose operands and
    result lie in 0..max_value, each with one fixed result a small step off (in that range)."""
    facts = [(op, a, b) for op in ops for a in range(max_value + 1) for b in range(max_value + 1)
             if 0 <= apply(op, a, b) <= max_value]
    table = {}
    for op, a, b in sorted(rng.sample(facts, round(share * len(facts)))):
        right = apply(op, a, b)
        table[op, a, b] = rng.choice([right + d for d in (-3, -2, -1, 1, 2, 3)
                                      if 0 <= right + d <= max_value])
    return table


def trace(defs: Mapping[str, Def], order: list[str], rng: random.Random | None = None,
          kind: str = "", at: int = -1, question: str | None = None,
          table: Facts | None = None) -> tuple[list[str], int]:
    """Step lines in `order` and the value of `question` (default: the last line's); with
    `kind`, line `at` (0-based) is broken and later lines carry its wrong value on; a fact in
    `table` (misconceptions) takes its wrong result wherever it is computed."""
    table = table or {}
    known = {v: d.args[0] for v, d in defs.items() if d.op is None}
    lines = []
    for i, v in enumerate(order):
        d = defs[v]
        op, nums = d.op, [known[a] if isinstance(a, str) else a for a in d.args]
        if i == at and kind == "wrong_operand":
            side = rng.randrange(2)
            nums[side] = nudge(nums[side], rng)
        elif i == at and kind == "wrong_operator":
            others = [o for o in OPS if o != op]
            changed = [o for o in others if apply(o, *nums) != apply(op, *nums)]
            op = rng.choice(changed or others)
        known[v] = table.get((op, *nums), apply(op, *nums))
        if i == at and kind == "arithmetic_slip":
            known[v] = nudge(known[v], rng)
        lines.append(f"{v} = {fmt(d.args[0], op, d.args[1])} = {fmt(nums[0], op, nums[1])} "
                     f"= {known[v]}")
    return lines, known[question or order[-1]]


def _join(lines: list[str], answer: int) -> str:
    return "\n".join([*lines, f"Answer: {answer}"])


def write(defs: Mapping[str, Def], question: str, order: list[str],
          table: Facts | None = None) -> str:
    """The solution that writes `order`, right but for the facts in `table`."""
    return _join(*trace(defs, order, question=question, table=table))


def inject_error(defs: Mapping[str, Def], question: str, order: list[str], rng: random.Random,
                 kind: str | None = None, table: Facts | None = None) -> InjectedError:
    """Break the reference solution that writes `order`; the broken line is known by
    construction (with misconceptions in `table`, an earlier line may be wrong too)."""
    if kind is not None and kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind '{kind}' (known: {', '.join(ERROR_KINDS)})")
    needed = needed_order(defs, question)
    kind = kind or rng.choice(ERROR_KINDS)
    if len(needed) < 2:
        kind = _NEEDS_TWO_STEPS.get(kind, kind)
    if kind in _IN_LINE:
        at = rng.randrange(len(order))
        lines, answer = trace(defs, order, rng, kind, at, question, table)
        return InjectedError(_join(lines, answer), kind, at + 1)
    lines, answer = trace(defs, order, question=question, table=table)
    if kind == "wrong_final_answer":
        return InjectedError(_join(lines, nudge(answer, rng)), kind, len(lines) + 1)
    if kind == "skipped_step":  # a needed line: leaving out a distractor is no error
        skippable = [i for i, v in enumerate(order) if v in needed]
        at = skippable[rng.randrange(len(skippable))]
        del lines[at]
        rest = order[:at] + order[at + 1:]
        users = [i for i, v in enumerate(rest) if order[at] in defs[v].args]
        return InjectedError(_join(lines, answer), kind, (users[0] if users else len(rest)) + 1)
    # used_before_computed: move a line with a later consumer past the first one (in the needed
    # order that is every line but the last)
    movable = [i for i, v in enumerate(order[:-1])
               if any(v in defs[u].args for u in order[i + 1:])]
    at = movable[rng.randrange(len(movable))]
    user = next(i for i in range(at + 1, len(order)) if order[at] in defs[order[i]].args)
    lines.insert(user, lines.pop(at))
    return InjectedError(_join(lines, answer), kind, user)


def fake_reason(defs: Mapping[str, Def], check: StepCheck, rng: random.Random) -> str | None:
    """A false reason in the verifier's style for the claim a line makes; None if unreadable."""
    item = parse_line(check.line)
    if isinstance(item, Answer) and item.value is not None:
        return f"the answer is {nudge(item.value, rng)}, not {item.value}"
    if not isinstance(item, Step):
        return None
    shown = item.numeric or item.sym
    options = [f"{fmt(*shown)} = {nudge(item.value, rng)}, not {item.value}"]
    for x, n in ((item.sym[0], shown[0]), (item.sym[2], shown[2])):
        if isinstance(x, str) and isinstance(n, int):
            options.append(f"{x} is {nudge(n, rng)}, not {n}")
        if isinstance(x, str) and x in defs and defs[x].op is not None:
            options.append(f"{x} is used before it is computed")
    return rng.choice(options)
