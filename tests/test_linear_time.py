"""Every parser and grader answers within a fixed time on lines up to 10^6 characters.

Model output is where such lines come from; a quadratic pattern there hangs a run. The bound
is generous (a quadratic pattern takes hours at this size, these take about a second), so
machine load does not make it flaky.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critiquelab.arith import ArithError, evaluate
from critiquelab.critics import ExactCritic, parse_first_error, parse_verdict
from critiquelab.critics.gsm8k import GSM8KCritic, gsm8k_problem
from critiquelab.grading import grade
from critiquelab.worlds import get_world

LINE = 10**6
BOUND_S = 20.0
CHAIN = get_world("chain")
COUNTDOWN = get_world("countdown")
CHAIN_PROBLEM = CHAIN.generate(random.Random(0), 3)
COUNTDOWN_PROBLEM = COUNTDOWN.parse_problem("24 from 8 5 8 3")
GSM8K = gsm8k_problem("q", "13")


def _arith(text: str) -> None:
    try:
        evaluate(text)
    except ArithError:
        pass


PARSERS = {
    "gsm8k critic": lambda t: GSM8KCritic().critique(GSM8K, t),
    "grading": lambda t: grade(t, "13"),
    "chain critic": lambda t: ExactCritic(CHAIN).critique(CHAIN_PROBLEM, t),
    "chain critic, checked": lambda t: ExactCritic(CHAIN, "checked").critique(CHAIN_PROBLEM, t),
    "countdown critic": lambda t: ExactCritic(COUNTDOWN).critique(COUNTDOWN_PROBLEM, t),
    "critique parser": lambda t: (parse_verdict(t), parse_first_error(t)),
    "arithmetic": _arith,
}
# The repeated units behind the reported hangs, and the characters those patterns care about.
KNOWN = ["1=1a", "1", " ", ".", "Answer: 5" + " " * 50 + "x", "A: 5 ", "answer is 5 ",
         "Step 1: ", "\n", "(", "<<", "####", "\\boxed{", "3 * 4 = ", ", and "]
UNITS = st.one_of(st.sampled_from(KNOWN),
                  st.text(alphabet="0123456789 .,=+-*/()<>#:Aanswer\n\\{}$x", min_size=1,
                          max_size=6))


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=3, deadline=None)
@given(unit=UNITS)
def test_parsers_answer_in_bounded_time_on_a_million_characters(name, unit):
    text = (unit * (LINE // len(unit) + 1))[:LINE]
    start = time.perf_counter()
    PARSERS[name](text)
    assert time.perf_counter() - start < BOUND_S, (name, unit)


def test_the_reported_hangs_finish():
    """Each input that used to take minutes, run once through its parser."""
    cases = [("chain critic", "Answer: " + "." * 300_000 + "x"),
             ("gsm8k critic", "1=1a" * 25_000), ("gsm8k critic", "1" * LINE),
             ("grading", "A: 5" + " " * 10**5 + "x"), ("grading", "answer is 5 " * 83_334),
             ("gsm8k critic", "=\n" * 500_000)]
    for name, text in cases:
        start = time.perf_counter()
        PARSERS[name](text)
        assert time.perf_counter() - start < BOUND_S, name
