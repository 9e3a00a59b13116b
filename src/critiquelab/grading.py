"""Final-answer grading for real math data: extract the answer a text states, compare it.

Extraction knows GSM8K (`#### 72`, calculator annotations `<<48+24=72>>`), `\\boxed{}`,
"the answer is ..." and `A: 72`; comparison goes through math-verify, with a numeric
fallback that ignores thousands separators, trailing zeros, units and currency signs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from math_verify import parse, verify

from critiquelab.arith import NUMBER, ArithError, evaluate, parse_number

MAX_ANSWER_CHARS = 300  # longer "answers" are not final answers; keeps sympy bounded

_ANNOTATION = re.compile(r"<<[^<>]*>>")
_HASHES = re.compile(r"####\s*(.+)")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# Every pattern runs in linear time: model output can hold a line of a million characters.
_ANSWER_IS = re.compile(r"answer[ \t]+is[ \t]*:?[ \t]*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s")
_A_LINE = re.compile(r"[ \t]*A[ \t]*:[ \t]*")
_NUMBER = re.compile(rf"-?(?:{NUMBER})")
# Between two different numbers of one answer, a word or sign that makes it a hedge, a
# correction or a list (`5 or 6`, `5, not 6`, `7 (or maybe 8)`, `5-6`) rather than a number
# with its context (`18 dollars per hour for 2 hours`).
_HEDGE = re.compile(r"[,;?(\[|–-]|\b(?:or|not|nor|maybe|perhaps|possibly|probably|either|"
                    r"instead|actually|rather|but|and|to|between|correction|wait)\b",
                    re.IGNORECASE)


@dataclass(frozen=True)
class Grade:
    correct: bool
    predicted: str | None  # the final answer extracted from the prediction, if any
    reference: str


def strip_annotations(text: str) -> str:
    """Remove GSM8K calculator annotations: `48/2 = <<48/2=24>>24` -> `48/2 = 24`."""
    return _ANNOTATION.sub("", text)


def _last_boxed(text: str) -> str | None:
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return None


def _clean(answer: str) -> str | None:
    answer = answer.strip().rstrip(".").strip()
    return answer if answer and len(answer) <= MAX_ANSWER_CHARS else None


def _answer_is(text: str) -> str | None:
    """What follows the last "the answer is", up to the end of its sentence or line. Only a
    window one character longer than an answer may be is read, so this stays linear."""
    for m in reversed(list(_ANSWER_IS.finditer(text))):
        rest = text[m.end():m.end() + MAX_ANSWER_CHARS + 1].split("\n", 1)[0]
        if end := _SENTENCE_END.search(rest):
            rest = rest[:end.start()]
        if rest.strip():
            return rest
    return None


def _a_line(text: str) -> str | None:
    """The text of the last line that starts with `A:`."""
    found = None
    for line in text.splitlines():
        if (m := _A_LINE.match(line)) and line[m.end():].strip():
            found = line[m.end():]
    return found


def extract_answer(text: str, last_number: bool = True) -> str | None:
    """The final answer a solution states, or None. Tries `####`, `\\boxed{}`, "the answer
    is", an `A:` line, then (if `last_number`) the last number in the text."""
    text = strip_annotations(text)
    if hashes := _HASHES.findall(text):
        return _clean(hashes[-1])
    if (boxed := _last_boxed(text)) is not None:
        return _clean(boxed)
    for find in (_answer_is, _a_line):
        if (found := find(text)) is not None:
            return _clean(found)
    if last_number and (numbers := _NUMBER.findall(text)):
        return _clean(numbers[-1])
    return None


def _values(answer: str) -> list[tuple[Fraction, int, int]] | None:
    """(value, start, end) of every number in an answer; None if one cannot be read."""
    try:
        return [(parse_number(m.group()), m.start(), m.end())
                for m in _NUMBER.finditer(answer.replace("\\$", "$").replace("\\%", "%"))]
    except (ArithError, ValueError):
        return None


def hedged(answer: str) -> bool:
    """Whether an answer offers two different numbers as alternatives or a correction."""
    values = _values(answer)
    if not values:
        return False
    text = answer.replace("\\$", "$").replace("\\%", "%")
    first, _, end = values[0]
    for value, start, stop in values[1:]:
        if value != first and _HEDGE.search(text, end, start + (text[start] == "-")):
            return True
        end = stop
    return False


def as_number(answer: str) -> Fraction | None:
    """The value an answer states: its first number (`$1,234.00`, `18 eggs`, `-3`, `18
    dollars per hour for 2 hours`; `1/2` as a fraction), or None when it has none or
    hedges between two."""
    values = _values(answer)
    if not values or hedged(answer):
        return None
    try:
        return evaluate(answer.replace("\\$", "").replace("$", ""))  # `18/2`, `1/2`
    except ArithError:
        return values[0][0]


def _math_verify(predicted: str, reference: str) -> bool:
    # math-verify times out through signal.alarm, which only works in the main thread.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold = parse(_latex(reference), parsing_timeout=timeout)
        pred = parse(_latex(predicted), parsing_timeout=timeout)
        return bool(gold and pred and verify(gold, pred, timeout_seconds=timeout))
    except Exception:  # math-verify raises many types on odd input; treat as "no match"
        return False


def _latex(answer: str) -> str:
    return f"${answer}$" if "\\" in answer and "$" not in answer else answer


def answers_match(predicted: str | None, reference: str) -> bool:
    """Whether two final answers are equal: math-verify, then an exact numeric comparison.
    A hedge (`5 or 6`, `5, not 6`) is never credited; a plain answer with several numbers
    is judged by its first one, since math-verify would take its last."""
    if predicted is None or hedged(predicted):
        return False
    p, r = as_number(predicted), as_number(reference)
    if "\\" not in predicted and len(_values(predicted) or []) > 1:
        return p is not None and p == r
    if _math_verify(predicted, reference):
        return True
    return p is not None and p == r


def reference_answer(text: str) -> str:
    """The final answer of a reference: the part after `####`/`A:`, or the text itself."""
    return extract_answer(text, last_number=False) or text.strip()


def grade(prediction: str, reference: str) -> Grade:
    """Extract the prediction's final answer and compare it with the reference answer."""
    predicted = extract_answer(prediction)
    return Grade(answers_match(predicted, reference), predicted, reference)


def accuracy(grades: Sequence[Grade]) -> float:
    return sum(g.correct for g in grades) / len(grades) if grades else 0.0
