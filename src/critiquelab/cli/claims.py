"""`critiquelab claims` (every published claim, measured) and `critiquelab docs`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from critiquelab.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("claims")(claims)
    app.command("docs")(docs)


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def claims(
    preset: Annotated[str, typer.Option(help="smoke, default or full.")] = "default",
    out: Annotated[Path | None, typer.Option(help="Output directory (resumable; one "
                                                  "subdirectory per experiment).")] = None,
    sizes: Annotated[str | None, typer.Option(help="Model sizes to run each claim's "
                                                   "experiment at, e.g. tiny-s,tiny-m.")] = None,
    only: Annotated[str | None, typer.Option(help="Run only these experiments (comma-"
                                                  "separated); the other claims are "
                                                  "withheld.")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds (default: 1 for smoke, else "
                                                   "each experiment's).")] = None,
    workers: Annotated[int, typer.Option(help="Cells computed in parallel.")] = 1,
    cache: Annotated[Path | None, typer.Option(help="Cache for base models.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run every experiment the claims need; write claims.json, claims.md, claims.html."""
    from critiquelab.claims.render import write_claims
    from critiquelab.claims.run import run_claims

    if preset not in ("smoke", "default", "full"):
        raise UsageError(f"unknown preset '{preset}' (known: smoke, default, full)")
    out = out or Path("runs") / f"claims-{preset}"
    result = run_claims(preset, out, _names(sizes), _names(only), seeds, workers, cache,
                        progress=not quiet,
                        verbose=os.environ.get("TRANSFORMERS_VERBOSITY") == "info")
    path = write_claims(result, out)
    for c in result["claims"]:
        typer.echo(f"{c['id']} {c['verdict']:<12} {c['reason']}")
    typer.echo(f"report: {path.resolve()}")


def docs(
    root: Annotated[Path, typer.Option(help="Repository root.")] = Path("."),
    check: Annotated[bool, typer.Option(help="Only check: exit 1 when a generated block "
                                             "differs from its JSON.")] = False,
) -> None:
    """Regenerate the number tables in README.md and docs/experiments/*.md from docs/results."""
    from critiquelab.claims.docs import stale_docs, write_docs

    if not (root / "docs").is_dir():
        raise UsageError(f"{root}: no docs/ directory (pass the repository root with --root)")
    changed = stale_docs(root) if check else write_docs(root)
    for path in changed:
        typer.echo(f"{'stale' if check else 'rewrote'}: {path}")
    if check and changed:
        raise typer.Exit(1)
