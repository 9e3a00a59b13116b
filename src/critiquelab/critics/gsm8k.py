"""An exact step critic for GSM8K-style solutions: it checks only what it can compute.

Each line's calculator annotations (`<<48/2=24>>`) and written equations (`48/2 = 24`) are
evaluated exactly (critiquelab.arith, no eval); the final answer is compared with the
reference. A line with nothing computable gets "no calculation to check." The critic never
judges reasoning it cannot compute, so a right-arithmetic, wrong-reasoning solution is
caught only by its final answer, at the line that states it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from critiquelab.arith import NUMBER, ArithError, evaluate, fmt, has_operator, matches
from critiquelab.critics.base import Critique
from critiquelab.critics.format import conclusion
from critiquelab.evaluation.grading import answers_match, extract_answer, strip_annotations
from critiquelab.worlds.base import Problem

_ANNOTATION = re.compile(r"<<([^<>]*)>>")
_TIMES = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d(.$])")
_RUN = re.compile(r"[\d$.,()+\-*/×÷=\s]*=[\d$.,()+\-*/×÷=\s]*")
_LEADING_NUMBER = re.compile(rf"-?(?:{NUMBER})")
_TIGHT_FRACTION = re.compile(r"(?<![\d.(])(\d+/\d+)(?![\d.)]|/\d)")  # `25 / 1/3` = 25 / (1/3)
# Text around a run that means its first or last number belongs to something else:
# `2 x 2/3 = 40`, `1 and 1/4 = 15`, `6:00+48`, `= 5A/5`, `= 26 cents`, `= 20%`, `0900-0130`.
_CUT_BEFORE = re.compile(r"(?:[xX×*/+\-–−(:]|\b(?:times|of|by|and|plus|minus))\s*$")
_CUT_AFTER = re.compile(r"^\s*(?:%|cents?\b|percent|thousand|million|billion|hundred|dozen|"
                        r"and\s+\(?\d+/\d)")
_ATTACHED = re.compile(r"^[A-Za-z:%(]")  # `5A/5`, `6:48`, `20%` right after a number
_LEADING_ZERO = re.compile(r"(?<![\d.,])0\d")
_EDGES = re.compile(r"^(?:[\s,]|\.(?!\d))+|[\s,.]+$")


@dataclass(frozen=True)
class LineCheck:
    """What the critic found on one solution line (1-based `index`)."""

    index: int
    line: str
    claims: tuple[str, ...]  # the calculations it verified, e.g. "48/2 = 24"
    error: str | None  # why the line is wrong; None when nothing wrong was found
    final_answer: str | None = None  # set on the line that states the final answer

    @property
    def silent(self) -> bool:
        """Nothing on the line could be checked."""
        return not self.claims and self.final_answer is None and self.error is None


def gsm8k_problem(question: str, answer: str) -> Problem:
    """A Problem for a real question and its reference final answer."""
    return Problem("gsm8k", question, answer, 0)


def _side(text: str) -> str:
    """One side of an equation without currency signs and surrounding punctuation."""
    return _EDGES.sub("", text.replace("$", ""))


def _equation_checks(text: str, cut_first: bool = False, cut_last: bool = False
                     ) -> Iterator[tuple[str, str | None]]:
    """(claim, error) for each checkable `lhs = rhs` in a run `a op b = c = ...`: rhs may equal
    lhs as an expression or, in a chain `a / b = c + d = e`, through its leading number.
    `cut_first`/`cut_last` skip an equation whose outer number may be cut off by the text."""
    parts = [_side(p) for p in text.split("=")]
    pairs = list(zip(parts, parts[1:], strict=False))
    for k, (left, right) in enumerate(pairs):
        if (k == 0 and cut_first) or (k == len(pairs) - 1 and cut_last):
            continue
        if not left or not right or left[0] in "+-*/×÷":  # cut off mid-expression: silent
            continue
        try:
            if not has_operator(left):
                continue
            value, rvalue = evaluate(left), evaluate(right)
        except ArithError:
            continue
        if value == rvalue:
            yield f"{left} = {right}", None
            continue
        lead = _LEADING_NUMBER.match(right)
        if lead and matches(value, lead.group()):
            yield f"{left} = {lead.group()}", None
        else:
            yield f"{left} = {right}", f"{left} = {fmt(value)} not {right}"


def _text_runs(line: str) -> Iterator[tuple[str, bool, bool]]:
    """(run, cut_first, cut_last) for each `... = ...` run of plain arithmetic in the text."""
    text = _TIMES.sub(" * ", strip_annotations(line))
    for m in _RUN.finditer(text):
        run = m.group()
        if _LEADING_ZERO.search(run):  # clock times such as 0900-0130
            continue
        after = text[m.end():]
        cut_last = bool(_CUT_AFTER.match(after)) or (
            not run[-1].isspace() and bool(_ATTACHED.match(after)))
        yield (_TIGHT_FRACTION.sub(r"(\1)", run), bool(_CUT_BEFORE.search(text[:m.start()])),
               cut_last)


def check_line(line: str) -> tuple[tuple[str, ...], str | None]:
    """(verified claims, first error) for the arithmetic written on one line."""
    claims: dict[str, str] = {}  # spacing-free form -> claim as written first
    sources = [(m.group(1), False, False) for m in _ANNOTATION.finditer(line)]
    sources += list(_text_runs(line))
    for source, cut_first, cut_last in sources:
        for claim, error in _equation_checks(source, cut_first, cut_last):
            if error:
                return tuple(claims.values()), error
            claims.setdefault(claim.replace(" ", ""), claim)
    return tuple(claims.values()), None


def _final_line(lines: list[str], answer: str | None) -> int:
    """0-based index of the line that states the final answer (the last line by default)."""
    for i in range(len(lines) - 1, -1, -1):
        if extract_answer(lines[i], last_number=False) is not None:
            return i
    if answer is not None:
        for i in range(len(lines) - 1, -1, -1):
            if answer in strip_annotations(lines[i]):
                return i
    return len(lines) - 1


class GSM8KCritic:
    """Checks annotations, written arithmetic and the final answer; silent on the rest."""

    def check(self, problem: Problem, solution: str) -> list[LineCheck]:
        """One LineCheck per non-empty line of the solution."""
        lines = [ln.strip() for ln in solution.splitlines() if ln.strip()]
        if not lines:
            return [LineCheck(1, "", (), "the solution is empty", "")]
        answer = extract_answer(solution)
        final = _final_line(lines, answer)
        checks = []
        for i, line in enumerate(lines):
            claims, error = check_line(line)
            stated = None
            if i == final and error is None:
                stated = answer or ""
                if answer is None:
                    error = "no final answer is stated"
                elif not answers_match(answer, problem.answer):
                    error = (f"the final answer {answer} does not match the reference "
                             f"{problem.answer}")
            checks.append(LineCheck(i + 1, line, claims, error, stated))
        return checks

    def critique(self, problem: Problem, solution: str) -> Critique:
        return critique_from_checks(self.check(problem, solution))


def critique_from_checks(checks: list[LineCheck]) -> Critique:
    """The verdict, first wrong line and text of a list of line checks."""
    first = next((c.index for c in checks if c.error), None)
    verdict = "right" if first is None else "wrong"
    return Critique(verdict, first, render_line_checks(checks, verdict))


def render_line_checks(checks: list[LineCheck], verdict: str) -> str:
    """The critique text (critics/format.py style), stopping at the first wrong line."""
    out = []
    for c in checks:
        if c.error:
            out.append(f"Step {c.index}: wrong, {c.error}.")
            break
        text = f"{', '.join(c.claims)} correct." if c.claims else "no calculation to check."
        if c.final_answer is not None:
            text += f" The final answer {c.final_answer} matches the reference."
        out.append(f"Step {c.index}: {text}")
    out.append(conclusion(verdict))
    return "\n".join(out)
