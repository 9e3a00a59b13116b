"""The critique text format shared by every critic and parsed back from model output.

A critique checks the lines of a solution in order, stops at the first wrong one and closes
with the line used by the public CFT data, so datasets interoperate:

    Step 1: b = 7 + 5 = 12 correct.
    Step 2: wrong, 12 * 2 = 24 not 26.
    Conclusion: wrong [END]

The `checked` form writes the line as the critic computes it and the candidate's line before
each verdict, so a model judges by comparing two lines instead of deciding before it computes
(each computed line reads as a solution line does):

    Check: c = b * 2 = 12 * 2 = 24
    Given: c = b * 2 = 12 * 2 = 26
    Step 2: wrong.

The `recomputed` form writes only the critic's own line before each verdict, so every line a
model learns from is right (the `checked` form also trains on the candidate's flawed line):

    Check: c = b * 2 = 12 * 2 = 24
    Step 2: wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from critiquelab.worlds.base import StepCheck

# Within one line only (`[ \t]`, not `\s`): a `\s*` after `^` would rescan every blank line.
_VERDICT = re.compile(r"Conclusion:[ \t]*(right|wrong)\b", re.IGNORECASE)
_WRONG_STEP = re.compile(r"^[ \t]*Step[ \t]+(\d{1,9})[ \t]*:[ \t]*wrong\b",
                         re.IGNORECASE | re.MULTILINE)
FORMS = ("steps", "checked", "recomputed")
_COMPARED = ("checked", "recomputed")  # forms that write the critic's own line first


def conclusion(verdict: str) -> str:
    return f"Conclusion: {verdict} [END]"


def render_critique(checks: Iterable[StepCheck], verdict: str, form: str = "steps") -> str:
    """Render step checks (stopping at the first wrong one) and the closing verdict line; the
    `checked` and `recomputed` forms compute each line first wherever comparing it with the
    candidate's shows the verdict."""
    if form not in FORMS:
        raise ValueError(f"unknown critique form '{form}' (known: {', '.join(FORMS)})")
    lines = []
    for c in checks:
        if form in _COMPARED and c.expected and (c.expected == c.line.strip()) == c.ok:
            lines += [f"Check: {c.expected}",
                      *([f"Given: {c.line.strip()}"] if form == "checked" else []),
                      f"Step {c.index}: {'correct' if c.ok else 'wrong'}."]
            if not c.ok:
                break
        elif c.ok:
            lines.append(f"Step {c.index}: {c.note} correct.")
        else:
            lines.append(f"Step {c.index}: wrong, {c.reason}.")
            break
    lines.append(conclusion(verdict))
    return "\n".join(lines)


def parse_verdict(text: str) -> str | None:
    """'right', 'wrong', or None when the text has no Conclusion line."""
    m = _VERDICT.search(text)
    return m.group(1).lower() if m else None


def parse_first_error(text: str) -> int | None:
    """The 1-based line the critique blames first, or None if it blames none."""
    m = _WRONG_STEP.search(text)
    return int(m.group(1)) if m else None
