"""Exact, safe arithmetic on written numbers: + - * / and parentheses over decimals.

Used to check calculations that real solutions write down (`48/2 = 24`, `<<0.2*50=10>>`).
Values are Fractions, so `0.1+0.2=0.3` is exact; nothing here calls eval or exec, and
malformed or oversized input raises ArithError.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_TOKENS = 200
MAX_DIGITS = 40
MAX_DEPTH = 40
MAX_MAGNITUDE = 10**200  # larger numerators or denominators are refused (and stay float-safe)

NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_TOKEN = re.compile(rf"\s*({NUMBER}|[-+*/×÷()])")
_OPS = {"×": "*", "÷": "/"}


class ArithError(ValueError):
    """The text is not a well-formed arithmetic expression, or it cannot be evaluated."""


def parse_number(text: str) -> Fraction:
    """The exact value of a written decimal such as `1,234.50` or `.25`."""
    text = text.replace(",", "")
    if len(text) > MAX_DIGITS:
        raise ArithError("number too long")
    return Fraction(text)


def decimals(text: str) -> int:
    """How many digits a written number has after its decimal point."""
    return len(text.split(".", 1)[1]) if "." in text else 0


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ArithError(f"unexpected character {text[pos:].lstrip()[:1]!r}")
        tokens.append(_OPS.get(m.group(1), m.group(1)))
        pos = m.end()
        if len(tokens) > MAX_TOKENS:
            raise ArithError("expression too long")
    return tokens


class _Evaluator:
    """Recursive descent: expr = term (('+'|'-') term)*; term = unary (('*'|'/') unary)*."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.pos, self.depth = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return _bounded(value)

    def term(self) -> Fraction:
        value = self.unary()
        while self.peek() in ("*", "/"):
            op, right = self.take(), self.unary()
            if op == "/" and right == 0:
                raise ArithError("division by zero")
            value = _bounded(value * right if op == "*" else value / right)
        return value

    def unary(self) -> Fraction:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ArithError("expression nested too deeply")
        try:
            tok = self.take()
            if tok == "-":
                return -self.unary()
            if tok == "+":
                return self.unary()
            if tok == "(":
                value = self.expr()
                if self.take() != ")":
                    raise ArithError("missing ')'")
                return value
            if tok is None or tok in "*/)":
                raise ArithError(f"unexpected {tok or 'end of expression'!r}")
            return parse_number(tok)
        finally:
            self.depth -= 1


def _bounded(value: Fraction) -> Fraction:
    if abs(value.numerator) > MAX_MAGNITUDE or value.denominator > MAX_MAGNITUDE:
        raise ArithError("number too large")
    return value


def evaluate(text: str) -> Fraction:
    """The exact value of an arithmetic expression; raises ArithError on anything else."""
    tokens = tokenize(text)
    if not tokens:
        raise ArithError("empty expression")
    ev = _Evaluator(tokens)
    value = ev.expr()
    if ev.peek() is not None:
        raise ArithError(f"unexpected {ev.peek()!r}")
    return value


def has_operator(text: str) -> bool:
    """Whether an expression does any arithmetic (not just a signed number)."""
    return any(t in "+-*/" for t in tokenize(text)[1:])


FLOAT_TOLERANCE = Fraction(1, 10**9)  # calculators write 15 as 14.999999999999998


def matches(value: Fraction, written: str) -> bool:
    """Whether a written number states `value`: to the precision it was written with (an
    integer exactly), up to float rounding."""
    error = abs(value - parse_number(written))
    places = decimals(written)
    if places and error <= Fraction(1, 2 * 10**places):
        return True
    return error <= FLOAT_TOLERANCE * max(1, abs(value))


def fmt(value: Fraction) -> str:
    """A short decimal rendering: `24`, `0.2`, `3.333`."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.4f}".rstrip("0").rstrip(".")
