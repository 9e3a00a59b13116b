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

from critiquelab.arith import NUMBER, ArithError, parse_number

MAX_ANSWER_CHARS = 300  # longer "answers" are not final answers; keeps sympy bounded

_ANNOTATION = re.compile(r"<<[^<>]*>>")
_HASHES = re.compile(r"####\s*(.+)")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*(.+?)(?:\.\s|\.?\s*$|\n)", re.IGNORECASE)
_A_LINE = re.compile(r"^\s*A\s*:\s*(.+?)\s*$", re.MULTILINE)
_NUMBER = re.compile(rf"-?(?:{NUMBER})")


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


def extract_answer(text: str, last_number: bool = True) -> str | None:
    """The final answer a solution states, or None. Tries `####`, `\\boxed{}`, "the answer
    is", an `A:` line, then (if `last_number`) the last number in the text."""
    text = strip_annotations(text)
    if hashes := _HASHES.findall(text):
        return _clean(hashes[-1])
    if (boxed := _last_boxed(text)) is not None:
        return _clean(boxed)
    for pattern in (_ANSWER_IS, _A_LINE):
        if found := pattern.findall(text):
            return _clean(found[-1])
    if last_number and (numbers := _NUMBER.findall(text)):
        return _clean(numbers[-1])
    return None


def as_number(answer: str) -> Fraction | None:
    """The value of an answer that states exactly one number (`$1,234.00`, `18 eggs`, `-3`)."""
    numbers = _NUMBER.findall(answer.replace("\\$", "$").replace("\\%", "%"))
    if len(numbers) != 1:
        return None
    try:
        return parse_number(numbers[0])
    except (ArithError, ValueError):
        return None


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
    """Whether two final answers are equal: math-verify, then an exact numeric comparison."""
    if predicted is None:
        return False
    if _math_verify(predicted, reference):
        return True
    p, r = as_number(predicted), as_number(reference)
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
