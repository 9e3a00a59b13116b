"""A safe integer arithmetic parser: recursive descent over + - *, parentheses and unary minus.

Nothing here calls eval or exec; malformed or oversized input raises ParseError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_TOKENS = 200
MAX_DIGITS = 30
MAX_DEPTH = 60

_ATOM = re.compile(r"[0-9]+|[a-z]+")


class ParseError(ValueError):
    """The text is not a well-formed expression."""


@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Neg:
    arg: Node


@dataclass(frozen=True)
class Bin:
    op: str
    left: Node
    right: Node


Node = Num | Var | Neg | Bin


def apply(op: str, a: int, b: int) -> int:
    """One binary operation on integers."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    raise ValueError(f"unknown operator {op!r}")


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif m := _ATOM.match(text, i):
            tokens.append(m.group())
            i = m.end()
        elif text[i] in "+-*()":
            tokens.append(text[i])
            i += 1
        else:
            raise ParseError(f"unexpected character {text[i]!r}")
        if len(tokens) > MAX_TOKENS:
            raise ParseError("expression too long")
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens, self.pos, self.depth = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = Bin(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() == "*":
            self.take()
            node = Bin("*", node, self.unary())
        return node

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("expression nested too deeply")
        try:
            return self.atom()
        finally:
            self.depth -= 1

    def atom(self) -> Node:
        tok = self.take()
        if tok is None:
            raise ParseError("unexpected end of expression")
        if tok == "-":
            return Neg(self.unary())
        if tok == "(":
            node = self.expr()
            if self.take() != ")":
                raise ParseError("missing ')'")
            return node
        if tok.isdigit():
            if len(tok) > MAX_DIGITS:
                raise ParseError("number too long")
            return Num(int(tok))
        if tok.isalpha():
            return Var(tok)
        raise ParseError(f"unexpected {tok!r}")


def parse_expr(text: str) -> Node:
    """Parse one whole expression; raises ParseError on anything else."""
    parser = _Parser(tokenize(text))
    node = parser.expr()
    if parser.peek() is not None:
        raise ParseError(f"unexpected {parser.peek()!r}")
    return node


def evaluate(node: Node, env: Mapping[str, int] | None = None) -> int:
    """The integer value of a parsed expression, reading variables from env."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        return -evaluate(node.arg, env)
    if isinstance(node, Var):
        if env is None or node.name not in env:
            raise ParseError(f"unknown variable {node.name!r}")
        return env[node.name]
    return apply(node.op, evaluate(node.left, env), evaluate(node.right, env))


def as_int(node: Node) -> int | None:
    """The integer a node spells directly (`12` or `-12`), else None."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg) and isinstance(node.arg, Num):
        return -node.arg.value
    return None


def binary(node: Node, allow_vars: bool) -> tuple[int | str, str, int | str] | None:
    """`left op right` over integers (and variable names if allowed), else None."""
    if not isinstance(node, Bin):
        return None
    sides: list[int | str] = []
    for side in (node.left, node.right):
        n = as_int(side)
        if n is None and not (allow_vars and isinstance(side, Var)):
            return None
        sides.append(side.name if n is None else n)
    return sides[0], node.op, sides[1]
