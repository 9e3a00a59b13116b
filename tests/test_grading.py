"""Final-answer extraction and comparison on the forms real solutions use."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critiquelab.grading import (
    answers_match,
    as_number,
    extract_answer,
    grade,
    reference_answer,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72"),
        ("#### 1,000", "1,000"),
        ("so $\\boxed{\\frac{1}{2}}$ is it", "\\frac{1}{2}"),
        ("\\boxed{\\text{{nested}} 3}", "\\text{{nested}} 3"),
        ("The answer is 3.5.", "3.5"),
        ("Thus the answer is: $18.00. Done", "$18.00"),
        ("She makes 9 * 2 = $<<9*2=18>>18\nA: 18", "18"),
        ("the total is 42 apples", "42"),
        ("Paid <<3*4=12>>12 then 5", "5"),
        ("no numbers here", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_answer_without_last_number_fallback():
    assert extract_answer("the total is 42", last_number=False) is None
    assert reference_answer("Janet sells 9.\nA: 18") == "18"
    assert reference_answer("\\frac{3}{4}") == "\\frac{3}{4}"


@pytest.mark.parametrize(
    ("prediction", "reference", "correct"),
    [
        ("#### 72", "72", True),
        ("#### 1,000", "1000", True),
        ("#### 1,000.00", "1000", True),
        ("A: $18.00", "18", True),
        ("A: 18 dollars", "18", True),
        ("The answer is \\boxed{\\$1,234.50}", "1234.5", True),
        ("$\\boxed{\\frac{1}{2}}$", "0.5", True),
        ("#### 0.5", "1/2", True),
        ("\\boxed{3}", "3.0", True),
        ("A: 26", "18", False),
        ("#### 7", "-7", False),
        ("#### 1.5", "15", False),
        ("#### 18", "180", False),
        ("I do not know", "18", False),
        ("#### 18 dollars per hour for 2 hours", "18", True),  # a number with its context
        ("#### 18 dollars per hour for 2 hours", "2", False),
        ("#### 18/2", "9", True),
        ("#### 1/2", "0.5", True),
    ],
)
def test_grade(prediction, reference, correct):
    assert grade(prediction, reference).correct is correct


@pytest.mark.parametrize(
    ("answer", "value"),
    [("$1,234.00", Fraction(1234)), ("18 eggs", Fraction(18)), ("-3", Fraction(-3)),
     ("\\$5", Fraction(5)), (".25", Fraction(1, 4)), ("3 or 4", None), ("none", None)],
)
def test_numeric_fallback(answer, value):
    assert as_number(answer) == value


def test_numeric_fallback_decides_when_math_verify_cannot():
    assert answers_match("about 1,234.00 units", "1234")
    assert not answers_match(None, "1")


# A hedge or a correction offers two answers: it is never credited, whichever is right.
HEDGES = ["The answer is {a}, not {b}.", "#### {a} or {b}", "#### {a} (or maybe {b})",
          "A: {a} or perhaps {b}", "The answer is {a}; actually {b}.", "#### {a}-{b}",
          "#### {a}, {b}", "\\boxed{{{a} \\text{{ or }} {b}}}", "#### either {a} or {b}",
          "#### {a} but {b}", "#### {a}? {b}", "#### between {a} and {b}"]


@pytest.mark.parametrize("hedge", HEDGES)
def test_a_hedge_is_never_credited(hedge):
    text = hedge.format(a=5, b=6)
    assert not grade(text, "5").correct and not grade(text, "6").correct, text


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(HEDGES), st.decimals(0, 10**6, places=2, allow_nan=False),
       st.decimals(0, 10**6, places=2, allow_nan=False))
def test_two_different_numbers_after_the_marker_are_never_credited(hedge, a, b):
    if a == b:
        b += 1
    text = hedge.format(a=a, b=b)
    assert not grade(text, str(a)).correct and not grade(text, str(b)).correct, text
