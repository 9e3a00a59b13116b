"""The server answers every request in JSON, streams as the openai client expects, scores
text with /v1/completions (echo, logprobs) and frees idle sockets."""

from __future__ import annotations

import http.client
import json
import socket
import threading

import openai
import pytest
import torch
from transformers import LlamaForCausalLM

from critiquelab.models.tiny import tiny_config
from critiquelab.models.tokenizer import build_char_tokenizer
from critiquelab.serving import ChatServer, ModelBackend

MESSAGES = [{"role": "user", "content": "What is 2 + 3?"}]


@pytest.fixture(scope="module")
def server():
    tokenizer = build_char_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_config("tiny-xs", tokenizer)).eval()
    server = ChatServer(("127.0.0.1", 0), ModelBackend(model, tokenizer, "tiny"),
                        idle_timeout_s=1.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def post(server, body: bytes, path: str = "/v1/chat/completions",
         headers: dict | None = None) -> tuple[int, dict]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.putrequest("POST", path)
    for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    r = conn.getresponse()
    payload = json.loads(r.read())
    conn.close()
    return r.status, payload


def chat(**fields) -> bytes:
    return json.dumps({"model": "tiny", "messages": MESSAGES, "max_tokens": 4, **fields}).encode()


@pytest.mark.parametrize("body, status, needle", [
    (b"\xff\xfe{}", 400, "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
    (b'{"model": "tiny", "n": ' + b"9" * 5000 + b"}", 400, "not valid JSON"),
    (chat(max_tokens=0), 400, "max_tokens"),
    (chat(max_tokens=True), 400, "max_tokens"),
    (chat(seed=2**70), 400, "seed"),
    (chat(temperature=float("nan")), 400, "temperature"),
    (chat(stream="yes"), 400, "stream"),
    (b"[1, 2]", 400, "JSON object"),
])
def test_bad_bodies_get_a_json_4xx(server, body, status, needle):
    code, payload = post(server, body)
    assert code == status and needle in payload["error"]["message"]


def test_bad_content_length_and_unknown_routes_get_json(server):
    code, payload = post(server, b"{}", headers={"Content-Length": "abc"})
    assert code == 400 and "Content-Length" in payload["error"]["message"]
    code, payload = post(server, chat(), path="/v1/nope")
    assert code == 404 and payload["error"]["code"] == 404


def test_tiny_temperature_is_answered_greedily(server):
    code, hot = post(server, chat(temperature=1e-300, seed=3))
    _, greedy = post(server, chat(temperature=0, seed=4))
    assert code == 200
    assert hot["choices"][0]["message"]["content"] == greedy["choices"][0]["message"]["content"]


def test_an_idle_socket_is_answered_and_closed(server):
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n")
        reply = b""
        while chunk := s.recv(4096):  # the server closes after answering
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408") and b'"timeout_error"' in reply
    with socket.create_connection((host, port), timeout=10) as s:  # never sends a request line
        assert s.recv(4096) == b""


def test_openai_client_streams_and_health_answers(server):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/health")
    assert json.loads(conn.getresponse().read()) == {"status": "ok", "model": "tiny"}
    api = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0, timeout=30)
    whole = api.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=20,
                                        temperature=1.0, seed=7)
    chunks = list(api.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=20,
                                              temperature=1.0, seed=7, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(chunks) > 2 and text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    pieces = api.completions.create(model="tiny", prompt="2+3=", max_tokens=12, temperature=0,
                                    stream=True)
    plain = api.completions.create(model="tiny", prompt="2+3=", max_tokens=12, temperature=0)
    assert "".join(c.choices[0].text for c in pieces) == plain.choices[0].text


def test_completions_echo_logprobs_score_the_prompt(server):
    backend = server.backend
    api = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0, timeout=30)
    ids = backend.tokenizer("12+30=42")["input_ids"]
    out = api.completions.create(model="tiny", prompt=ids, max_tokens=0, echo=True, logprobs=1)
    lp = out.choices[0].logprobs
    assert out.choices[0].text == backend.tokenizer.decode(ids)
    assert len(lp.token_logprobs) == len(ids) and lp.token_logprobs[0] is None
    with torch.no_grad():
        logits = backend.model(torch.tensor([ids])).logits[0].log_softmax(-1)
    expected = sum(float(logits[i - 1, ids[i]]) for i in range(1, len(ids)))
    assert sum(lp.token_logprobs[1:]) == pytest.approx(expected, abs=1e-4)
    assert all(len(top) == 1 and max(top.values()) >= t
               for top, t in zip(lp.top_logprobs[1:], lp.token_logprobs[1:], strict=True))
    one = api.completions.create(model="tiny", prompt=["1+1=", "2+2="], max_tokens=1,
                                 echo=True, logprobs=1, temperature=0)
    assert len(one.choices) == 2 and one.choices[1].text.startswith("2+2=")
