"""Metrics from greedy generations: solving, surface format, critique verdicts, localisation.

Every metric returns one score per item (0/1 floats) so statistics can resample items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from critiquelab.critics.format import parse_first_error, parse_verdict
from critiquelab.formats import PromptFormat
from critiquelab.models.generate import generate
from critiquelab.worlds.base import Problem, World


@dataclass(frozen=True)
class Candidate:
    """A held-out candidate solution with its exact verdict, for critique metrics."""

    problem: Problem
    solution: str
    verdict: str
    first_error_step: int | None


@dataclass
class SplitScores:
    """Per-item scores of one model on one split; absent metrics stay empty."""

    scores: dict[str, list[float]] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)


def solve_scores(world: World, model, tokenizer, fmt: PromptFormat, problems: Sequence[Problem],
                 max_new_tokens: int, batch_size: int = 64) -> SplitScores:
    """`solve_accuracy` (final answer right) and `format_rate` (output parses as a solution)."""
    prompts = [fmt.solve_prompt(p.text) for p in problems]
    outs = [o[0] for o in generate(model, tokenizer, prompts, max_new_tokens,
                                   batch_size=batch_size)]
    return score_solutions(world, problems, outs)


def score_solutions(world: World, problems: Sequence[Problem], outputs: list[str]
                    ) -> SplitScores:
    """solve_scores of outputs already generated (a checkpoint probe's, reused at test)."""
    checks = [world.verify(p, o) for p, o in zip(problems, outputs, strict=True)]
    return SplitScores({"solve_accuracy": [float(v.answer_correct) for v in checks],
                        "format_rate": [float(v.parsed) for v in checks]}, list(outputs))


def critique_scores(model, tokenizer, fmt: PromptFormat, candidates: Sequence[Candidate],
                    max_new_tokens: int, batch_size: int = 64) -> SplitScores:
    """`critique_accuracy` (verdict right) on all candidates and `error_localization`
    (first wrong line named) on the wrong ones."""
    prompts = [fmt.critique_prompt(c.problem.text, c.solution) for c in candidates]
    outs = [o[0] for o in generate(model, tokenizer, prompts, max_new_tokens,
                                   batch_size=batch_size)]
    verdicts = [float(parse_verdict(o) == c.verdict) for c, o in zip(candidates, outs, strict=True)]
    located = [float(parse_first_error(o) == c.first_error_step)
               for c, o in zip(candidates, outs, strict=True) if c.verdict == "wrong"]
    return SplitScores({"critique_accuracy": verdicts, "error_localization": located}, outs)
