"""`critiquelab data convert`: read problems, candidates or CFT records; write them normalised."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critiquelab.errors import UsageError

data_app = typer.Typer(no_args_is_help=True, help="Real data in and out: schemas and CFT.")

KINDS = ("problems", "candidates", "cft", "cft-train", "alpaca", "sharegpt", "messages",
         "hf-dataset")
TABLE_SUFFIXES = (".jsonl", ".parquet")  # what write_rows writes


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("convert")
def convert(
    source: Annotated[str, typer.Argument(help="JSONL, Parquet, a saved dataset dir or "
                                               "hf:NAME[:CONFIG].")],
    to: Annotated[str, typer.Option(help="problems, candidates, cft (public instruction/"
                                         "input/output), cft-train (prompt/completion); "
                                         "from CFT records: alpaca or sharegpt (.json/.jsonl, "
                                         "with LLaMA-Factory's dataset_info.json beside), "
                                         "messages (chat JSONL) or hf-dataset (save_to_disk "
                                         "directory).")],
    out: Annotated[Path, typer.Option(help="Output file (.jsonl or .parquet for the project "
                                           "forms) or directory (hf-dataset).")],
    split: Annotated[str | None, typer.Option(help="Split of a dataset dict or Hub id.")] = None,
    push_to_hub: Annotated[str | None, typer.Option(help="Also upload the output to this Hub "
                                                         "dataset repository ORG/NAME.")
                           ] = None,
) -> None:
    """Validate SOURCE and write it in the project schema, the public CFT form, as
    prompt/completion training records, or in a form LLaMA-Factory, TRL or datasets load."""
    from critiquelab.data.cft import load_cft
    from critiquelab.data.exports import EXPORTS, check_out, export
    from critiquelab.data.schema import load_candidates, load_problems, write_rows

    if to not in KINDS:
        raise UsageError(f"--to must be one of {', '.join(KINDS)}, got '{to}'")
    check_out(to, out, EXPORTS.get(to, TABLE_SUFFIXES))
    if to in EXPORTS:
        n = export(load_cft(source, split), to, out)
        typer.echo(f"wrote {n} {to} records to {out}")
        _push(out, push_to_hub, with_info=to in ("alpaca", "sharegpt"))
        return
    if to == "problems":
        rows = [p.to_dict() for p in load_problems(source, split)]
    elif to == "candidates":
        rows = [c.to_dict() for c in load_candidates(source, split)]
    else:
        examples = load_cft(source, split)
        rows = [e.to_alpaca() if to == "cft" else e.to_training_record() for e in examples]
    typer.echo(f"wrote {write_rows(out, rows)} {to} records to {out}")
    _push(out, push_to_hub)


def _push(out: Path, repo: str | None, with_info: bool = False) -> None:
    """Upload the output (with dataset_info.json when there is one) to a Hub dataset repo."""
    if repo is None:
        return
    from critiquelab.data.exports import DATASET_INFO
    from critiquelab.hub import push

    push(out, repo, "dataset")
    if with_info:
        push(out.parent / DATASET_INFO, repo, "dataset")
    typer.echo(f"pushed to https://huggingface.co/datasets/{repo}")
