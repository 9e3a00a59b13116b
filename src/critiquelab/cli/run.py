"""`critiquelab run` and `critiquelab list`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from critiquelab.errors import UsageError

REPORT_TO_HELP = ("Track every training run: none, tensorboard (event files in each run's "
                  "directory), wandb or trackio; one run per cell, named "
                  "<experiment>/<arm>/seed<k>.")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("list")(list_all)


def run(
    experiment: Annotated[str, typer.Argument(help="Experiment name (see `critiquelab list`).")],
    preset: Annotated[str, typer.Option(help="smoke, default or full.")] = "default",
    out: Annotated[Path | None, typer.Option(help="Output directory (resumable).")] = None,
    seeds: Annotated[int | None, typer.Option(help="Number of seeds (default 3).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Cache for base models.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
    model: Annotated[str | None, typer.Option(help="Override the preset's model (see "
                                                   "`critiquelab train --help`).")] = None,
    data: Annotated[Path | None, typer.Option(help="Data directory, for experiments on "
                                                   "real data (e.g. GSM8K).")] = None,
    report_to: Annotated[str, typer.Option(help=REPORT_TO_HELP)] = "none",
    workers: Annotated[int, typer.Option(help="Cells computed side by side in separate "
                                              "processes (0: one per free core when "
                                              "there are enough cells).")] = 0,
    executor: Annotated[str, typer.Option(help="Where cells run: local, ray (RAY_ADDRESS or a "
                                               "local instance) or slurm (submitit).")] = "local",
    slurm: Annotated[list[str] | None, typer.Option(help="A submitit option for --executor "
                                                        "slurm, KEY=VALUE (repeatable), e.g. "
                                                        "slurm_partition=cpu.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of preset overrides, "
                                                     "deep-merged into the preset.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override one preset key, e.g. --set finetune.learning_rate=1e-4 "
                      "(repeatable; applied after --config).")] = None,
    arms: Annotated[str | None, typer.Option(help="Comma-separated arms to run (and the "
                                                  "arms their gates refer to).")] = None,
) -> None:
    """Run an experiment; write results.json, report.md, report.html and plots to --out."""
    from critiquelab.experiments import get_experiment
    from critiquelab.experiments.config import load_config, parse_set
    from critiquelab.experiments.runner import make_context, run_experiment
    from critiquelab.reporting import print_summary
    from critiquelab.training.tracking import check_tracker

    exp = get_experiment(experiment)
    tracker = check_tracker(report_to)
    out = out or Path("runs") / f"{experiment}-{preset}"
    options = {k: v for k, v in (("model", model), ("data", data and str(data.resolve())))
               if v is not None}
    for key in options:
        if preset in exp.presets and key not in exp.presets[preset]:
            raise UsageError(f"experiment '{experiment}' has no --{key} option")
    overrides = {**parse_set(set_ or []), **options}
    ctx = make_context(exp, preset, seeds, out, cache, progress=not quiet, overrides=overrides,
                       config=load_config(config) if config else None,
                       arms=[a.strip() for a in arms.split(",") if a.strip()] if arms else None)
    ctx.report_to = tracker
    ctx.workers, ctx.executor = workers, executor
    ctx.executor_options = parse_options(slurm or [])
    ctx.verbose = os.environ.get("TRANSFORMERS_VERBOSITY") == "info"  # set by --verbose
    results = run_experiment(exp, ctx)
    print_summary(results, exp.metrics)
    typer.echo(f"report: {(ctx.out_dir / 'report.html').resolve()}")


def parse_options(pairs: list[str]) -> dict:
    """KEY=VALUE strings as a dict; integer values become ints (submitit wants them so)."""
    out: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--slurm expects KEY=VALUE, got '{pair}'")
        out[key] = int(value) if value.isdigit() else value
    return out


def list_all() -> None:
    """List the experiments and worlds."""
    from critiquelab.experiments import experiment_names
    from critiquelab.worlds import world_names

    typer.echo("experiments: " + ", ".join(experiment_names()))
    typer.echo("worlds: " + ", ".join(world_names()))


