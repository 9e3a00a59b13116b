"""A small OpenAI-compatible server (`/v1/chat/completions`, `/v1/models`) over a local model.

Built on the standard library's ThreadingHTTPServer; generation is serialised by a lock.
Optional fault injection answers some requests with 429/500/503 or too slowly, decided by
(seed, request body, how often that body was seen), so a test run is reproducible whatever
order concurrent requests arrive in.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from critiquelab.io import stable_hash

MAX_BODY_BYTES = 1 << 20
MAX_N = 16


class RequestError(ValueError):
    """A request the server refuses with HTTP 400 (or `status`)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict]
    max_tokens: int
    temperature: float
    top_p: float
    n: int
    stop: list[str]
    seed: int


@dataclass(frozen=True)
class ChatResult:
    texts: list[str]
    prompt_tokens: int
    completion_tokens: list[int]
    max_tokens: int


class ChatBackend(Protocol):
    name: str

    def chat(self, request: ChatRequest) -> ChatResult: ...


class ModelBackend:
    """Chat over a causal LM: the tokenizer's chat template if it has one, else
    `role: content` lines ending `assistant: `."""

    def __init__(self, model, tokenizer, name: str):
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.context = int(getattr(model.config, "max_position_embeddings", 2048))
        self.lock = threading.Lock()

    def render(self, messages: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=True)
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def chat(self, request: ChatRequest) -> ChatResult:
        from critiquelab.models.generate import generate

        prompt = self.render(request.messages)
        prompt_tokens = len(self.tokenizer(prompt)["input_ids"])
        if prompt_tokens + request.max_tokens > self.context:
            raise RequestError(f"prompt ({prompt_tokens} tokens) plus max_tokens "
                               f"({request.max_tokens}) exceeds the context of {self.context}")
        with self.lock:
            texts = generate(self.model, self.tokenizer, [prompt], request.max_tokens,
                             n=request.n, temperature=request.temperature, top_p=request.top_p,
                             stop=request.stop or None, seed=request.seed)[0]
        return ChatResult(texts, prompt_tokens, [self.count(t) for t in texts],
                          request.max_tokens)


@dataclass(frozen=True)
class Faults:
    """Answer a share of requests with an error (429, 500 or 503) or after `slow_s` seconds."""

    fail_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 5.0
    seed: int = 0

    def __post_init__(self):
        if not (0 <= self.fail_rate <= 1 and 0 <= self.slow_rate <= 1
                and self.fail_rate + self.slow_rate <= 1):
            raise ValueError("fault rates must be in [0, 1] and sum to at most 1")

    def decide(self, body_key: str, attempt: int) -> int | str | None:
        """An HTTP status to fail with, "slow", or None for a normal answer."""
        rng = random.Random(stable_hash([self.seed, body_key, attempt]))
        draw = rng.random()
        if draw < self.fail_rate:
            return rng.choice((429, 500, 503))
        return "slow" if draw < self.fail_rate + self.slow_rate else None


def parse_request(body: dict, model_name: str) -> ChatRequest:
    """Validate a chat completions body; RequestError on anything we do not serve."""
    if body.get("model") != model_name:
        raise RequestError(f"model '{body.get('model')}' is not served here (try "
                           f"'{model_name}')", status=404)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str) for m in messages):
        raise RequestError("'messages' must be a non-empty list of {role, content} strings")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise RequestError("'stop' must be a string or a list of up to 4 strings")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 256
    temperature, top_p = body.get("temperature", 1.0), body.get("top_p", 1.0)
    n, seed = body.get("n", 1), body.get("seed") or 0
    checks = [(isinstance(max_tokens, int) and max_tokens >= 1, "'max_tokens' must be >= 1"),
              (isinstance(temperature, int | float) and 0 <= temperature <= 2,
               "'temperature' must be in [0, 2]"),
              (isinstance(top_p, int | float) and 0 < top_p <= 1, "'top_p' must be in (0, 1]"),
              (isinstance(n, int) and 1 <= n <= MAX_N, f"'n' must be in [1, {MAX_N}]"),
              (isinstance(seed, int), "'seed' must be an integer")]
    for ok, message in checks:
        if not ok:
            raise RequestError(message)
    return ChatRequest(messages, max_tokens, float(temperature), float(top_p), n, stop, seed)


class ChatServer(ThreadingHTTPServer):
    """The HTTP server; `counts` tallies requests, answers and injected faults."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: ChatBackend,
                 faults: Faults | None = None):
        super().__init__(address, _Handler)
        self.backend, self.faults = backend, faults or Faults()
        self.counts: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()  # request body hash -> times received
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def tally(self, **counts: int) -> None:
        with self.lock:
            self.counts.update(counts)

    def receive(self, body_key: str) -> int:
        """Count a chat request; return how often the same body came before."""
        with self.lock:
            self.counts["requests"] += 1
            self.seen[body_key] += 1
            return self.seen[body_key] - 1


_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error", 429: "rate_limit_error"}


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no per-request logs
        return

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _error(self, status: int, message: str) -> None:
        kind = _ERROR_TYPES.get(status, "server_error")
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            return self._error(404, f"no route {self.path}")
        name = self.server.backend.name
        self._send(200, {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "critiquelab"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY_BYTES:
            self.close_connection = True
            return self._error(400, f"body must be 1 to {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._error(404, f"no route {self.path}")
        body_key = stable_hash(raw.decode("utf-8", "replace"))
        fault = self.server.faults.decide(body_key, self.server.receive(body_key))
        if isinstance(fault, int):
            self.server.tally(faults=1)
            return self._error(fault, "injected fault")
        if fault == "slow":
            self.server.tally(slow=1)
            time.sleep(self.server.faults.slow_s)
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            result = self.server.backend.chat(parse_request(body, self.server.backend.name))
        except json.JSONDecodeError:
            return self._error(400, "the body is not valid JSON")
        except RequestError as e:
            return self._error(e.status, str(e))
        self.server.tally(answered=1)
        self._send(200, _completion(self.server.backend.name, body_key, result))


def _completion(model: str, body_key: str, result: ChatResult) -> dict:
    choices = [{"index": i, "message": {"role": "assistant", "content": text},
                "finish_reason": "length" if tokens >= result.max_tokens else "stop"}
               for i, (text, tokens) in enumerate(zip(result.texts, result.completion_tokens,
                                                      strict=True))]
    completion_tokens = sum(result.completion_tokens)
    return {"id": f"chatcmpl-{body_key}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "choices": choices,
            "usage": {"prompt_tokens": result.prompt_tokens,
                      "completion_tokens": completion_tokens,
                      "total_tokens": result.prompt_tokens + completion_tokens}}
