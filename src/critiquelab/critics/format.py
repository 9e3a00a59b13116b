"""The critique text format shared by every critic and parsed back from model output.

A critique checks the lines of a solution in order, stops at the first wrong one and closes
with the line used by the public CFT data, so datasets interoperate:

    Step 1: b = 7 + 5 = 12 correct.
    Step 2: wrong, 12 * 2 = 24 not 26.
    Conclusion: wrong [END]
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from critiquelab.worlds.base import StepCheck

# Within one line only (`[ \t]`, not `\s`): a `\s*` after `^` would rescan every blank line.
_VERDICT = re.compile(r"Conclusion:[ \t]*(right|wrong)\b", re.IGNORECASE)
_WRONG_STEP = re.compile(r"^[ \t]*Step[ \t]+(\d{1,9})[ \t]*:[ \t]*wrong\b",
                         re.IGNORECASE | re.MULTILINE)


def conclusion(verdict: str) -> str:
    return f"Conclusion: {verdict} [END]"


def render_critique(checks: Iterable[StepCheck], verdict: str) -> str:
    """Render step checks (stopping at the first wrong one) and the closing verdict line."""
    lines = []
    for c in checks:
        if c.ok:
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
