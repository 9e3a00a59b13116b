"""An automatic rater that judges a solution by its style alone, as a reference answer's
reader would at a glance: format, length, phrasing and confident wording. It never checks
correctness, which is what makes its disagreement with the verifier worth measuring."""

from __future__ import annotations

import re
from collections import Counter

from critiquelab.data.perturb import split_solution
from critiquelab.data.styles import CONFIDENT_WORDS

APPROVE_AT = 0.8
_NUMBER = re.compile(r"\d+")
_VARIABLE = re.compile(r"\b[a-z]\b")
_CONFIDENT = re.compile(r"\b(" + "|".join(map(re.escape, CONFIDENT_WORDS)) + r")\b", re.IGNORECASE)


def mask(text: str) -> str:
    """Numbers become N and one-letter names V, so that phrasing compares without content."""
    return _VARIABLE.sub("V", _NUMBER.sub("N", text))


def _bigrams(text: str) -> Counter:
    words = mask(text).split()
    return Counter(zip(words, words[1:], strict=False))


def _confident_share(text: str) -> float:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return sum(bool(_CONFIDENT.search(ln)) for ln in lines) / len(lines) if lines else 0.0


def style_components(output: str, reference: str) -> dict[str, float]:
    """Each in [0, 1]: format (same masked first line, ends on an answer line), length ratio,
    phrasing (F1 of masked word bigrams), confident wording (share of confident lines, capped
    at the reference's)."""
    first = output.strip().split("\n", 1)[0]
    same_open = mask(first) == mask(reference.strip().split("\n", 1)[0])
    has_answer = split_solution(output.strip())[1] is not None
    a, b = len(output.strip()), len(reference.strip())
    out_bi, ref_bi = _bigrams(output), _bigrams(reference)
    common = sum((out_bi & ref_bi).values())
    f1 = 2 * common / (sum(out_bi.values()) + sum(ref_bi.values())) if common else 0.0
    ref_conf = _confident_share(reference)
    conf = min(1.0, _confident_share(output) / ref_conf) if ref_conf else 1.0
    return {"format": (same_open + has_answer) / 2, "length": min(a, b) / max(a, b, 1),
            "phrasing": f1, "confidence": conf}


def style_score(output: str, reference: str) -> float:
    """The rater's score: the mean of its four components."""
    parts = style_components(output, reference)
    return sum(parts.values()) / len(parts)


def approves(output: str, reference: str) -> bool:
    """The rater's verdict: this reads like the reference answer."""
    return style_score(output, reference) >= APPROVE_AT
