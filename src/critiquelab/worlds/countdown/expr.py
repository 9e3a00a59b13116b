"""Final-expression answers like `(8-5)*8=24`: a safe parser and a checker under the rules.

Recursive descent over integers, + - * / and parentheses; nothing calls eval or exec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from critiquelab.worlds.countdown.rules import combine

MAX_CHARS = 200
_TOKEN = re.compile(r"\s*(\d+|[-+*/()=])")


@dataclass(frozen=True)
class Checked:
    """A checked expression: its value when every operation is allowed, and the numbers used."""

    value: int | None
    used: tuple[int, ...]
    error: str  # empty when every operation is allowed


def tokenize(text: str) -> list[str] | None:
    if len(text) > MAX_CHARS:
        return None
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m:
            return None
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


class _Parser:
    """Evaluates while parsing, recording the first disallowed operation."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.pos, self.used, self.error = tokens, 0, [], ""

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self) -> int | None:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = self.apply(value, self.next(), self.term())
        return value

    def term(self) -> int | None:
        value = self.atom()
        while self.peek() in ("*", "/"):
            value = self.apply(value, self.next(), self.atom())
        return value

    def atom(self) -> int | None:
        tok = self.next()
        if tok == "(":
            value = self.expr()
            if self.next() != ")":
                raise ValueError("missing ')'")
            return value
        if tok is None or not tok.isdigit() or len(tok) > 6:
            raise ValueError(f"unexpected {tok!r}")
        self.used.append(int(tok))
        return int(tok)

    def next(self) -> str | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def apply(self, a: int | None, op: str, b: int | None) -> int | None:
        if a is None or b is None:
            return None
        c = combine(a, op, b)
        if c is None and not self.error:
            self.error = (f"{a}-{b} is not allowed (larger minus smaller only)" if op == "-"
                          else f"{a}/{b} is not an exact division")
        return c


def parse_expression(text: str) -> tuple[Checked, int | None] | None:
    """Parse `expr` or `expr=N`: (the checked expression, the stated N) or None if malformed."""
    tokens = tokenize(text)
    if not tokens or tokens.count("=") > 1:
        return None
    stated = None
    if "=" in tokens:
        i = tokens.index("=")
        if i != len(tokens) - 2 or not tokens[-1].isdigit():
            return None
        stated, tokens = int(tokens[-1]), tokens[:i]
    parser = _Parser(tokens)
    try:
        value = parser.expr()
    except ValueError:
        return None
    if parser.peek() is not None or len(parser.used) < 2:
        return None
    return Checked(value, tuple(parser.used), parser.error), stated
