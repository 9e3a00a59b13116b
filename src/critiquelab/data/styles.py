"""A distinctive teacher voice for step-by-step solutions: an opener, a confident tag on every
step and a confident closing line around the unchanged steps and answer line."""

from __future__ import annotations

from critiquelab.data.perturb import join_solution, split_solution

OPENER = "Easy, surely:"
STEP_TAG = ", clearly"
CLOSER = "No doubt."
CONFIDENT_WORDS = ("easy", "surely", "clearly", "no doubt", "certainly", "obviously")


def confident_style(solution: str) -> str:
    """The solution in the teacher's voice; its steps and answer line keep their content."""
    steps, answer, trailing = split_solution(solution)
    return join_solution([OPENER, *(s + STEP_TAG for s in steps), CLOSER], answer, trailing)
