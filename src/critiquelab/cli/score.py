"""`critiquelab score`: grade a predictions file against a data file, or re-grade the samples
lm-evaluation-harness logged; accuracy with a 95% bootstrap CI over items."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SOURCES = ("predictions", "lm-eval-samples")


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def score(
    samples: Annotated[Path | None, typer.Argument(help="With --from lm-eval-samples: the "
                                                        "samples_*.jsonl lm_eval "
                                                        "--log_samples wrote.")] = None,
    data: Annotated[str | None, typer.Option(help="Problems: GSM8K form or the project "
                                                  "schema.")] = None,
    predictions: Annotated[Path | None, typer.Option(help="JSONL/Parquet with a "
                                                          "`prediction` field (and optional "
                                                          "`id`), in --data's order.")] = None,
    source: Annotated[str, typer.Option("--from", help="predictions (--data + --predictions) "
                                                       "or lm-eval-samples (SAMPLES).")
                      ] = "predictions",
    out: Annotated[Path | None, typer.Option(help="Per-item JSONL: correct, predicted, "
                                                  "reference.")] = None,
    split: Annotated[str | None, typer.Option(help="Split of a dataset dict.")] = None,
) -> None:
    """Extract each prediction's final answer, compare it with the reference, print accuracy
    and its 95% CI."""
    from critiquelab.data.schema import write_rows
    from critiquelab.errors import UsageError
    from critiquelab.evaluation.stats import bootstrap_ci

    if source not in SOURCES:
        raise UsageError(f"--from must be one of {', '.join(SOURCES)}, got '{source}'")
    if source == "lm-eval-samples":
        if samples is None:
            raise UsageError("--from lm-eval-samples needs the samples file as an argument")
        from critiquelab.evaluation.lm_eval_samples import grade_samples

        rows = grade_samples(samples)
    else:
        if data is None or predictions is None or samples is not None:
            raise UsageError("--from predictions needs --data and --predictions (and no "
                             "SAMPLES argument)")
        rows = _graded_predictions(data, predictions, split)
    correct = sum(r["correct"] for r in rows)
    if out is not None:
        write_rows(out, rows)
    ci = bootstrap_ci([[float(r["correct"]) for r in rows]]) if rows else None
    interval = f", 95% CI [{ci['ci95'][0]:.4f}, {ci['ci95'][1]:.4f}]" if ci else ""
    typer.echo(f"accuracy: {correct / len(rows) if rows else 0.0:.4f} ({correct}/{len(rows)})"
               f"{interval}")


def _graded_predictions(data: str, predictions: Path, split: str | None) -> list[dict]:
    from critiquelab.data.schema import iter_rows, load_problems
    from critiquelab.errors import UsageError
    from critiquelab.evaluation.scoring import score as score_items

    problems = load_problems(data, split)
    texts, ids = [], []
    for row, where in iter_rows(predictions):
        if not isinstance(row.get("prediction"), str):
            raise UsageError(f"{where}: field 'prediction' must be a string")
        texts.append(row["prediction"])
        ids.append(None if row.get("id") is None else str(row["id"]))
    return score_items(problems, texts, ids, str(predictions))
