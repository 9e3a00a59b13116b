"""Record builders for any world: pretraining text, imitation (SFT) and critique (CFT) data,
and token-budget matching so arms train on the same number of tokens."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from itertools import cycle

from critiquelab.critics.base import Critic
from critiquelab.formats import PromptFormat, critique_record, solve_record
from critiquelab.worlds.base import Problem, World

SFT_SOURCES = ("gold", "raw", "verified")


def sft_records(world: World, problems: Sequence[Problem], fmt: PromptFormat,
                rng: random.Random, source: str, error_rate: float) -> Iterator[dict]:
    """Imitation records, cycling over problems: `gold` canonical solutions, `raw` noisy
    candidates (flawed with probability error_rate), `verified` only the correct raw ones."""
    if source not in SFT_SOURCES:
        raise ValueError(f"unknown SFT source '{source}'")
    for p in cycle(problems):
        if source == "gold":
            yield solve_record(fmt, p.text, world.solve(p), problem_id=p.id)
            continue
        sol = world.sample_solution(p, rng, error_rate)
        if source == "verified" and not world.verify(p, sol).correct:
            continue
        yield solve_record(fmt, p.text, sol, problem_id=p.id)


def cft_records(world: World, problems: Sequence[Problem], fmt: PromptFormat,
                rng: random.Random, critic: Critic, error_rate: float) -> Iterator[dict]:
    """Critique records, cycling over problems: question + noisy candidate -> critique."""
    for p in cycle(problems):
        sol = world.sample_solution(p, rng, error_rate)
        c = critic.critique(p, sol)
        yield critique_record(fmt, p.text, sol, c.text, problem_id=p.id, verdict=c.verdict)


def pretrain_corpus(world: World, problems: Sequence[Problem], fmt: PromptFormat,
                    rng: random.Random, critic: Critic, error_rate: float,
                    critique_share: float) -> list[dict]:
    """Web-like text: one solution per problem of mixed, unlabelled quality, and for a
    `critique_share` of problems a critique of a further candidate."""
    docs = []
    for p in problems:
        sol = world.sample_solution(p, rng, error_rate)
        docs.append({"text": fmt.solve_prompt(p.text) + sol + "\n"})
        if rng.random() < critique_share:
            cand = world.sample_solution(p, rng, error_rate)
            crit = critic.critique(p, cand).text
            docs.append({"text": fmt.critique_prompt(p.text, cand) + crit + "\n"})
    rng.shuffle(docs)
    return docs


def record_tokens(record: dict, tokenizer) -> int:
    """Tokens a record costs in training (prompt + completion + EOS, or text + EOS)."""
    text = record["text"] if "text" in record else record["prompt"] + record["completion"]
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1


def take_token_budget(records: Iterable[dict], tokenizer, budget: int,
                      max_records: int = 10_000_000) -> list[dict]:
    """Take records in order until their tokens reach `budget` (the last one may cross it)."""
    out, used = [], 0
    for r in records:
        if used >= budget or len(out) >= max_records:
            break
        out.append(r)
        used += record_tokens(r, tokenizer)
    return out
