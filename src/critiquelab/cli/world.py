"""`critiquelab world sample|critique`: look inside a world."""

from __future__ import annotations

import json
import random
import sys
from typing import Annotated

import typer

from critiquelab.errors import UsageError

world_app = typer.Typer(no_args_is_help=True, help="Look inside a world: sample and critique.")


def register(app: typer.Typer) -> None:
    app.add_typer(world_app, name="world")


@world_app.command("sample")
def world_sample(
    world: Annotated[str, typer.Argument(help="World name, e.g. chain.")],
    n: Annotated[int, typer.Option(help="How many problems.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    difficulty: Annotated[int | None, typer.Option(help="Fixed difficulty.")] = None,
) -> None:
    """Print N problems as JSONL: problem, solution, answer, difficulty."""
    from critiquelab.worlds import get_world

    w = get_world(world)
    if n < 0:
        raise UsageError(f"--n must be non-negative, got {n}")
    levels = w.difficulties()
    if difficulty is not None and difficulty not in levels:
        raise UsageError(f"--difficulty must be one of {list(levels)} for world '{world}'")
    rng = random.Random(seed)
    for _ in range(n):
        p = w.generate(rng, difficulty if difficulty is not None else rng.choice(levels))
        typer.echo(json.dumps({**p.to_dict(), "solution": w.solve(p)}))


@world_app.command("critique")
def world_critique(
    world: Annotated[str, typer.Argument(help="World name, e.g. chain.")],
    noise: Annotated[float, typer.Option(help="Critic noise rate p in [0, 1].")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the noisy critic.")] = 0,
) -> None:
    """Read JSONL {problem, solution} on stdin; print {verdict, first_error_step, critique}."""
    from critiquelab.critics import ExactCritic, NoisyCritic
    from critiquelab.io import iter_jsonl, require_field
    from critiquelab.worlds import get_world

    w = get_world(world)
    if not 0.0 <= noise <= 1.0:
        raise UsageError(f"--noise must be in [0, 1], got {noise}")
    critic = NoisyCritic(w, noise, seed) if noise > 0 else ExactCritic(w)
    for i, rec in enumerate(iter_jsonl(sys.stdin), start=1):
        where = f"<stdin>:{i}"
        text = require_field(rec, "problem", str, where)
        solution = require_field(rec, "solution", str, where)
        try:
            problem = w.parse_problem(text)
        except ValueError as e:
            raise UsageError(f"{where}: field 'problem' is not a {world} problem ({e})") from None
        typer.echo(json.dumps(critic.critique(problem, solution).to_dict()))


