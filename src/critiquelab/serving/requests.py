"""Validated OpenAI request bodies: chat and text completions; anything else is a RequestError."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_N = 16
MAX_SEED = 2**63 - 1  # what torch.manual_seed accepts as a non-negative seed
MIN_TEMPERATURE = 1e-4  # below this, sampling divides logits into overflow: answered greedily
DEFAULT_MAX_TOKENS = 256


class RequestError(ValueError):
    """A request the server refuses with HTTP 400 (or `status`)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    n: int
    stop: list[str]
    seed: int
    stream: bool


@dataclass(frozen=True)
class ChatRequest(Sampling):
    messages: list[dict]


@dataclass(frozen=True)
class CompletionRequest(Sampling):
    prompts: list[str | list[int]]  # text, or token ids (as lm-evaluation-harness sends them)
    echo: bool
    logprobs: int | None  # top alternatives per token, None: no logprobs


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return (_is_int(x) or isinstance(x, float)) and math.isfinite(x)


def _sampling(body: dict, min_tokens: int) -> dict:
    """The sampling fields every endpoint shares, checked one by one."""
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    temperature, top_p = body.get("temperature", 1.0), body.get("top_p", 1.0)
    n, seed = body.get("n", 1), body.get("seed")
    seed = 0 if seed is None else seed
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    stream = body.get("stream", False)
    checks = [
        (_is_int(max_tokens) and max_tokens >= min_tokens,
         f"'max_tokens' must be an integer >= {min_tokens}"),
        (_is_number(temperature) and 0 <= temperature <= 2, "'temperature' must be in [0, 2]"),
        (_is_number(top_p) and 0 < top_p <= 1, "'top_p' must be in (0, 1]"),
        (_is_int(n) and 1 <= n <= MAX_N, f"'n' must be an integer in [1, {MAX_N}]"),
        (_is_int(seed) and 0 <= seed <= MAX_SEED, f"'seed' must be an integer in [0, {MAX_SEED}]"),
        (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop),
         "'stop' must be a string or a list of up to 4 strings"),
        (isinstance(stream, bool), "'stream' must be true or false"),
    ]
    for ok, message in checks:
        if not ok:
            raise RequestError(message)
    temperature = 0.0 if temperature < MIN_TEMPERATURE else float(temperature)
    return {"max_tokens": max_tokens, "temperature": temperature, "top_p": float(top_p),
            "n": n, "stop": stop, "seed": seed, "stream": stream}


def _check_model(body: dict, model_name: str) -> None:
    if body.get("model") != model_name:
        raise RequestError(f"model '{body.get('model')}' is not served here (try "
                           f"'{model_name}')", status=404)


def parse_request(body: dict, model_name: str) -> ChatRequest:
    """Validate a chat completions body."""
    _check_model(body, model_name)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str) for m in messages):
        raise RequestError("'messages' must be a non-empty list of {role, content} strings")
    return ChatRequest(messages=messages, **_sampling(body, min_tokens=1))


def parse_completion(body: dict, model_name: str) -> CompletionRequest:
    """Validate a text completions body (max_tokens 0 with echo scores the prompt only)."""
    _check_model(body, model_name)
    prompt = body.get("prompt")
    prompts = prompt if isinstance(prompt, list) and prompt and not _is_int(prompt[0]) \
        else [prompt]
    if not all(isinstance(p, str) or (isinstance(p, list) and p and all(_is_int(t) and t >= 0
                                                                        for t in p))
               for p in prompts) or len(prompts) > 64:
        raise RequestError("'prompt' must be a string, a list of token ids, or a list of up to "
                           "64 of either")
    echo, logprobs = body.get("echo", False), body.get("logprobs")
    if not isinstance(echo, bool):
        raise RequestError("'echo' must be true or false")
    if logprobs is not None and not (_is_int(logprobs) and 0 <= logprobs <= 5):
        raise RequestError("'logprobs' must be an integer in [0, 5]")
    sampling = _sampling(body, min_tokens=0)
    if sampling["stream"] and (echo or logprobs is not None):
        raise RequestError("'stream' cannot be combined with 'echo' or 'logprobs'")
    return CompletionRequest(prompts=prompts, echo=echo, logprobs=logprobs, **sampling)
