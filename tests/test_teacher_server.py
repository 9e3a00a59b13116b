"""Teacher critics over real HTTP against `critiquelab serve`'s server, with injected faults."""

import json
import os
import subprocess
import sys
import threading
import urllib.request

import httpx2
import openai
import pytest
from transformers import LlamaForCausalLM

from critiquelab.critics.teacher import (
    ChatClient,
    ResponseCache,
    Sampling,
    TeacherCritic,
    TeacherError,
    TeacherSpec,
    critique_messages,
)
from critiquelab.errors import UsageError
from critiquelab.models.tiny import tiny_config
from critiquelab.models.tokenizer import build_char_tokenizer
from critiquelab.serving import ChatServer, Faults, ModelBackend
from critiquelab.serving.server import parse_request

PAIRS = [(f"What is {a} + {b}?", f"{a} + {b} = {a + b}\nA: {a + b}") for a in range(3)
         for b in range(4)]


@pytest.fixture(scope="module")
def backend():
    tokenizer = build_char_tokenizer()
    config = tiny_config("tiny-xs", tokenizer)
    config.max_position_embeddings = 1024  # room for the critique prompt
    backend = ModelBackend(LlamaForCausalLM(config).eval(), tokenizer, "tiny")
    backend.chat(parse_request({"model": "tiny", "messages": critique_messages(*PAIRS[0]),
                                "max_tokens": 8}, "tiny"))  # warm up before timing requests
    return backend


def start(backend, faults=None) -> ChatServer:
    server = ChatServer(("127.0.0.1", 0), backend, faults)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def client(server, cache_dir, **kw) -> ChatClient:
    kw = {"max_retries": 8, "timeout_s": 3.0, "backoff_s": 0.01, "max_backoff_s": 0.05, **kw}
    return ChatClient(TeacherSpec(server.url, "tiny"), "sk-test-secret", ResponseCache(cache_dir),
                      Sampling(max_tokens=8), **kw)


def test_faulty_server_loses_nothing_and_rerun_is_served_from_cache(backend, tmp_path):
    server = start(backend, Faults(fail_rate=0.3, slow_rate=0.1, slow_s=3.5, seed=1))
    try:
        first = client(server, tmp_path / "cache")
        texts = TeacherCritic(first, concurrency=2).critique_texts(PAIRS)
        assert all(isinstance(t, str) for t in texts) and len(texts) == len(PAIRS)
        assert server.counts["faults"] > 0 and server.counts["slow"] > 0
        assert first.stats.requests == len(PAIRS) and first.stats.retries > 0
        assert first.stats.prompt_tokens > 0 and first.stats.completion_tokens > 0
        files = list((tmp_path / "cache").rglob("*.json"))
        assert len(files) == len(PAIRS)
        assert not any("sk-test-secret" in f.read_text() for f in files)

        seen = server.counts["requests"]
        second = client(server, tmp_path / "cache")
        assert TeacherCritic(second, concurrency=4).critique_texts(PAIRS) == texts
        assert (second.stats.requests, second.stats.cache_hits) == (0, len(PAIRS))
        assert server.counts["requests"] == seen
    finally:
        server.shutdown()


def test_a_crash_keeps_every_answer_already_received(backend, tmp_path):
    server = start(backend, Faults(fail_rate=0.5, seed=3))
    try:
        impatient = client(server, tmp_path / "cache", max_retries=0)
        texts = TeacherCritic(impatient, concurrency=2).critique_texts(PAIRS)
        failed = sum(t is None for t in texts)
        assert 0 < failed < len(PAIRS) and impatient.stats.failures == failed
        rerun = client(server, tmp_path / "cache")
        assert all(TeacherCritic(rerun).critique_texts(PAIRS))
        assert (rerun.stats.requests, rerun.stats.cache_hits) == (failed, len(PAIRS) - failed)
    finally:
        server.shutdown()


def test_server_speaks_the_openai_protocol(backend):
    server = start(backend)
    try:
        with urllib.request.urlopen(server.url + "/models", timeout=10) as r:
            assert json.load(r)["data"][0]["id"] == "tiny"
        api = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0, timeout=30)
        messages = critique_messages(*PAIRS[0])
        out = api.chat.completions.create(model="tiny", messages=messages, max_tokens=12, n=3,
                                          temperature=1.0, seed=5)
        assert len(out.choices) == 3
        prompt = backend.render(messages)
        assert out.usage.prompt_tokens == len(backend.tokenizer(prompt)["input_ids"])
        assert out.usage.completion_tokens == sum(backend.count(c.message.content)
                                                  for c in out.choices)
        again = api.chat.completions.create(model="tiny", messages=messages, max_tokens=12, n=3,
                                            temperature=1.0, seed=5)
        assert [c.message.content for c in again.choices] == [c.message.content
                                                              for c in out.choices]
        long = api.chat.completions.create(model="tiny", messages=messages, max_tokens=40,
                                           temperature=1.0, seed=1)
        stop = long.choices[0].message.content[10:12]
        cut = api.chat.completions.create(model="tiny", messages=messages, max_tokens=40,
                                          temperature=1.0, seed=1, stop=[stop])
        assert stop not in cut.choices[0].message.content
        with pytest.raises(openai.NotFoundError):
            api.chat.completions.create(model="other", messages=messages)
        with pytest.raises(openai.BadRequestError):
            api.chat.completions.create(model="tiny", messages=messages, n=99)
        with pytest.raises(TeacherError, match="HTTP 404"):
            ChatClient(TeacherSpec(server.url, "other"), "x", ResponseCache("/nonexistent")
                       ).complete(messages)
    finally:
        server.shutdown()


def test_critique_cli_against_the_server(backend, tmp_path):
    server = start(backend, Faults(fail_rate=0.2, seed=2))
    data = tmp_path / "c.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": s[-1], "candidate": s}) + "\n"
                            for q, s in PAIRS[:4]))
    args = [sys.executable, "-m", "critiquelab.cli", "critique", "--teacher",
            f"{server.url}::tiny", "--data", str(data), "--out", str(tmp_path / "o.jsonl"),
            "--cache", str(tmp_path / "cache"), "--max-tokens", "8", "--backoff", "0.01",
            "--concurrency", "2", "--price-in", "1", "--price-out", "2"]
    env = {**os.environ, "OPENAI_API_KEY": "sk-cli-secret"}
    try:
        first = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
        assert first.returncode == 0, first.stderr
        assert "candidates=4 failed=0" in first.stdout and "requests=4" in first.stdout
        assert "cost=0.00" in first.stdout and "cache_hits=0" in first.stdout
        second = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
        assert "requests=0" in second.stdout and "cache_hits=4" in second.stdout
        bad = subprocess.run(args[:5] + ["nowhere::tiny"] + args[6:], capture_output=True,
                             text=True, timeout=120)
        assert bad.returncode == 2 and "URL::MODEL" in bad.stderr
        both = subprocess.run(args + ["--critic", "gsm8k"], capture_output=True, text=True,
                              timeout=120)
        assert both.returncode == 2 and "exactly one of" in both.stderr
    finally:
        server.shutdown()
    assert not any("sk-cli-secret" in f.read_text() for f in tmp_path.rglob("*") if f.is_file())


def test_cache_key_names_the_endpoint_and_damaged_entries_are_misses(tmp_path):
    messages, sampling = critique_messages(*PAIRS[0]), Sampling()
    a = ResponseCache.key("http://127.0.0.1:8000/v1", "m", messages, sampling)
    assert a == ResponseCache.key("http://127.0.0.1:8000/v1/", "m", messages, sampling)
    assert a != ResponseCache.key("http://127.0.0.1:8001/v1", "m", messages, sampling)
    cache = ResponseCache(tmp_path)
    for damaged in (b"{trunc", b"\xff\xfe", b"[1, 2]", b'{"usage": {}}', b'{"content": 3}',
                    b"[" * 100_000 + b"]" * 100_000):
        cache.path(a).parent.mkdir(parents=True, exist_ok=True)
        cache.path(a).write_bytes(damaged)
        assert cache.get(a) is None, damaged
    cache.path(a).unlink()
    cache.path(a).mkdir()
    assert cache.get(a) is None
    cache.path(a).rmdir()
    cache.put(a, {"content": "ok"})
    assert cache.get(a) == {"content": "ok"}


@pytest.mark.parametrize(("url", "allow", "sent"), [
    ("https://api.example.com/v1", False, True), ("http://api.example.com/v1", False, False),
    ("http://api.example.com/v1", True, True), ("http://127.0.0.1:8000/v1", False, True),
    ("http://localhost:8000/v1", False, True), ("http://[::1]:8000/v1", False, True),
    ("http://127.0.0.1.example.com/v1", False, False),
])
def test_the_key_goes_only_over_https_or_to_loopback(monkeypatch, url, allow, sent):
    monkeypatch.setenv("TEACHER_KEY", "sk-secret")
    spec = TeacherSpec(url, "m")
    if sent:
        assert spec.api_key("TEACHER_KEY", allow_insecure=allow) == "sk-secret"
    else:
        with pytest.raises(UsageError, match="plain http"):
            spec.api_key("TEACHER_KEY", allow_insecure=allow)


def test_a_refused_item_fails_with_the_servers_message_and_the_rest_go_on(tmp_path):
    teacher = ChatClient(TeacherSpec("http://127.0.0.1:9/v1", "m"), "local",
                         ResponseCache(tmp_path), Sampling(max_tokens=8))

    def create(messages, **_):
        if "1 + 2" in messages[1]["content"]:
            response = httpx2.Response(400, request=httpx2.Request("POST", "http://localhost/v1"))
            raise openai.BadRequestError("Error code: 400", response=response, body={
                "error": {"message": "prompt is 9000 tokens,\n over the 8192 limit"}})
        choice = type("Choice", (), {"message": type("M", (), {"content": "Conclusion: "
                                                                          "right [END]"})})
        return type("Response", (), {"choices": [choice], "usage": None})

    teacher.client.chat.completions.create = create
    critic = TeacherCritic(teacher, concurrency=2)
    texts = critic.critique_texts(PAIRS)
    refused = [i for i, (q, _) in enumerate(PAIRS) if "1 + 2" in q]
    assert [i for i, t in enumerate(texts) if t is None] == refused
    assert critic.failures == {refused[0]: "refused with HTTP 400: prompt is 9000 tokens, "
                                           "over the 8192 limit"}
    assert (teacher.stats.failures, teacher.stats.refused) == (1, 1)
