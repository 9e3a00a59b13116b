"""`critiquelab serve`: an OpenAI-compatible endpoint over a local model."""

from __future__ import annotations

from typing import Annotated

import typer

from critiquelab.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    model: Annotated[str, typer.Option(help="Anything critiquelab.models.load_model loads.")],
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    name: Annotated[str | None, typer.Option(help="Model name clients ask for "
                                                  "(default: --model).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for loading a preset model.")] = 0,
    fail_rate: Annotated[float, typer.Option(envvar="CRITIQUELAB_FAIL_RATE",
                                             help="Share answered 429/500/503.")] = 0.0,
    slow_rate: Annotated[float, typer.Option(envvar="CRITIQUELAB_SLOW_RATE",
                                             help="Share answered after --slow-s.")] = 0.0,
    slow_s: Annotated[float, typer.Option(envvar="CRITIQUELAB_SLOW_S",
                                          help="Delay of a slow answer.")] = 5.0,
    fault_seed: Annotated[int, typer.Option(envvar="CRITIQUELAB_FAULT_SEED",
                                            help="Seed of the fault draws.")] = 0,
    idle_timeout: Annotated[float, typer.Option(help="Seconds a connection may stay idle "
                                                     "(also waiting for a body).")] = 30.0,
) -> None:
    """Serve /v1/chat/completions, /v1/completions, /v1/models and /health until
    interrupted."""
    from critiquelab.models import load_model
    from critiquelab.serving import ChatServer, Faults, ModelBackend

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {port}")
    try:
        faults = Faults(fail_rate, slow_rate, slow_s, fault_seed)
    except ValueError as e:
        raise UsageError(f"--fail-rate/--slow-rate: {e}") from None
    if not idle_timeout > 0:
        raise UsageError(f"--idle-timeout must be positive, got {idle_timeout}")
    loaded, tokenizer = load_model(model, seed=seed)
    try:
        server = ChatServer((host, port), ModelBackend(loaded, tokenizer, name or model), faults,
                            idle_timeout)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    typer.echo(f"serving '{server.backend.name}' at {server.url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
