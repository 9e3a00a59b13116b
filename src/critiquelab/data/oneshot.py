"""One-shot CFT data (CLAIMS.md C4): one seed problem, candidate solutions from several
generators, critiques of every candidate from several teachers, optionally only the critiques
whose verdict is right.

Generators are models at a temperature (`ModelGenerator`) or a world's error injector
(`InjectorGenerator`); teachers are any critic (`CriticTeacher`: exact, noisy, styled, GSM8K),
a model that writes critiques (`ModelTeacher`, e.g. a CFT-trained critic) or an
OpenAI-compatible endpoint (`EndpointTeacher`). Each teacher belongs to a family, the source of
its judgement (exact, noisy, model, ...); styles only change how a verdict is written. A judge
says whether a candidate is right.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from critiquelab.critics.base import Critic, ExactCritic, NoisyCritic
from critiquelab.critics.format import parse_verdict
from critiquelab.critics.styles import STYLES, StyledCritic, restyle
from critiquelab.errors import UsageError
from critiquelab.formats import COMPACT, PromptFormat, critique_record, solve_record
from critiquelab.io import stable_hash
from critiquelab.worlds.base import Problem, World

Judge = Callable[[Problem, str], bool]


class Generator(Protocol):
    name: str

    def sample(self, problem: Problem, n: int, seed: int) -> list[str]:
        """n candidate solutions of `problem`, reproducible from `seed`."""
        ...


class Teacher(Protocol):
    name: str
    family: str  # the source of its judgement, for per-family counts

    def critique_all(self, problem: Problem, solutions: Sequence[str]) -> list[str | None]:
        """One critique text per solution; None where the teacher gave no answer."""
        ...


@dataclass
class ModelGenerator:
    """A causal LM sampling solutions at one temperature."""

    name: str
    model: Any
    tokenizer: Any
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    fmt: PromptFormat = COMPACT

    def sample(self, problem: Problem, n: int, seed: int) -> list[str]:
        from critiquelab.models.generate import generate

        prompt = self.fmt.solve_prompt(problem.text)
        return generate(self.model, self.tokenizer, [prompt], self.max_new_tokens, n=n,
                        temperature=self.temperature, top_p=self.top_p, seed=seed)[0]


@dataclass
class InjectorGenerator:
    """The world's canonical solution, or with probability error_rate a typed-error one."""

    world: World
    error_rate: float = 0.5
    name: str = "injector"

    def sample(self, problem: Problem, n: int, seed: int) -> list[str]:
        rng = random.Random(stable_hash([self.name, seed, problem.id]))
        return [self.world.sample_solution(problem, rng, self.error_rate) for _ in range(n)]


@dataclass
class CriticTeacher:
    """Any critic (exact, noisy, styled, GSM8K) as a teacher."""

    name: str
    critic: Critic
    family: str = "critic"

    def critique_all(self, problem: Problem, solutions: Sequence[str]) -> list[str | None]:
        return [self.critic.critique(problem, s).text for s in solutions]


@dataclass
class EndpointTeacher:
    """A chat model behind an OpenAI-compatible API (critics.teacher.TeacherCritic)."""

    name: str
    critic: Any  # TeacherCritic
    family: str = "endpoint"

    def critique_all(self, problem: Problem, solutions: Sequence[str]) -> list[str | None]:
        return self.critic.critique_texts([(problem.text, s) for s in solutions])


END = "[END]"  # closes every critique (critics/format.py)


@dataclass
class ModelTeacher:
    """A causal LM that writes critiques (greedy, from the format's critique prompt), cut after
    its closing `[END]` and rewritten in `style`: e.g. a critic trained by CFT."""

    name: str
    model: Any
    tokenizer: Any
    max_new_tokens: int = 256
    fmt: PromptFormat = COMPACT
    style: str = "steps"
    family: str = "model"

    def critique_all(self, problem: Problem, solutions: Sequence[str]) -> list[str | None]:
        from critiquelab.models.generate import generate

        prompts = [self.fmt.critique_prompt(problem.text, s) for s in solutions]
        outs = generate(self.model, self.tokenizer, prompts, self.max_new_tokens)
        return [restyle(_through_end(o[0]), self.style) for o in outs]


def _through_end(text: str) -> str:
    """`text` up to and including its first END mark (all of it when there is none)."""
    i = text.find(END)
    return text if i < 0 else text[:i + len(END)]


_CRITIC_SPEC = re.compile(r"(exact|model|noisy-(\d*\.?\d+)(?:-s(\d+))?)(?:/(\w+))?")


def critic_teacher(world: World, spec: str, model: ModelTeacher | None = None) -> Teacher:
    """A teacher from `exact[/STYLE]`, `noisy-P[-sSEED][/STYLE]` (`noisy-0.2-s1/terse`) or
    `model[/STYLE]` (`model`, the critic model, in that style); its family is the first word."""
    m = _CRITIC_SPEC.fullmatch(spec)
    if not m or (m.group(4) or "steps") not in STYLES:
        raise UsageError(f"critic '{spec}' must read exact[/STYLE], noisy-P[-sSEED][/STYLE] "
                         f"or model[/STYLE] with STYLE one of {', '.join(STYLES)}")
    style = m.group(4) or "steps"
    name = spec if m.group(4) else f"{spec}/steps"
    if m.group(1) == "model":
        if model is None:
            raise UsageError(f"critic '{spec}' needs a critic model (--critic-model)")
        return replace(model, name=name, style=style, family="model")
    rate = m.group(2)
    if rate is not None and not 0.0 <= float(rate) <= 1.0:
        raise UsageError(f"critic '{spec}': the noise rate must be in [0, 1]")
    critic: Critic = (ExactCritic(world) if rate is None
                      else NoisyCritic(world, float(rate), int(m.group(3) or 0)))
    return CriticTeacher(name, critic if style == "steps" else StyledCritic(critic, style),
                         "exact" if rate is None else "noisy")


def world_judge(world: World) -> Judge:
    """A candidate is right when the world verifies every line and the final answer."""
    return lambda problem, solution: world.verify(problem, solution).correct


@dataclass(frozen=True)
class OneShotCandidate:
    generator: str
    solution: str
    correct: bool


@dataclass
class TeacherCount:
    critiques: int = 0
    failed: int = 0  # the teacher gave no answer
    unparsed: int = 0  # the critique has no Conclusion line
    agree: int = 0  # its verdict matches the judge
    kept: int = 0


@dataclass
class OneShotBuild:
    """Candidates, kept critique records and the counts behind them."""

    problem: Problem
    candidates: list[OneShotCandidate] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    teachers: dict[str, TeacherCount] = field(default_factory=dict)
    family_of: dict[str, str] = field(default_factory=dict)  # teacher name -> family

    def correct_solutions(self) -> list[str]:
        return [c.solution for c in self.candidates if c.correct]

    def summary(self) -> dict:
        """Candidates right/wrong (per generator), critiques made/agreeing/kept (per teacher
        and per family, with the family's share of critiques whose verdict is right)."""
        by_gen: dict[str, dict[str, int]] = {}
        for c in self.candidates:
            g = by_gen.setdefault(c.generator, {"right": 0, "wrong": 0})
            g["right" if c.correct else "wrong"] += 1
        right = len(self.correct_solutions())
        by_family = {f: _totals([t for n, t in self.teachers.items() if self.family_of[n] == f])
                     for f in dict.fromkeys(self.family_of.values())}
        return {"problem_id": self.problem.id, "candidates": len(self.candidates),
                "right": right, "wrong": len(self.candidates) - right,
                "distinct": len({c.solution for c in self.candidates}),
                **_totals(list(self.teachers.values())), "by_generator": by_gen,
                "by_teacher": {n: vars(t).copy() for n, t in self.teachers.items()},
                "by_family": by_family}


def _totals(counts: list[TeacherCount]) -> dict:
    """Summed counts and the share of critiques whose verdict is right (right_share)."""
    out: dict = {k: sum(getattr(t, k) for t in counts)
                 for k in ("critiques", "failed", "unparsed", "agree", "kept")}
    out["right_share"] = out["agree"] / out["critiques"] if out["critiques"] else 0.0
    return out


def build_oneshot(problem: Problem, generators: Sequence[tuple[Generator, int]],
                  teachers: Sequence[Teacher], judge: Judge, fmt: PromptFormat = COMPACT,
                  keep_agreeing: bool = True, seed: int = 0) -> OneShotBuild:
    """Sample n candidates from each (generator, n), have every teacher critique every
    candidate, and keep the parsable critiques (only those the judge agrees with if
    `keep_agreeing`) as prompt/completion records with their provenance."""
    if not generators or not teachers:
        raise UsageError("one-shot data needs at least one generator and one teacher")
    out = OneShotBuild(problem)
    for i, (gen, n) in enumerate(generators):
        if n < 0:
            raise UsageError(f"generator '{gen.name}': sample count must be >= 0, got {n}")
        for sol in gen.sample(problem, n, seed=int(stable_hash([seed, i, gen.name], 8), 16)):
            out.candidates.append(OneShotCandidate(gen.name, sol, judge(problem, sol)))
    solutions = [c.solution for c in out.candidates]
    for t in teachers:
        count = out.teachers.setdefault(t.name, TeacherCount())
        out.family_of[t.name] = t.family
        for c, text in zip(out.candidates, t.critique_all(problem, solutions), strict=True):
            count.critiques += 1
            verdict = parse_verdict(text) if text is not None else None
            count.failed += text is None
            count.unparsed += text is not None and verdict is None
            if verdict is None:
                continue
            expected = "right" if c.correct else "wrong"
            count.agree += verdict == expected
            if keep_agreeing and verdict != expected:
                continue
            count.kept += 1
            out.records.append(critique_record(fmt, problem.text, c.solution, text,
                                               problem_id=problem.id, generator=c.generator,
                                               teacher=t.name, verdict=verdict,
                                               reference_verdict=expected))
    return out


def solution_records(build: OneShotBuild, fmt: PromptFormat = COMPACT) -> list[dict]:
    """Imitation records of the seed problem: its correct candidates (one-shot SFT)."""
    return [solve_record(fmt, build.problem.text, s, problem_id=build.problem.id)
            for s in build.correct_solutions()]
