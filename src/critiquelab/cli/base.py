"""`critiquelab base build`: pretrain a chain base (stage 0) and ship it with the package."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from critiquelab.errors import UsageError

base_app = typer.Typer(no_args_is_help=True, help="Pretrained chain bases shipped with the "
                                                  "package.")


def register(app: typer.Typer) -> None:
    app.add_typer(base_app, name="base")


@base_app.command("build")
def build(
    preset: Annotated[str, typer.Option(help="The experiment's preset whose base to build.")
                      ] = "default",
    experiment: Annotated[str, typer.Option(help="A chain experiment with a stage 0.")
                          ] = "cft-vs-sft",
    out: Annotated[Path | None, typer.Option(help="Where to put <experiment>-<preset>/ "
                                                  "(default: the package's bases/).")] = None,
    cache: Annotated[Path | None, typer.Option(
        help="Where training checkpoints go, so that a killed build resumes "
             "(default: $CRITIQUELAB_CACHE, else ~/.cache/critiquelab).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Pretrain the base (never copying a shipped one) and store it with its recipe hash;
    runs whose recipe hash matches then skip stage 0. Rerun after a kill to resume."""
    from critiquelab.experiments import get_experiment
    from critiquelab.experiments.bases import SHIPPED, base_key, ship
    from critiquelab.experiments.chain_common import chain_splits, pretrained_base
    from critiquelab.experiments.runner import default_cache_dir, make_context
    from critiquelab.io import ensure_writable_dir
    from critiquelab.threads import apply_thread_budget

    exp = get_experiment(experiment)
    if preset in exp.presets and "pretrain" not in exp.presets[preset]:
        raise UsageError(f"experiment '{experiment}' has no pretrained chain base")
    dest_root = ensure_writable_dir(out or SHIPPED)  # before an hour of training, not after
    apply_thread_budget()
    with tempfile.TemporaryDirectory() as tmp:
        # its own corner of the cache: a run's copy of a shipped base there would be reshipped
        work = ensure_writable_dir((cache or default_cache_dir()) / "base-build")
        ctx = make_context(exp, preset, 1, Path(tmp) / "run", work, progress=not quiet)
        world, splits = chain_splits(ctx.params)
        built = pretrained_base(world, splits["pretrain"], ctx, shipped=False)
        dest = ship(built, base_key(ctx.params, splits["pretrain"]), experiment, preset,
                    dest_root)
    typer.echo(f"base: {dest}")
