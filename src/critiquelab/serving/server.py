"""A small OpenAI-compatible server over a local model: `/v1/chat/completions`,
`/v1/completions` (logprobs, echo), `/v1/models`, `/health`; `stream: true` answers with
server-sent events (the answer is generated first, then sent in pieces).

Built on the standard library's ThreadingHTTPServer; generation is serialised by a lock. Every
request gets a JSON reply (4xx for bad input, 5xx for the server's own faults), and a socket
idle for `idle_timeout_s` is closed, so a client that never sends its body frees its thread.
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
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from critiquelab.io import stable_hash
from critiquelab.serving.backend import ChatBackend, ChatResult, Choice, ModelBackend
from critiquelab.serving.requests import RequestError, parse_completion, parse_request

__all__ = ["ChatServer", "Faults", "ModelBackend", "RequestError", "parse_request"]

MAX_BODY_BYTES = 1 << 20
IDLE_TIMEOUT_S = 30.0


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


class ChatServer(ThreadingHTTPServer):
    """The HTTP server; `counts` tallies requests, answers and injected faults."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: ChatBackend,
                 faults: Faults | None = None, idle_timeout_s: float = IDLE_TIMEOUT_S):
        super().__init__(address, _Handler)
        self.backend, self.faults = backend, faults or Faults()
        self.idle_timeout_s = idle_timeout_s
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
        """Count a completion request; return how often the same body came before."""
        with self.lock:
            self.counts["requests"] += 1
            self.seen[body_key] += 1
            return self.seen[body_key] - 1


_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error", 408: "timeout_error",
                413: "invalid_request_error", 429: "rate_limit_error"}
_ROUTES = ("/v1/chat/completions", "/v1/completions")


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout_s  # StreamRequestHandler sets it on the socket
        super().setup()

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
        except OSError:  # the client gave up (timeout, reset)
            self.close_connection = True

    def _error(self, status: int, message: str) -> None:
        kind = _ERROR_TYPES.get(status, "server_error")
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def do_GET(self) -> None:
        path = self.path.rstrip("/")
        if path == "/health":
            return self._send(200, {"status": "ok", "model": self.server.backend.name})
        if path != "/v1/models":
            return self._error(404, f"no route {self.path}")
        name = self.server.backend.name
        self._send(200, {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "critiquelab"}]})

    def do_POST(self) -> None:
        try:
            raw = self._body()
        except RequestError as e:
            self.close_connection = True  # the rest of the body, if any, is not read
            return self._error(e.status, str(e))
        path = self.path.rstrip("/")
        if path not in _ROUTES:
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
            body = _decode(raw)
            if path == "/v1/chat/completions":
                self._chat(body, body_key)
            else:
                self._completions(body, body_key)
        except RequestError as e:
            self._error(e.status, str(e))
        except Exception as e:  # noqa: BLE001 - the server's own fault, still answered in JSON
            self._error(500, f"internal error: {type(e).__name__}")

    def _body(self) -> bytes:
        """The request body, bounded in size and in idle time."""
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise RequestError("Content-Length must be a decimal byte count")
        if not 0 < int(length) <= MAX_BODY_BYTES:
            raise RequestError(f"body must be 1 to {MAX_BODY_BYTES} bytes",
                               status=400 if int(length) == 0 else 413)
        try:
            raw = self.rfile.read(int(length))
        except TimeoutError:
            raise RequestError(f"no body within {self.server.idle_timeout_s:g} s",
                               status=408) from None
        if len(raw) < int(length):
            raise RequestError("the body is shorter than Content-Length")
        return raw

    def _chat(self, body: dict, body_key: str) -> None:
        backend = self.server.backend
        request = parse_request(body, backend.name)
        result = backend.chat(request)
        self.server.tally(answered=1)
        if request.stream:
            return self._stream(_chat_chunks(backend.name, body_key, result))
        self._send(200, _chat_completion(backend.name, body_key, result))

    def _completions(self, body: dict, body_key: str) -> None:
        backend = self.server.backend
        if not isinstance(backend, ModelBackend):
            raise RequestError("this backend serves chat completions only", status=404)
        request = parse_completion(body, backend.name)
        choices, prompt_tokens = backend.complete(request)
        self.server.tally(answered=1)
        if request.stream:
            return self._stream(_text_chunks(backend.name, body_key, choices))
        self._send(200, _text_completion(backend.name, body_key, choices, prompt_tokens))

    def _stream(self, chunks: Iterator[dict]) -> None:
        """Server-sent events, one `data:` line per chunk, then `data: [DONE]`."""
        self.close_connection = True  # no Content-Length: the end of the stream ends the body
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:
            return


def _decode(raw: bytes) -> dict:
    """The JSON object in `raw`; RequestError for bad UTF-8, bad or absurd JSON."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8") from None
    except RecursionError:
        raise RequestError("the body's JSON is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, and integers too long to convert
        raise RequestError(f"the body is not valid JSON ({str(e).splitlines()[0][:80]})"
                           ) from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    return body


def _finish(finished: bool) -> str:
    return "stop" if finished else "length"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _chat_completion(model: str, body_key: str, result: ChatResult) -> dict:
    choices = [{"index": i, "message": {"role": "assistant", "content": text},
                "finish_reason": _finish(tokens < result.max_tokens)}
               for i, (text, tokens) in enumerate(zip(result.texts, result.completion_tokens,
                                                      strict=True))]
    return {"id": f"chatcmpl-{body_key}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "choices": choices,
            "usage": _usage(result.prompt_tokens, sum(result.completion_tokens))}


def _chat_chunks(model: str, body_key: str, result: ChatResult) -> Iterator[dict]:
    """Per choice: the role, the text in pieces, then the finish reason."""
    head = {"id": f"chatcmpl-{body_key}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}
    for i, (text, tokens) in enumerate(zip(result.texts, result.completion_tokens,
                                           strict=True)):
        yield {**head, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}]}
        for piece in _pieces(text):
            yield {**head, "choices": [{"index": i, "delta": {"content": piece},
                                        "finish_reason": None}]}
        yield {**head, "choices": [{"index": i, "delta": {},
                                    "finish_reason": _finish(tokens < result.max_tokens)}]}


def _text_completion(model: str, body_key: str, choices: list[Choice], prompt_tokens: int
                     ) -> dict:
    return {"id": f"cmpl-{body_key}", "object": "text_completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": i, "text": c.text, "logprobs": c.logprobs,
                         "finish_reason": _finish(c.finished)} for i, c in enumerate(choices)],
            "usage": _usage(prompt_tokens, sum(c.completion_tokens for c in choices))}


def _text_chunks(model: str, body_key: str, choices: list[Choice]) -> Iterator[dict]:
    head = {"id": f"cmpl-{body_key}", "object": "text_completion",
            "created": int(time.time()), "model": model}
    for i, c in enumerate(choices):
        for piece in _pieces(c.text):
            yield {**head, "choices": [{"index": i, "text": piece, "logprobs": None,
                                        "finish_reason": None}]}
        yield {**head, "choices": [{"index": i, "text": "", "logprobs": None,
                                    "finish_reason": _finish(c.finished)}]}


def _pieces(text: str, size: int = 8) -> Iterator[str]:
    """The text in short pieces, as a client rendering a stream would receive them."""
    for start in range(0, len(text), size):
        yield text[start:start + size]
