"""`critiquelab perturb`: a perturbed copy of a JSONL solution dataset (chain world, GSM8K, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critiquelab.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("perturb")(perturb)


def perturb(
    source: Annotated[Path, typer.Argument(help="Input JSONL, one solution per record.")],
    out: Annotated[Path, typer.Argument(help="Output JSONL (written atomically).")],
    kind: Annotated[str, typer.Option(help="numbers, shuffle, delete, insert or keywords.")],
    rate: Annotated[float, typer.Option(help="Perturbation rate in [0, 1].")],
    field: Annotated[str, typer.Option(help="Field holding the solution; the default falls "
                                            "back to GSM8K's 'answer'.")] = "solution",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Perturb every record's solution: corrupt numbers (content), or shuffle, delete or insert
    steps (structure), or drop reflection/transition words; the final answer line is kept."""
    from critiquelab.data.perturb import check_kind_rate, perturb_records
    from critiquelab.io import read_jsonl, write_jsonl

    check_kind_rate(kind, rate)
    records = read_jsonl(source)
    if not records:
        raise UsageError(f"{source}: no records")
    perturbed = perturb_records(records, kind, rate, seed, field, str(source))
    changed = sum(a != b for a, b in zip(records, perturbed, strict=True))
    write_jsonl(out, perturbed)
    typer.echo(f"wrote {len(perturbed)} records to {out} ({changed} changed by {kind} "
               f"at rate {rate})")
