"""`critiquelab score`: grade a predictions file against a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def score(
    data: Annotated[str, typer.Option(help="Problems: GSM8K form or the project schema.")],
    predictions: Annotated[Path, typer.Option(help="JSONL/Parquet with a `prediction` field "
                                                   "(and optional `id`), in --data's order.")],
    out: Annotated[Path | None, typer.Option(help="Per-item JSONL: correct, predicted, "
                                                  "reference.")] = None,
    split: Annotated[str | None, typer.Option(help="Split of a dataset dict.")] = None,
) -> None:
    """Extract each prediction's final answer, compare it with the reference, print accuracy."""
    from critiquelab.data.schema import iter_rows, load_problems, write_rows
    from critiquelab.errors import UsageError
    from critiquelab.evaluation.scoring import score as score_items

    problems = load_problems(data, split)
    texts, ids = [], []
    for row, where in iter_rows(predictions):
        if not isinstance(row.get("prediction"), str):
            raise UsageError(f"{where}: field 'prediction' must be a string")
        texts.append(row["prediction"])
        ids.append(None if row.get("id") is None else str(row["id"]))
    rows = score_items(problems, texts, ids, str(predictions))
    correct = sum(r["correct"] for r in rows)
    if out is not None:
        write_rows(out, rows)
    typer.echo(f"accuracy: {correct / len(rows) if rows else 0.0:.4f} ({correct}/{len(rows)})")
