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
from critiquelab.grading import answers_match, extract_answer, strip_annotations
from critiquelab.worlds.base import Problem

MAX_LINE_CHARS = 5000  # a longer line is not checked but judged wrong: nothing slips through
MAX_LINES = 1000  # likewise a solution with more lines

_ANNOTATION = re.compile(r"<<([^<>]*)>>")
_TIMES = re.compile(r"(?<=[\d)])[ \t]?[xX][ \t]?(?=[\d(.$])")
# Maximal spans of arithmetic characters (one pass, linear); those with `=` are equations.
_SPAN = re.compile(r"[\d$.,()+\-*/×÷=\s]+")
# Where one equation ends and the next begins inside a span: `3 + 4 = 7, 3 * 4 = 12`.
_SEPARATOR = re.compile(r",\s+(?=[\d$(.])")
# A list marker or bullet at the start of a line: `1. `, `2) `, `- `, `* `, `• `.
_MARKER = re.compile(r"^\s*(?:\(?\d{1,3}[.)]|[-*•])\s+")
CONTEXT = 24  # characters around a run that decide whether its outer numbers are cut off
_LEADING_NUMBER = re.compile(rf"-?(?:{NUMBER})")
_TIGHT_FRACTION = re.compile(r"(?<![\d.(])(\d+/\d+)(?![\d.)]|/\d)")  # `25 / 1/3` = 25 / (1/3)
# Text around a run that means its first or last number belongs to something else:
# `2 x 2/3 = 40`, `1 and 1/4 = 15`, `6:00+48`, `= 5A/5`, `= 26 cents`, `= 20%`, `0900-0130`.
_CUT_BEFORE = re.compile(r"(?:[xX×*/+\-–−(]|\b(?:times|of|by|plus|minus)|\d\s+and)\s*$")
_CLOCK = re.compile(r"\d:$")  # `6:00+48`, but not the label of `Step 1: 3 * 4 = 12`
_CUT_AFTER = re.compile(r"^\s*(?:%|cents?\b|percent|thousand|million|billion|hundred|dozen|"
                        r"and\s+\(?\d+/\d)")
_ATTACHED = re.compile(r"^[A-Za-z:%(]")  # `5A/5`, `6:48`, `20%` right after a number
_LEADING_ZERO = re.compile(r"(?<![\d.,])0\d")
_STARTS_FRACTION = re.compile(r"\s*(\d{1,9})/(\d{1,9})(?![\d.])")


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
    """One side of an equation without currency signs, surrounding punctuation and the
    unmatched parentheses of an equation written inside them: `(3 * 4 = 12)`."""
    text = text.replace("$", "").rstrip(" \t\n\r\f\v,.")
    start = 0
    while start < len(text) and (text[start] in " \t\n\r\f\v,"
                                  or (text[start] == "." and text[start + 1:start + 2]
                                      in ("", " ", ",", ".", "(", ")"))):
        start += 1
    text = text[start:]
    while text.startswith("(") and text.count("(") > text.count(")"):
        text = text[1:].lstrip()
    while text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1].rstrip()
    return text


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
        if (found := _check(left, right)) is not None:
            yield found


def _check(left: str, right: str) -> tuple[str, str | None] | None:
    """(claim, error) for `left = right`, or None when it cannot be computed."""
    try:
        if not has_operator(left):
            return None
        value, rvalue = evaluate(left), evaluate(right)
        if value == rvalue:
            return f"{left} = {right}", None
        lead = _LEADING_NUMBER.match(right)
        if lead and matches(value, lead.group()):
            return f"{left} = {lead.group()}", None
        return f"{left} = {right}", f"{left} = {fmt(value)} not {right}"
    except ArithError:
        return None


def _text_runs(line: str) -> Iterator[tuple[str, bool, bool]]:
    """(run, cut_first, cut_last) for each `... = ...` run of plain arithmetic in the text."""
    text = _TIMES.sub(" * ", _MARKER.sub("", strip_annotations(line)))
    for span in _SPAN.finditer(text):
        if "=" not in span.group():
            continue
        for start, end in _pieces(span.group(), span.start()):
            run = text[start:end].rstrip()
            while run.endswith("("):  # `= 12 (dollars)`: the unit's parenthesis
                run = run[:-1].rstrip()
            if "=" in run and not _LEADING_ZERO.search(run):  # not clock times like 0900-0130
                yield _run_context(text, run, start, start + len(run))


def _pieces(span: str, offset: int) -> Iterator[tuple[int, int]]:
    """(start, end) of the equations in a span, split at `, ` after a complete equation (a
    comma before any `=` is a number's, as in the misspelt `14, 400 / 80 = 180`)."""
    last = 0
    for m in _SEPARATOR.finditer(span):
        if "=" in span[last:m.start()]:
            yield offset + last, offset + m.start()
            last = m.end()
    yield offset + last, offset + len(span)


def _run_context(text: str, run: str, start: int, end: int) -> tuple[str, bool, bool]:
    """The run with fractions bracketed, and whether the words around cut its outer numbers."""
    before, after = text[max(0, start - CONTEXT):start], text[end:end + CONTEXT]
    cut_first = bool(_CUT_BEFORE.search(before)) and not (
        before.rstrip().endswith("and") and not _proper_fraction(run))
    cut_first |= bool(_CLOCK.search(before)) and not run[0].isspace()
    cut_last = bool(_CUT_AFTER.match(after)) or (
        not run[-1].isspace() and bool(_ATTACHED.match(after)))
    return _TIGHT_FRACTION.sub(r"(\1)", run), cut_first, cut_last


def _proper_fraction(run: str) -> bool:
    """Whether a run starts with a fraction below 1, the tail of a mixed number `1 and 1/4`."""
    m = _STARTS_FRACTION.match(run)
    return bool(m) and int(m.group(1)) < int(m.group(2))


def check_line(line: str) -> tuple[tuple[str, ...], str | None]:
    """(verified claims, first error) for the arithmetic written on one line."""
    if len(line) > MAX_LINE_CHARS:
        return (), f"the line is too long to check ({len(line)} characters)"
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
        if len(lines) > MAX_LINES:
            return [LineCheck(1, lines[0][:MAX_LINE_CHARS], (),
                              f"the solution is too long to check ({len(lines)} lines)")]
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
