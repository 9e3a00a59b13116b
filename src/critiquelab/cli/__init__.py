"""The `critiquelab` command line: a thin layer over worlds, critics and experiments.

Each concept registers its commands from its own module here; `main` turns bad input into
one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from critiquelab.errors import UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train LMs by critique and by imitation; measure what transfers.")

from critiquelab.cli import build, claims, critique, data, perturb, run, score, serve, train, world  # noqa: E402

run.register(app)
world.register(app)
data.register(app)
score.register(app)
critique.register(app)
serve.register(app)
build.register(app)
perturb.register(app)
train.register(app)
claims.register(app)


def main() -> None:
    """Entry point: bad input is one line on stderr and exit code 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except (UsageError, TyperException) as e:
        msg = e.format_message() if hasattr(e, "format_message") else str(e)
        print(f"critiquelab: error: {msg}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("critiquelab: interrupted; finished work is kept, rerun with the same --out "
              "to resume", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
