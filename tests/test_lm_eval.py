"""lm-evaluation-harness: the shipped critiquelab_chain task evaluates an exported tiny model
(directly and through `serve`), and `score --from lm-eval-samples` re-grades what it logged."""

from __future__ import annotations

import json
import threading

import pytest
from typer.testing import CliRunner

from critiquelab.cli import app
from critiquelab.worlds import get_world

LIMIT = 3


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from critiquelab.models import load_model, save_model

    model, tok = load_model("tiny-xs", seed=0)
    return save_model(model, tok, tmp_path_factory.mktemp("lm") / "model"), model, tok


def evaluate(model: str, model_args: dict) -> list[dict]:
    """critiquelab_chain on LIMIT problems; the logged samples."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    include = CliRunner().invoke(app, ["configs", "--lm-eval"]).output.strip()
    out = simple_evaluate(model=model, model_args=model_args, tasks=["critiquelab_chain"],
                          task_manager=TaskManager(include_path=include,
                                                   include_defaults=False), limit=LIMIT,
                          metadata={"n": 2 * LIMIT}, gen_kwargs={"max_gen_toks": 16},
                          bootstrap_iters=0, log_samples=True, device="cpu")
    return out["samples"]["critiquelab_chain"]


def regrade(tmp_path, samples: list[dict]) -> tuple[list[dict], str]:
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(s, default=str) + "\n" for s in samples))
    r = CliRunner().invoke(app, ["score", str(path), "--from", "lm-eval-samples", "--out",
                                 str(tmp_path / "scored.jsonl")])
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()
            ], r.output


def test_lm_eval_runs_the_chain_task_on_an_exported_model_and_score_regrades_it(exported,
                                                                                 tmp_path):
    samples = evaluate("hf", {"pretrained": str(exported[0]), "dtype": "float32"})
    assert len(samples) == LIMIT and all(s["doc"]["world"] == "chain" for s in samples)
    rows, output = regrade(tmp_path, samples)
    assert [r["correct"] for r in rows] == [bool(s["acc"]) for s in samples]
    assert "95% CI" in output
    # a right solution in the same file is graded right by the world's verifier
    world = get_world("chain")
    right = {**samples[0], "filtered_resps": [world.solve(world.parse_problem(
        samples[0]["doc"]["problem"]))]}
    gsm = {"doc_id": 9, "doc": {"question": "2+3?"}, "target": "2+3=5\n#### 5",
           "filtered_resps": ["So the answer is 5."]}
    rows, output = regrade(tmp_path, [right, gsm])
    assert [r["correct"] for r in rows] == [True, True] and "(2/2)" in output


def test_lm_eval_local_completions_against_the_server(exported):
    from critiquelab.serving import ChatServer, ModelBackend

    path, model, tok = exported
    server = ChatServer(("127.0.0.1", 0), ModelBackend(model, tok, "tiny"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        samples = evaluate("local-completions", {
            "model": "tiny", "base_url": server.url + "/completions",
            "tokenizer_backend": None, "tokenized_requests": False, "max_retries": 1})
    finally:
        server.shutdown()
        server.server_close()
    assert len(samples) == LIMIT and server.counts["answered"] >= 1
    assert all(isinstance(s["filtered_resps"][0], str) for s in samples)
