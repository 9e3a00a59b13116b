"""The `critiquelab` command line: a thin layer over worlds, critics and experiments.

Each concept registers its commands from its own module here; `main` turns bad input into
one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from typer.exceptions import TyperException

from critiquelab.errors import UsageError

# rich_markup_mode=None: help texts are plain text, so "exact[/STYLE]" is not read as markup.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Train LMs by critique and by imitation; measure what transfers.")


def _print_version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"critiquelab {version('critiquelab')}")
        except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
            typer.echo("critiquelab (not installed)")
        raise typer.Exit()


@app.callback()
def options(
    verbose: Annotated[bool, typer.Option(help="Log transformers and datasets at info level "
                                               "(default: warnings only).")] = False,
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version,
                                               is_eager=True,
                                               help="Print the version and exit.")] = False,
) -> None:
    """Train LMs by critique and by imitation; measure what transfers."""
    # Read when transformers and datasets are first imported, here and in worker processes.
    for var in ("TRANSFORMERS_VERBOSITY", "DATASETS_VERBOSITY"):
        if verbose:
            os.environ[var] = "info"
        else:
            os.environ.setdefault(var, "warning")


from critiquelab.cli import (  # noqa: E402
    base,
    build,
    claims,
    critique,
    data,
    perturb,
    run,
    score,
    serve,
    train,
    world,
)

run.register(app)
world.register(app)
data.register(app)
score.register(app)
critique.register(app)
serve.register(app)
build.register(app)
base.register(app)
perturb.register(app)
train.register(app)
claims.register(app)


def main() -> None:
    """Entry point: bad input is one line on stderr and exit code 2, never a traceback."""
    try:
        # outside standalone mode typer returns typer.Exit's code (130 for Ctrl-C) instead of
        # exiting
        code = app(standalone_mode=False)
        if code == 130:
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except (UsageError, TyperException) as e:
        msg = e.format_message() if hasattr(e, "format_message") else str(e)
        _fail(msg)
    except (typer.Abort, KeyboardInterrupt):
        print("critiquelab: interrupted; finished work is kept, rerun with the same --out "
              "to resume", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:  # the environment, not the code: a full disk, a vanished file
        _fail(f"{str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}")


def _fail(message: str) -> None:
    """One line on stderr, exit code 2."""
    print(f"critiquelab: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)
