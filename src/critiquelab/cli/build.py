"""`critiquelab build oneshot`: one-shot CFT data from one seed problem."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Annotated

import typer

from critiquelab.errors import UsageError

build_app = typer.Typer(no_args_is_help=True, help="Build training data sets.")


def register(app: typer.Typer) -> None:
    app.add_typer(build_app, name="build")


@build_app.command("oneshot")
def oneshot(
    out: Annotated[Path, typer.Option(help="Output JSONL of prompt/completion records.")],
    world: Annotated[str, typer.Option(help="World of the seed problem.")] = "chain",
    problem: Annotated[str | None, typer.Option(help="The seed problem's text (default: "
                                                     "draw one with --seed).")] = None,
    difficulty: Annotated[int | None, typer.Option(help="Difficulty of a drawn problem.")] = None,
    model: Annotated[list[str] | None, typer.Option(help="A generator model (directory or "
                                                          "preset); repeat for several.")] = None,
    temperature: Annotated[list[float] | None, typer.Option(
        help="Sampling temperature of every model; repeat for several.")] = None,
    samples: Annotated[int, typer.Option(help="Candidates per model and temperature.")] = 10,
    injected: Annotated[int, typer.Option(help="Candidates from the world's error "
                                               "injector.")] = 10,
    error_rate: Annotated[float, typer.Option(help="Share of injector candidates with an "
                                                   "error.")] = 0.5,
    critic: Annotated[list[str] | None, typer.Option(
        help="A teacher: exact[/STYLE], noisy-P[-sSEED][/STYLE] or model[/STYLE] (the "
             "--critic-model), STYLE one of steps, terse, explained; repeat for several.")
    ] = None,
    critic_model: Annotated[str | None, typer.Option(
        help="A model that writes critiques (directory or preset), for --critic model.")
    ] = None,
    teacher: Annotated[list[str] | None, typer.Option(
        help="A teacher endpoint URL::MODEL (OpenAI-compatible); repeat for several.")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API "
                                                  "key.")] = "OPENAI_API_KEY",
    allow_insecure: Annotated[bool, typer.Option(help="Send the API key over plain http to a "
                                                      "non-local host.")] = False,
    keep_all: Annotated[bool, typer.Option(help="Keep critiques with a wrong verdict too.")
                        ] = False,
    fmt: Annotated[str, typer.Option("--format", help="Prompt format: compact or alpaca.")
                   ] = "compact",
    max_new_tokens: Annotated[int, typer.Option(help="Longest model candidate or critique.")
                              ] = 256,
    seed: Annotated[int, typer.Option(help="Seed of the drawn problem and of sampling.")] = 0,
) -> None:
    """Sample candidates of one seed problem from models and the error injector, critique each
    with every teacher, keep the critiques with the right verdict, write them as JSONL."""
    from critiquelab.data.oneshot import (
        InjectorGenerator,
        ModelTeacher,
        build_oneshot,
        critic_teacher,
        world_judge,
    )
    from critiquelab.formats import FORMATS
    from critiquelab.io import write_jsonl
    from critiquelab.worlds import get_world

    w = get_world(world)
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    if min(samples, injected) < 0 or not 0.0 <= error_rate <= 1.0:
        raise UsageError("--samples and --injected must be >= 0 and --error-rate in [0, 1]")
    seed_problem = _seed_problem(w, problem, difficulty, seed)
    generators = [(InjectorGenerator(w, error_rate), injected)] if injected else []
    for spec in model or []:
        generators += _model_generators(spec, temperature or [1.0], max_new_tokens,
                                        FORMATS[fmt], seed, samples)
    critic_lm = None
    if critic_model is not None:
        from critiquelab.models import load_model

        m, tok = load_model(critic_model, seed=seed)
        critic_lm = ModelTeacher(critic_model, m, tok, max_new_tokens, FORMATS[fmt])
    teachers = [critic_teacher(w, spec, critic_lm) for spec in critic or []]
    teachers += [_endpoint(spec, api_key_env, allow_insecure) for spec in teacher or []]
    if not teachers:
        teachers = [critic_teacher(w, "exact")]
    built = build_oneshot(seed_problem, generators, teachers, world_judge(w), FORMATS[fmt],
                          keep_agreeing=not keep_all, seed=seed)
    n = write_jsonl(out, built.records)
    typer.echo(json.dumps(built.summary()))
    typer.echo(f"wrote {n} critique records of problem {seed_problem.id} to {out}")


def _seed_problem(w, text: str | None, difficulty: int | None, seed: int):
    if text is not None:
        try:
            return w.parse_problem(text)
        except ValueError as e:
            raise UsageError(f"--problem is not a {w.name} problem ({e})") from None
    levels = w.difficulties()
    if difficulty is not None and difficulty not in levels:
        raise UsageError(f"--difficulty must be one of {list(levels)} for world '{w.name}'")
    rng = random.Random(seed)
    return w.generate(rng, difficulty if difficulty is not None else rng.choice(levels))


def _model_generators(spec: str, temperatures: list[float], max_new_tokens: int, fmt,
                      seed: int, samples: int) -> list:
    from critiquelab.data.oneshot import ModelGenerator
    from critiquelab.models import load_model

    if any(t < 0 for t in temperatures):
        raise UsageError("--temperature must be >= 0")
    m, tok = load_model(spec, seed=seed)
    return [(ModelGenerator(f"{spec}@T{t}", m, tok, t, max_new_tokens=max_new_tokens, fmt=fmt),
             samples) for t in temperatures]


def _endpoint(spec: str, api_key_env: str, allow_insecure: bool):
    from critiquelab.critics.teacher import (
        ChatClient,
        ResponseCache,
        Sampling,
        TeacherCritic,
        TeacherSpec,
    )
    from critiquelab.data.oneshot import EndpointTeacher
    from critiquelab.experiments.runner import default_cache_dir

    parsed = TeacherSpec.parse(spec)
    client = ChatClient(parsed, parsed.api_key(api_key_env, allow_insecure),
                        ResponseCache(default_cache_dir() / "teacher"), Sampling())
    return EndpointTeacher(f"{parsed.model}@{parsed.base_url}", TeacherCritic(client))
