"""Seeded perturbations of step-by-step solutions: content (numbers) and structure (steps).

A solution is its lines. The last line is the *answer line* when it states the final answer
(`Answer: 17`, `#### 72`, `The answer is ...`); every other line is a *step*. Every builder
keeps the answer line intact, so a perturbed demonstration still ends on the right answer.
Structural builders touch k steps, where k is `rate * steps` rounded stochastically (floor,
plus one with probability equal to the fraction), so the expected share of steps is `rate`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from critiquelab.errors import UsageError

KINDS = ("numbers", "shuffle", "delete", "insert", "keywords")
_ANSWER_LINE = re.compile(r"\s*(answer\s*:|####|(the )?(final )?answer is\b)", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
REFLECTION_WORDS = ("wait", "hmm", "let me check", "let me verify", "let me double-check",
                    "alternatively", "on second thought", "actually")
TRANSITION_WORDS = ("so", "therefore", "thus", "hence", "then", "next", "first", "finally",
                    "now", "this means", "that means", "however", "but")
_KEYWORD = re.compile(  # a keyword opening a line or a clause, with its comma
    r"(?P<pre>^|[.!?;:,]\s+)(?:" + "|".join(
        re.escape(w) for w in sorted(REFLECTION_WORDS + TRANSITION_WORDS, key=len, reverse=True))
    + r")\b,?\s*", re.IGNORECASE)


def split_solution(text: str) -> tuple[list[str], str | None, str]:
    """(steps, answer line or None, trailing newlines) such that join_solution inverts it."""
    body = text.rstrip("\n")
    lines = body.split("\n") if body else []
    if lines and _ANSWER_LINE.match(lines[-1]):
        return lines[:-1], lines[-1], text[len(body):]
    return lines, None, text[len(body):]


def join_solution(steps: Sequence[str], answer: str | None, trailing: str = "") -> str:
    return "\n".join([*steps, *([answer] if answer is not None else [])]) + trailing


def count_steps(text: str) -> int:
    return len(split_solution(text)[0])


def _how_many(rate: float, n: int, rng: random.Random) -> int:
    """rate * n, rounded down or up at random so that its expectation is rate * n."""
    exact = rate * n
    k = int(exact)
    return k + (rng.random() < exact - k)


def _random_like(number: str, rng: random.Random) -> str:
    """A different number of the same shape (digit count, decimal places)."""
    while True:
        digits = [str(rng.randrange(1 if i == 0 and len(number.split(".")[0]) > 1 else 0, 10))
                  if ch.isdigit() else ch for i, ch in enumerate(number)]
        new = "".join(digits)
        if new != number:
            return new


def corrupt_numbers(text: str, rate: float, rng: random.Random) -> str:
    """Content: each number in a step becomes a random different number of the same shape with
    probability `rate`. Keeps the answer line, the step count, every non-digit character and
    the text length."""
    steps, answer, trailing = split_solution(text)

    def swap(m: re.Match) -> str:
        return _random_like(m.group(0), rng) if rng.random() < rate else m.group(0)

    return join_solution([_NUMBER.sub(swap, s) for s in steps], answer, trailing)


def shuffle_steps(text: str, rate: float, rng: random.Random) -> str:
    """Structure: k steps (k ~ rate * steps) leave their places, cycled among those places so
    that each of them moves (k < 2 moves nothing). Keeps the multiset of steps, the step count
    and the answer line."""
    steps, answer, trailing = split_solution(text)
    k = _how_many(rate, len(steps), rng)
    if k < 2:
        return text
    places = rng.sample(range(len(steps)), k)
    out = list(steps)
    for src, dst in zip(places, places[1:] + places[:1], strict=True):
        out[dst] = steps[src]
    return join_solution(out, answer, trailing)


def delete_steps(text: str, rate: float, rng: random.Random) -> str:
    """Structure: k steps (k ~ rate * steps) are removed. Keeps the order of the others and
    the answer line."""
    steps, answer, trailing = split_solution(text)
    gone = set(rng.sample(range(len(steps)), _how_many(rate, len(steps), rng)))
    if not gone:
        return text
    return join_solution([s for i, s in enumerate(steps) if i not in gone], answer, trailing)


def insert_steps(text: str, rate: float, rng: random.Random, pool: Sequence[str]) -> str:
    """Structure: k irrelevant steps (k ~ rate * steps), drawn from `pool` (steps of other
    solutions), go in at random places. Keeps every original step in order and the answer line."""
    steps, answer, trailing = split_solution(text)
    k = _how_many(rate, len(steps), rng)
    if k == 0:
        return text
    if not pool:
        raise UsageError("inserting steps needs a pool of steps from other solutions")
    out = list(steps)
    for _ in range(k):
        out.insert(rng.randrange(len(out) + 1), rng.choice(pool))
    return join_solution(out, answer, trailing)


def remove_keywords(text: str, rate: float, rng: random.Random) -> str:
    """Style: each reflection or transition word ("Wait", "So", "Therefore", ...) that opens a
    step or a clause is dropped with probability `rate`, with its comma; a step's first letter
    is recapitalised.
    Keeps the answer line and the step count; identity on solutions without such words."""
    steps, answer, trailing = split_solution(text)

    def drop(m: re.Match) -> str:
        return m.group("pre") if rng.random() < rate else m.group(0)

    out = []
    for s in steps:
        new = _KEYWORD.sub(drop, s)
        if new != s and new[:1].islower() and s[:1].isupper():
            new = new[0].upper() + new[1:]
        out.append(new)
    return join_solution(out, answer, trailing)


_BUILDERS: dict[str, Callable[[str, float, random.Random], str]] = {
    "numbers": corrupt_numbers, "shuffle": shuffle_steps, "delete": delete_steps,
    "keywords": remove_keywords,
}


def perturb(text: str, kind: str, rate: float, rng: random.Random,
            pool: Sequence[str] = ()) -> str:
    """Apply one perturbation kind at `rate` in [0, 1]; `pool` is only used by `insert`."""
    check_kind_rate(kind, rate)
    if kind == "insert":
        return insert_steps(text, rate, rng, pool)
    return _BUILDERS[kind](text, rate, rng)


def check_kind_rate(kind: str, rate: float) -> None:
    if kind not in KINDS:
        raise UsageError(f"unknown perturbation '{kind}' (known: {', '.join(KINDS)})")
    if not 0.0 <= rate <= 1.0:
        raise UsageError(f"perturbation rate must be in [0, 1], got {rate}")


def first_draw(text: str, kind: str, rate: float, rng: random.Random,
               accept: Callable[[str], bool], draws: int, pool: Sequence[str] = ()) -> str | None:
    """The first of `draws` perturbations of `text` from `rng` that `accept` takes (e.g. one a
    verifier rejects), or None: how a dataset gets an exact share of broken solutions."""
    for _ in range(draws):
        out = perturb(text, kind, rate, rng, pool)
        if accept(out):
            return out
    return None


def step_pools(texts: Sequence[str]) -> list[Sequence[str]]:
    """For each solution, the steps of all the others (what `insert` draws from), as views of
    one shared list."""
    flat: list[str] = []
    spans = []
    for t in texts:
        steps = split_solution(t)[0]
        spans.append((len(flat), len(flat) + len(steps)))
        flat += steps
    return [_Without(flat, *span) for span in spans]


def perturb_texts(texts: Sequence[str], kind: str, rate: float, seed: int) -> list[str]:
    """Perturb a dataset of solutions; text i uses its own rng (seed, kind, i), and `insert`
    draws its steps from the other solutions of the dataset."""
    check_kind_rate(kind, rate)
    pools = step_pools(texts) if kind == "insert" else [()] * len(texts)
    return [perturb(text, kind, rate, random.Random(f"perturb:{seed}:{kind}:{i}"), pool)
            for i, (text, pool) in enumerate(zip(texts, pools, strict=True))]


class _Without(Sequence[str]):
    """A view of `items` without the slice [start, stop): the other solutions' steps."""

    def __init__(self, items: list[str], start: int, stop: int):
        self.items, self.start, self.gap = items, start, stop - start

    def __len__(self) -> int:
        return len(self.items) - self.gap

    def __getitem__(self, j):
        if not 0 <= j < len(self):
            raise IndexError(j)
        return self.items[j if j < self.start else j + self.gap]


def solution_field(record: dict, field: str, where: str) -> str:
    """The field a record's solution is in: `field`, or GSM8K's `answer` when `field` is the
    default `solution` and absent."""
    for name in (field, "answer") if field == "solution" else (field,):
        if isinstance(record.get(name), str):
            return name
    raise UsageError(f"{where}: no string field '{field}'"
                     + (" (nor 'answer')" if field == "solution" else ""))


def perturb_records(records: Sequence[dict], kind: str, rate: float, seed: int,
                    field: str = "solution", source: str = "<records>") -> list[dict]:
    """Copies of records with their solution field perturbed; every other field is kept."""
    names = [solution_field(r, field, f"{source}:{i}") for i, r in enumerate(records, start=1)]
    texts = perturb_texts([r[n] for r, n in zip(records, names, strict=True)], kind, rate, seed)
    return [{**r, n: t} for r, n, t in zip(records, names, texts, strict=True)]
