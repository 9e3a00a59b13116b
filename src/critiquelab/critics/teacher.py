"""Teacher critics: a model behind an OpenAI-compatible chat API writes the critiques.

Requests run concurrently (a thread pool of `concurrency`), retry with exponential backoff on
429, 5xx, timeouts and dropped connections, and land in an on-disk cache keyed by (model,
messages, sampling) and the endpoint's URL, one atomically written file per answer: a rerun
never pays twice and a crash loses nothing already answered; an unreadable entry is a miss. The
API key is read from the environment, kept only in memory, and sent only over https or to a
loopback address (unless the caller allows plain http). A request the server refuses (4xx)
fails that item with the server's message; the others go on.
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlparse

import openai

from critiquelab.errors import UsageError
from critiquelab.formats import ALPACA
from critiquelab.io import atomic_write_json, stable_hash

CRITIC_SYSTEM_PROMPT = (
    "You are a meticulous math teacher. Check the student's solution step by step: for each "
    "step, say whether it is correct, and at the first wrong step explain what is wrong. "
    "End with exactly one line: 'Conclusion: right [END]' if the whole solution is correct, "
    "otherwise 'Conclusion: wrong [END]'."
)
_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
              openai.APIConnectionError)
MAX_MESSAGE_CHARS = 300  # of a server's error message, kept on one line


@dataclass(frozen=True)
class TeacherSpec:
    """Where the teacher lives: an OpenAI-compatible base URL and a model name."""

    base_url: str
    model: str

    @classmethod
    def parse(cls, text: str) -> TeacherSpec:
        """Read `URL::MODEL`, e.g. `http://127.0.0.1:8000/v1::critic`."""
        url, sep, model = text.rpartition("::")
        if not sep or not model or urlparse(url).scheme not in ("http", "https"):
            raise UsageError(f"--teacher must be URL::MODEL (e.g. https://api.openai.com/v1::"
                             f"gpt-4o), got '{text}'")
        return cls(url, model)

    @property
    def loopback(self) -> bool:
        """Whether the endpoint is on this machine, so nothing leaves it."""
        host = urlparse(self.base_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def api_key(self, env_var: str, allow_insecure: bool = False) -> str:
        """The key from `env_var`; a local server needs none. A key is only sent over https or
        to a loopback address, unless `allow_insecure`."""
        key = os.environ.get(env_var)
        if not key:
            if self.loopback:
                return "local"
            raise UsageError(f"environment variable {env_var} is not set (it holds the API key)")
        if urlparse(self.base_url).scheme != "https" and not self.loopback and not allow_insecure:
            raise UsageError(f"refusing to send the API key over plain http to {self.base_url}; "
                             "use https, or --allow-insecure if you trust the network")
        return key


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    max_tokens: int = 1024
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if not 0 <= self.temperature <= 2 or self.max_tokens < 1 or not 0 < self.top_p <= 1:
            raise UsageError("sampling needs temperature in [0, 2], max_tokens >= 1 and "
                             "top_p in (0, 1]")


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens."""

    prompt: float = 0.0
    completion: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


@dataclass
class TeacherStats:
    """What a run cost: new requests, cache hits, retries, failures, tokens and dollars."""

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    refused: int = 0  # of the failures, requests the server rejected (4xx)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}


class ResponseCache:
    """One JSON file per answer under `root`, named by the hash of what was asked."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @staticmethod
    def key(endpoint: str, model: str, messages: list[dict], sampling: Sampling) -> str:
        """Two endpoints serving the same model name are different teachers."""
        return stable_hash({"endpoint": endpoint.rstrip("/"), "model": model,
                            "messages": messages, "sampling": asdict(sampling)}, length=40)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The entry, or None when it is missing or damaged (then it is asked again)."""
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):  # ValueError: bad UTF-8 or JSON
            return None
        ok = isinstance(entry, dict) and isinstance(entry.get("content"), str)
        return entry if ok else None

    def put(self, key: str, entry: dict) -> None:
        atomic_write_json(self.path(key), entry)


class ChatClient:
    """Chat completions from one endpoint, cached, retried and accounted."""

    def __init__(self, spec: TeacherSpec, api_key: str, cache: ResponseCache,
                 sampling: Sampling | None = None, prices: Prices | None = None,
                 max_retries: int = 6, timeout_s: float = 60.0, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0):
        if max_retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise UsageError("retries and backoff must be >= 0 and the timeout > 0")
        self.spec, self.cache = spec, cache
        self.sampling, self.prices = sampling or Sampling(), prices or Prices()
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self.client = openai.OpenAI(base_url=spec.base_url, api_key=api_key, max_retries=0,
                                    timeout=timeout_s)
        self.stats = TeacherStats()

    def complete(self, messages: list[dict]) -> str:
        """The answer's text, from the cache or from the API (then cached)."""
        key = ResponseCache.key(self.spec.base_url, self.spec.model, messages, self.sampling)
        if (hit := self.cache.get(key)) is not None:
            self.stats.add(cache_hits=1)
            return hit["content"]
        response = self._request(messages)
        content = response.choices[0].message.content or ""
        usage = response.usage
        pt, ct = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        self.cache.put(key, {"model": self.spec.model, "content": content,
                             "usage": {"prompt_tokens": pt, "completion_tokens": ct}})
        self.stats.add(requests=1, prompt_tokens=pt, completion_tokens=ct,
                       cost=self.prices.cost(pt, ct))
        return content

    def _request(self, messages: list[dict]):
        s, attempt = self.sampling, 0
        while True:
            try:
                return self.client.chat.completions.create(
                    model=self.spec.model, messages=messages, temperature=s.temperature,
                    max_tokens=s.max_tokens, top_p=s.top_p, seed=s.seed)
            except _RETRYABLE as e:
                if attempt == self.max_retries:
                    self.stats.add(failures=1)
                    raise TeacherError(f"gave up after {attempt + 1} tries: "
                                       f"{type(e).__name__}") from None
                self.stats.add(retries=1)
                time.sleep(min(self.max_backoff_s, self.backoff_s * 2**attempt))
                attempt += 1
            except openai.APIStatusError as e:  # 4xx other than 429: retrying cannot help
                self.stats.add(failures=1, refused=1)
                raise TeacherError(f"refused with HTTP {e.status_code}: "
                                   f"{server_message(e)}") from None


class TeacherError(RuntimeError):
    """A request that failed: refused by the server, or still failing after every retry."""


def server_message(error: openai.APIStatusError) -> str:
    """What the server said about a refused request, on one short line."""
    body = error.body
    if isinstance(body, dict):
        body = body.get("error", body)
    if isinstance(body, dict):
        body = body.get("message", body)
    text = " ".join(str(body or error.message).split())
    return text[:MAX_MESSAGE_CHARS]


def critique_messages(question: str, solution: str) -> list[dict]:
    """The published CFT prompt: the Alpaca critique instruction, question and solution."""
    return [{"role": "system", "content": CRITIC_SYSTEM_PROMPT},
            {"role": "user", "content": ALPACA.critique_prompt(question, solution).strip()}]


def run_concurrently(fn: Callable[[int], str], n: int, concurrency: int,
                     failures: dict[int, str] | None = None,
                     on_done: Callable[[int], None] | None = None) -> list[str | None]:
    """fn(0..n-1) on `concurrency` threads, in order; a TeacherError leaves None (its message
    goes to `failures`), any other error cancels the rest and is raised. on_done(1) follows
    each finished call (a progress bar's advance)."""
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {concurrency}")

    def safe(i: int) -> str | None:
        try:
            return fn(i)
        except TeacherError as e:
            if failures is not None:
                failures[i] = str(e)
            return None
        finally:
            if on_done is not None:
                on_done(1)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(safe, i) for i in range(n)]
        try:
            return [f.result() for f in futures]
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


class TeacherCritic:
    """Critiques from a chat model, many at a time."""

    def __init__(self, client: ChatClient, concurrency: int = 8):
        self.client, self.concurrency = client, concurrency
        self.failures: dict[int, str] = {}  # index in the last call -> why it has no critique

    def critique_texts(self, pairs: Sequence[tuple[str, str]],
                       on_done: Callable[[int], None] | None = None) -> list[str | None]:
        """The critique of each (question, solution); None where the request failed."""
        self.failures = {}
        return run_concurrently(lambda i: self.client.complete(critique_messages(*pairs[i])),
                                len(pairs), self.concurrency, self.failures, on_done)
