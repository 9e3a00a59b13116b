"""`critiquelab data convert`: read problems, candidates or CFT records; write them normalised."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critiquelab.errors import UsageError

data_app = typer.Typer(no_args_is_help=True, help="Real data in and out: schemas and CFT.")

KINDS = ("problems", "candidates", "cft", "cft-train")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("convert")
def convert(
    source: Annotated[str, typer.Argument(help="JSONL, Parquet, a saved dataset dir or "
                                               "hf:NAME[:CONFIG].")],
    to: Annotated[str, typer.Option(help="problems, candidates, cft (public instruction/"
                                         "input/output) or cft-train (prompt/completion).")],
    out: Annotated[Path, typer.Option(help="Output .jsonl or .parquet.")],
    split: Annotated[str | None, typer.Option(help="Split of a dataset dict or Hub id.")] = None,
) -> None:
    """Validate SOURCE and write it in the project schema, the public CFT form, or as
    prompt/completion training records."""
    from critiquelab.data.cft import load_cft
    from critiquelab.data.schema import load_candidates, load_problems, write_rows

    if to not in KINDS:
        raise UsageError(f"--to must be one of {', '.join(KINDS)}, got '{to}'")
    if to == "problems":
        rows = [p.to_dict() for p in load_problems(source, split)]
    elif to == "candidates":
        rows = [c.to_dict() for c in load_candidates(source, split)]
    else:
        examples = load_cft(source, split)
        rows = [e.to_alpaca() if to == "cft" else e.to_training_record() for e in examples]
    typer.echo(f"wrote {write_rows(out, rows)} {to} records to {out}")
