"""`critiquelab critique`: critique real candidate answers and write public CFT records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critiquelab.cli.progress import progress_bar
from critiquelab.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("critique")(critique)


def critique(
    data: Annotated[str, typer.Option(help="Candidates: project schema or GSM8K "
                                           "example_model_solutions form.")],
    out: Annotated[Path, typer.Option(help="CFT records (.jsonl or .parquet).")],
    teacher: Annotated[str | None, typer.Option(help="URL::MODEL of an OpenAI-compatible "
                                                     "chat API.")] = None,
    critic: Annotated[str | None, typer.Option(help="A built-in critic instead: gsm8k.")] = None,
    split: Annotated[str | None, typer.Option(help="Split of a dataset dict.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N candidates.")] = None,
    filter_agree: Annotated[bool, typer.Option(help="Keep only critiques whose verdict matches "
                                                    "the label (or the answer check).")] = False,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API "
                                                  "key.")] = "OPENAI_API_KEY",
    allow_insecure: Annotated[bool, typer.Option(help="Send the API key over plain http to a "
                                                      "non-local host.")] = False,
    concurrency: Annotated[int, typer.Option(help="Requests in flight.")] = 8,
    temperature: Annotated[float, typer.Option(help="Teacher sampling temperature.")] = 0.0,
    max_tokens: Annotated[int, typer.Option(help="Longest critique, in tokens.")] = 1024,
    seed: Annotated[int, typer.Option(help="Sampling seed sent to the teacher.")] = 0,
    max_retries: Annotated[int, typer.Option(help="Retries per request (429/5xx/timeout).")] = 6,
    timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 60.0,
    backoff: Annotated[float, typer.Option(help="First retry delay (doubles each time).")] = 0.5,
    price_in: Annotated[float, typer.Option(help="USD per 1M prompt tokens.")] = 0.0,
    price_out: Annotated[float, typer.Option(help="USD per 1M completion tokens.")] = 0.0,
    cache: Annotated[Path | None, typer.Option(help="Response cache directory "
                                                    "(default $CRITIQUELAB_CACHE/teacher).")
                     ] = None,
) -> None:
    """Critique every candidate with a teacher model or the GSM8K step critic; print n, kept,
    agreement with the labels, tokens, cost and cache hits."""
    from critiquelab.data.cft import build_cft
    from critiquelab.data.schema import load_candidates, write_rows

    if (teacher is None) == (critic is None):
        raise UsageError("give exactly one of --teacher URL::MODEL or --critic gsm8k")
    if critic is not None and critic != "gsm8k":
        raise UsageError(f"unknown critic '{critic}' (known: gsm8k)")
    if limit is not None and limit < 0:
        raise UsageError(f"--limit must be non-negative, got {limit}")
    candidates = load_candidates(data, split)[:limit]
    if teacher is not None:
        from critiquelab.critics.teacher import Prices, Sampling, TeacherSpec

        if cache is None:
            from critiquelab.experiments.runner import default_cache_dir

            cache = default_cache_dir() / "teacher"
        spec = TeacherSpec.parse(teacher)
        texts, stats, failures = _teacher_critiques(
            candidates, spec, spec.api_key(api_key_env, allow_insecure), cache, concurrency,
            Sampling(temperature, max_tokens, 1.0, seed), Prices(price_in, price_out),
            max_retries=max_retries, timeout_s=timeout, backoff_s=backoff)
    else:
        (texts, stats), failures = _gsm8k_critiques(candidates), {}
    built = build_cft(candidates, texts, filter_agree)
    write_rows(out, built.records)
    summary = {**built.summary(), **stats}
    typer.echo(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in summary.items()))
    typer.echo(f"wrote {built.kept} CFT records to {out}")
    if built.failed:
        first = min(failures)
        raise UsageError(f"{built.failed} critiques failed (candidate {first + 1}: "
                         f"{failures[first]}); answered ones are cached, rerun the same "
                         "command to finish")


def _teacher_critiques(candidates, spec, api_key: str, cache: Path, concurrency: int,
                       sampling, prices, **retry) -> tuple[list, dict, dict[int, str]]:
    from critiquelab.critics.teacher import ChatClient, ResponseCache, TeacherCritic

    client = ChatClient(spec, api_key, ResponseCache(cache), sampling, prices, **retry)
    critic = TeacherCritic(client, concurrency)
    with progress_bar("teacher requests", len(candidates)) as advance:
        texts = critic.critique_texts([(c.question, c.solution) for c in candidates], advance)
    return texts, client.stats.to_dict(), critic.failures


def _gsm8k_critiques(candidates) -> tuple[list, dict]:
    from critiquelab.critics.gsm8k import GSM8KCritic, critique_from_checks, gsm8k_problem

    critic, texts, steps, silent, arithmetic = GSM8KCritic(), [], 0, 0, 0
    with progress_bar("critiques", len(candidates)) as advance:
        for c in candidates:
            checks = critic.check(gsm8k_problem(c.question, c.answer), c.solution)
            texts.append(critique_from_checks(checks).text)
            steps += len(checks)
            silent += sum(ch.silent for ch in checks)
            first = next((ch for ch in checks if ch.error), None)
            arithmetic += first is not None and first.final_answer is None
            advance(1)
    return texts, {"steps": steps, "silent_steps": silent,
                   "silent_rate": silent / steps if steps else 0.0,
                   "arithmetic_errors": arithmetic}
