"""Alternative renderings of a step critique: the same judgement written another way.

A style is a secondary axis of one-shot CFT data, never a teacher of its own: only the critic
behind it (exact, noisy, a model) decides the verdict and the blamed step.

Every style keeps the `Step N: wrong, ...` line of the first error and the closing
`Conclusion: right/wrong [END]`, so `parse_verdict` and `parse_first_error` read them all:

    steps      Step 1: b = 7 + 5 = 12 correct.          (critics/format.py, unchanged)
    terse      only the first wrong step, or "Every step checks out."
    explained  Step 1: recomputing, b = 7 + 5 = 12 holds.  ... the rest depends on the error
"""

from __future__ import annotations

import re

from critiquelab.critics.base import Critic, Critique
from critiquelab.worlds.base import Problem

STYLES = ("steps", "terse", "explained")

_OK = re.compile(r"^Step (\d+): (.*) correct\.$")
_WRONG = re.compile(r"^Step (\d+): wrong, (.*)\.$")


def restyle(text: str, style: str) -> str:
    """The critique `text` (critics/format.py layout) in another style; unknown lines stay."""
    if style not in STYLES:
        raise ValueError(f"unknown critique style '{style}' (known: {', '.join(STYLES)})")
    lines = text.splitlines()
    if style == "steps" or not lines:
        return text
    body, last = lines[:-1], lines[-1]
    if style == "terse":
        wrong = [ln for ln in body if _WRONG.match(ln)]
        return "\n".join([*(wrong[:1] or ["Every step checks out."]), last])
    out = []
    for ln in body:
        if m := _OK.match(ln):
            ln = f"Step {m.group(1)}: recomputing, {m.group(2)} holds."
        elif m := _WRONG.match(ln):
            ln = (f"Step {m.group(1)}: wrong, {m.group(2)}; every later step depends on "
                  "this mistake.")
        out.append(ln)
    return "\n".join([*out, last])


class StyledCritic:
    """Wraps a critic whose text follows critics/format.py and rewrites it in `style`."""

    def __init__(self, critic: Critic, style: str):
        if style not in STYLES:
            raise ValueError(f"unknown critique style '{style}' (known: {', '.join(STYLES)})")
        self.critic, self.style = critic, style

    def critique(self, problem: Problem, solution: str) -> Critique:
        c = self.critic.critique(problem, solution)
        return Critique(c.verdict, c.first_error_step, restyle(c.text, self.style))
