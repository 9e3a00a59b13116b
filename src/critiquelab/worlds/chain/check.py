"""Reading free-form candidate solutions line by line and checking each line exactly."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace

from critiquelab.worlds.base import Problem, StepCheck, Verification
from critiquelab.worlds.chain.arith import ParseError, apply, as_int, binary, parse_expr
from critiquelab.worlds.chain.model import COMMUTATIVE, Def, Triple, definitions, fmt, values

_ANSWER = re.compile(r"answer\s*:\s*", re.IGNORECASE)  # the rest is read without regexes: linear
_NAME = re.compile(r"[a-z]+")

@dataclass(frozen=True)
class Step:
    """`target = sym = numeric = value`, the numeric substitution being optional."""

    target: str
    sym: Triple
    numeric: tuple[int, str, int] | None
    value: int

    @property
    def note(self) -> str:
        return f"{self.target} = {fmt(*(self.numeric or self.sym))} = {self.value}"


@dataclass(frozen=True)
class Answer:
    text: str
    value: int | None


def read_int(text: str) -> int | None:
    try:
        return as_int(parse_expr(text))
    except ParseError:
        return None


def parse_line(line: str) -> Step | Answer | None:
    """One solution line as a step or an Answer line; None when it is neither."""
    text = line.strip()
    if m := _ANSWER.match(text):
        value = text[m.end():].rstrip(string.whitespace + ".")
        return Answer(value, read_int(value))
    parts = [p.strip() for p in text.rstrip(". ").split("=")]
    if len(parts) not in (3, 4) or not _NAME.fullmatch(parts[0]):
        return None
    try:
        sym = binary(parse_expr(parts[1]), allow_vars=True)
        numeric = binary(parse_expr(parts[2]), allow_vars=False) if len(parts) == 4 else None
        value = as_int(parse_expr(parts[-1]))
    except ParseError:
        return None
    if sym is None or value is None or (len(parts) == 4 and numeric is None):
        return None
    return Step(parts[0], sym, numeric, value)


def _same(sym: Triple, d: Def) -> bool:
    left, op, right = sym
    return op == d.op and ((left, right) == d.args
                           or (op in COMMUTATIVE and (right, left) == d.args))


# What a wrong step lacks: choosing a variable whose inputs are known (plan), writing its
# definition (copy), substituting the inputs' values (lookup), or the operation (arithmetic).
ERROR_KINDS = ("plan", "copy", "lookup", "arithmetic", "answer", "unreadable")


def check_step(step: Step, defs: Mapping[str, Def], vals: Mapping[str, int],
               computed: set[str]) -> tuple[str, str]:
    """(kind, why) the step is wrong, or ('', '') when it is right."""
    t, (left, op, right) = step.target, step.sym
    d = defs.get(t)
    if d is None:
        return "plan", f"{t} is not in the problem"
    if d.op is None:
        return "plan", f"{t} is given, not computed"
    pending = [x for x in d.args if isinstance(x, str) and defs[x].op is not None
               and x not in computed]
    if not _same(step.sym, d):  # a copy error only where the variable was ready to compute
        return "plan" if pending else "copy", f"{t} is {d.rhs()}, not {fmt(*step.sym)}"
    for x in (left, right):  # in the order written
        if x in pending:
            return "plan", f"{x} is used before it is computed"
    true = (vals[left] if isinstance(left, str) else left, op,
            vals[right] if isinstance(right, str) else right)
    shown = step.numeric or true
    if step.numeric:
        if step.numeric[1] != op:
            return "lookup", f"{fmt(*step.sym)} is not {fmt(*step.numeric)}"
        commuted = op in COMMUTATIVE and (shown[0], shown[2]) == (true[2], true[0])
        for x, want, got in ((left, true[0], shown[0]), (right, true[2], shown[2])):
            if want != got and not commuted:
                return "lookup", (f"{x} is {want}, not {got}" if isinstance(x, str)
                                  else f"{fmt(*step.sym)} is {fmt(*true)}, not {fmt(*shown)}")
    result = apply(op, shown[0], shown[2])
    return ("", "") if result == step.value else (
        "arithmetic", f"{fmt(*shown)} = {result}, not {step.value}")


def expected_line(d: Def, vals: Mapping[str, int]) -> str:
    """The canonical solution line for `d` ("" for a given constant, which no line computes)."""
    if d.op is None:
        return ""
    left, right = (vals[a] if isinstance(a, str) else a for a in d.args)
    return f"{d.var} = {d.rhs()} = {fmt(left, d.op, right)} = {vals[d.var]}"


def check_answer(ans: Answer, reference: int, question: str, computed: set[str]) -> str:
    if ans.value is None:
        return "cannot read the answer"
    if ans.value != reference:
        return f"the answer is {reference}, not {ans.value}"
    if question not in computed:
        return f"{question} is not computed before the answer"
    return ""


def verify(problem: Problem, solution: str) -> Verification:
    """Check every non-empty line of a candidate solution against the problem."""
    defs = definitions(problem)
    vals = values(defs)
    reference = int(problem.answer)
    computed: set[str] = set()
    checks: list[StepCheck] = []
    answer: Answer | None = None
    readable = False
    lines = [ln.strip() for ln in solution.splitlines() if ln.strip()]
    for i, line in enumerate(lines, start=1):
        item = parse_line(line)
        if isinstance(item, Answer):
            answer, note = item, f"answer {item.text}"
            readable |= item.value is not None
            reason = check_answer(item, reference, problem.data["question"], computed)
            kind, expected = ("answer" if reason else ""), f"Answer: {reference}"
        elif isinstance(item, Step):
            readable, note = True, item.note
            kind, reason = check_step(item, defs, vals, computed)
            expected = expected_line(defs[item.target], vals) if item.target in defs else ""
            if item.target in defs and defs[item.target].op is not None:
                computed.add(item.target)
        else:
            note, reason, kind, expected = line[:40], "cannot read this line", "unreadable", ""
        checks.append(StepCheck(i, line, not reason, note, reason, kind, expected))
    if checks and answer is None and checks[-1].ok:
        checks[-1] = replace(checks[-1], ok=False, reason="no Answer line", kind="answer")
    return Verification(
        parsed=readable and answer is not None,
        answer=None if answer is None else answer.text,
        answer_correct=answer is not None and answer.value == reference,
        steps=tuple(checks),
    )
