"""Drawing chain problems: a DAG of operations that the question needs, plus distractors."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from string import ascii_lowercase

from critiquelab.worlds.chain.arith import apply
from critiquelab.worlds.chain.model import COMMUTATIVE, OPS, Def, Operand, rhs_key

_TRIES = 50
_CONSUME_WEIGHTS = {0: 1, 1: 4, 2: 2}  # how many unconsumed results an operation joins


@dataclass(frozen=True)
class ChainConfig:
    """The knobs of the chain world (validated on construction)."""

    max_value: int = 99
    max_literal: int = 9
    ops: str = OPS
    distractors: tuple[int, int] = (0, 2)
    min_ops: int = 1
    max_ops: int = 8
    depths: tuple[int, int] | None = None  # the allowed chain lengths; None: any

    def __post_init__(self) -> None:
        for name in ("max_value", "max_literal", "min_ops", "max_ops"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if not 1 <= self.max_literal <= self.max_value:
            raise ValueError(f"need 1 <= max_literal <= max_value, got max_literal="
                             f"{self.max_literal}, max_value={self.max_value}")
        if not self.ops or not set(self.ops) <= set(OPS) or len(set(self.ops)) < len(self.ops):
            raise ValueError(f"ops must be a non-empty subset of '{OPS}', got {self.ops!r}")
        lo, hi = self.distractors
        if not 0 <= lo <= hi:
            raise ValueError(f"distractors must be n >= 0 or (lo, hi) with 0 <= lo <= hi, "
                             f"got {self.distractors!r}")
        if not 1 <= self.min_ops <= self.max_ops:
            raise ValueError(f"need 1 <= min_ops <= max_ops, got {self.min_ops}..{self.max_ops}")
        if self.depths is not None and not 1 <= self.depths[0] <= self.depths[1]:
            raise ValueError(f"depths must be n >= 1 or (lo, hi) with 1 <= lo <= hi, "
                             f"got {self.depths!r}")
        if 1 + self.max_ops + hi > len(ascii_lowercase):
            raise ValueError(f"max_ops + max distractors must be at most 25 (one letter each), "
                             f"got {self.max_ops} + {hi}")
        if self.ops == "+" and self.max_value < self.max_ops + 1:
            raise ValueError(f"with ops '+' only, max_value must be at least max_ops + 1 = "
                             f"{self.max_ops + 1}")

    @classmethod
    def build(cls, max_value: int = 99, max_literal: int = 9, ops: str | Sequence[str] = OPS,
              distractors: int | Sequence[int] = (0, 2), min_ops: int = 1,
              max_ops: int = 8, depths: int | Sequence[int] | None = None) -> ChainConfig:
        """Normalise `ops` (any order), `distractors` and `depths` (n or (lo, hi)), then
        validate."""
        distractors = _pair("distractors", distractors)
        depths = None if depths is None else _pair("depths", depths)
        if not isinstance(ops, str | list | tuple):
            raise ValueError(f"ops must be a string like '+-*', got {ops!r}")
        ops = "".join(map(str, ops))
        if set(ops) <= set(OPS) and len(set(ops)) == len(ops):
            ops = "".join(o for o in OPS if o in ops)
        return cls(max_value, max_literal, ops, distractors, min_ops, max_ops, depths)


def _pair(name: str, value: int | Sequence[int]) -> tuple[int, int]:
    """An int n as (n, n), a two-int sequence as a tuple; anything else is an error."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if not (isinstance(value, Sequence) and len(value) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in value)):
        raise ValueError(f"{name} must be an int or a (lo, hi) pair, got {value!r}")
    return value[0], value[1]


@dataclass(frozen=True)
class _Cand:
    """A candidate operand: a literal, an existing variable, or a constant still to define."""

    kind: str  # "lit", "var" or "new"
    token: Operand | None
    value: int


class _Builder:
    """The growing definitions of one generation attempt."""

    def __init__(self, cfg: ChainConfig, rng: random.Random, owed: int):
        self.cfg, self.rng, self.owed = cfg, rng, owed  # owed: letters kept for later defs
        self.free = list(ascii_lowercase)
        self.defs: list[Def] = []
        self.vals: dict[str, int] = {}
        self.used: set[tuple] = set()

    def add(self, op: str | None, args: tuple[Operand, ...]) -> str:
        var = self.free.pop(self.rng.randrange(len(self.free)))
        d = Def(var, op, args)
        self.defs.append(d)
        nums = [a if isinstance(a, int) else self.vals[a] for a in args]
        self.vals[var] = nums[0] if op is None else apply(op, *nums)
        self.used.add(("=", args[0]) if op is None else rhs_key(op, args))
        self.owed -= op is not None
        return var

    def constants(self) -> list[str]:
        return [d.var for d in self.defs if d.op is None]

    def new_constant(self) -> _Cand | None:
        """A fresh constant with an unused value, if a letter is spare."""
        taken = {self.vals[v] for v in self.constants()}
        choices = [n for n in range(1, self.cfg.max_literal + 1) if n not in taken]
        if len(self.free) <= self.owed or not choices:
            return None
        return _Cand("new", None, self.rng.choice(choices))

    def realise(self, cand: _Cand) -> str | int:
        return self.add(None, (cand.value,)) if cand.kind == "new" else cand.token

    def pool(self, main: str, extra: Sequence[str], fresh: bool = True) -> list[_Cand]:
        """Literals, constants and `extra` variables but `main`, and maybe a new constant."""
        cands = [_Cand("lit", k, k) for k in range(1, self.cfg.max_literal + 1)]
        cands += [_Cand("var", v, self.vals[v]) for v in [*self.constants(), *extra] if v != main]
        new = self.new_constant() if fresh else None
        return cands + [new] if new else cands

    def operation(self, main: str, pool: Sequence[_Cand]) -> str | None:
        """Define `main op other` (either order) for a random in-range choice; None if none is."""
        x, top = self.vals[main], self.cfg.max_value
        moves = [(op, main_first) for op in self.cfg.ops
                 for main_first in ((True, False) if op == "-" else (True,))]
        groups: dict[str, list[tuple[_Cand, str, bool]]] = {}
        for c in pool:
            for op, main_first in moves:
                result = apply(op, x, c.value) if main_first else apply(op, c.value, x)
                if 0 <= result <= top and (c.kind == "new" or rhs_key(
                        op, (main, c.token) if main_first else (c.token, main)) not in self.used):
                    groups.setdefault(c.kind, []).append((c, op, main_first))
        if not groups:
            return None
        c, op, main_first = self.rng.choice(groups[self.rng.choice(sorted(groups))])
        if op in COMMUTATIVE:
            main_first = self.rng.random() < 0.5
        other = self.realise(c)
        return self.add(op, (main, other) if main_first else (other, main))


def _attempt(cfg: ChainConfig, rng: random.Random, n_ops: int,
             n_distractors: int) -> tuple[list[Def], str] | None:
    b = _Builder(cfg, rng, n_ops + n_distractors)
    open_: list[str] = []  # results no operation uses yet; the question ends as the only one
    done: list[str] = []
    for i in range(n_ops):
        left = n_ops - i - 1
        counts = [c for c in (0, 1, 2) if c <= len(open_) and len(open_) - c <= left]
        c = rng.choices(counts, weights=[_CONSUME_WEIGHTS[c] for c in counts])[0]
        joined = rng.sample(open_, c)
        if c == 2:
            main, pool = joined[0], [_Cand("var", joined[1], b.vals[joined[1]])]
        else:
            main = joined[0] if c else b.realise(rng.choice(_starts(b)))
            pool = b.pool(main, done)
        var = b.operation(main, pool)
        if var is None:
            return None
        open_ = [v for v in open_ if v not in b.defs[-1].args] + [var]
        done += joined
    for _ in range(n_distractors):
        _distractor(b)
    return b.defs, open_[0]


def _starts(b: _Builder) -> list[_Cand]:
    """Where a new branch of the DAG may start: an existing or a new constant."""
    new = b.new_constant()
    return [_Cand("var", v, b.vals[v]) for v in b.constants()] + ([new] if new else [])


def _distractor(b: _Builder) -> None:
    """An unneeded definition: a new constant or an operation on existing variables."""
    if b.rng.random() >= 1 / 3:
        main = b.rng.choice(sorted(b.vals))
        if b.operation(main, b.pool(main, [d.var for d in b.defs if d.op], fresh=False)):
            return
    b.owed -= 1
    const = b.new_constant()
    if const:
        b.realise(const)


def _fallback(cfg: ChainConfig, rng: random.Random, n_ops: int) -> tuple[list[Def], str]:
    """A plain chain from 1 by steps of 1 (x * 1, x + 1, x - 1 or 1 - x), always in range."""
    b = _Builder(cfg, rng, n_ops)
    x = b.add(None, (1,))
    for _ in range(n_ops):
        v = b.vals[x]
        choices = [("*", (x, 1), v), ("+", (x, 1), v + 1),
                   ("-", (x, 1), v - 1), ("-", (1, x), 1 - v)]
        op, args, _ = next(c for c in choices if c[0] in cfg.ops and 0 <= c[2] <= cfg.max_value)
        x = b.add(op, args)
    return b.defs, x


def generate_defs(cfg: ChainConfig, rng: random.Random, n_ops: int) -> tuple[list[Def], str]:
    """Definitions (in generation order) and the question variable, needing exactly n_ops ops."""
    n_distractors = rng.randint(*cfg.distractors)
    for _ in range(_TRIES):
        built = _attempt(cfg, rng, n_ops, n_distractors)
        if built:
            return built
    return _fallback(cfg, rng, n_ops)
