"""Real models: sources (GGUF smollm2-135m, local, Hub), chat rendering, training records,
generation backends, LoRA, `critiquelab train` / `solve` / `configs`, and the GSM8K
experiment end to end on CPU."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from critiquelab.cli import app
from critiquelab.data.records import load_training_records
from critiquelab.errors import UsageError
from critiquelab.experiments import cft_vs_sft_gsm8k as gsm8k_exp
from critiquelab.models import load_model
from critiquelab.models.backends import VLLMBackend, choose_backend
from critiquelab.models.chat import chat_prompt, chat_record
from critiquelab.models.generate import generate
from critiquelab.models.sources import resolve_source

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "gsm8k_mini"


def cli(*args: str):
    """Run a command in this process (an exception, e.g. UsageError, is left in .exception)."""
    return CliRunner().invoke(app, list(args))


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2-135m")


def test_smollm2_loads_from_gguf_with_its_chat_template(smollm2):
    model, tok = smollm2
    assert sum(p.numel() for p in model.parameters()) > 100_000_000
    ids = tok("Natalia sold 48 clips in April.", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape[-1] == len(tok) and torch.isfinite(logits).all()
    prompt = chat_prompt(tok, "What is 2 + 3?")
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\n")
    out = generate(model, tok, [prompt], 8)[0][0]
    assert out.strip() and "<|im_end|>" not in out
    cached = resolve_source("smollm2-135m")
    assert cached.kind == "gguf" and cached.location.endswith(".gguf")


def test_chat_records_render_turns_and_plain_tokenizers_pass_through(smollm2):
    _, tok = smollm2
    rendered = chat_record(tok, {"prompt": "2+2?", "completion": "4"})
    assert rendered["prompt"].endswith("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n")
    assert rendered["completion"] == "4<|im_end|>\n"
    turns = {"messages": [{"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "hello"}]}
    assert chat_record(tok, turns)["text"].endswith("<|im_start|>assistant\nhello<|im_end|>\n")
    _, char_tok = load_model("tiny-xs")
    plain = {"prompt": "Q: 1\n", "completion": "2"}
    assert chat_record(char_tok, plain) == plain and chat_prompt(char_tok, "Q") == "Q"
    with pytest.raises(UsageError, match="chat template"):
        chat_record(char_tok, turns)


def test_unknown_sources_are_usage_errors(tmp_path, monkeypatch):
    for spec, match in (("nope", "unknown model"), (str(tmp_path / "x.gguf"), "no such GGUF"),
                        (str(tmp_path), "no config.json")):
        with pytest.raises(UsageError, match=match):
            load_model(spec)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UsageError, match="offline"):
        load_model("no-such-org/no-such-model")


def test_training_records_from_every_supported_kind(tmp_path):
    cft = {"instruction": "Critique.", "input": "Question:\nq?\n\nSolution:\ns", "output":
           "Step 1: no calculation to check.\nConclusion: right [END]"}
    records = load_training_records(write(tmp_path / "cft.jsonl", [cft]))
    assert records[0]["prompt"].startswith("Critique.") and "Conclusion: right" in \
        records[0]["completion"]
    gold = load_training_records(FIXTURES / "gsm8k" / "train_head.jsonl")
    assert len(gold) == 5 and gold[0]["completion"].rstrip().endswith("#### 72")
    with pytest.raises(UsageError, match="mix record kinds"):
        load_training_records(write(tmp_path / "mix.jsonl", [{"text": "a"}, cft]))
    with pytest.raises(UsageError, match="reference 'solution'"):
        load_training_records(write(tmp_path / "p.jsonl", [{"question": "q", "answer": "1"}]))
    with pytest.raises(UsageError, match=r"bad\.jsonl:1"):
        load_training_records(write(tmp_path / "bad.jsonl", [{"foo": 1}]))


def test_backend_choice_and_vllm_sampling_params(monkeypatch):
    assert choose_backend("auto") == "transformers"  # no GPU in tests
    with pytest.raises(UsageError, match="vllm"):
        choose_backend("vllm")
    with pytest.raises(UsageError, match="unknown backend"):
        choose_backend("tgi")
    calls = []

    class LLM:
        def __init__(self, **kwargs):
            calls.append(("init", kwargs))

        def generate(self, prompts, params, use_tqdm):
            calls.append(("generate", params))
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"{p}-{i}")
                                                   for i in range(params.n)]) for p in prompts]

    fake = types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: types.SimpleNamespace(**kw))
    monkeypatch.setitem(sys.modules, "vllm", fake)
    backend = VLLMBackend("some/dir", seed=3)
    assert backend.generate(["a", "b"], 5, n=2) == [["a-0", "a-0"], ["b-0", "b-0"]]
    greedy = calls[-1][1]
    assert (greedy.n, greedy.temperature, greedy.max_tokens, greedy.stop) == (1, 0.0, 5, None)
    assert backend.generate(["a"], 5, n=3, temperature=0.7, top_p=0.9, stop=["\n\n"]) == \
        [["a-0", "a-1", "a-2"]]
    sampled = calls[-1][1]
    assert (sampled.n, sampled.top_p, sampled.stop) == (3, 0.9, ["\n\n"])
    assert calls[0] == ("init", {"model": "some/dir", "seed": 3, "dtype": "auto",
                                 "gpu_memory_utilization": 0.85})


def ok(result) -> None:
    assert result.exit_code == 0, (result.output, result.exception)


def test_train_cli_lora_tiny_resumes_and_solve_grades(tmp_path):
    data = write(tmp_path / "train.jsonl",
                 [{"prompt": f"Q: {i}+1\n", "completion": f"A: {i + 1}"} for i in range(8)])
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--model", "tiny-xs", "--lora", "--lora-r", "4",
            "--lora-targets", "q_proj,v_proj", "--lr", "1e-2", "--max-steps", "2",
            "--batch-size", "4", "--quiet", "--out", str(out)]
    ok(cli(*args))
    summary = json.loads((out / "train.json").read_text())
    assert summary["steps"] == 2 and summary["request"]["lora"]["r"] == 4
    assert (summary["records_in"], summary["records_trained"], summary["dropped"],
            summary["truncated"]) == (8, 8, 0, 0)
    base, _ = load_model("tiny-xs", seed=0)
    merged = load_file(out / "model" / "model.safetensors")
    assert not any("lora" in k for k in merged)
    q = "model.layers.0.self_attn.q_proj.weight"
    up = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(merged[q], base.state_dict()[q])  # adapted and merged
    assert torch.equal(merged[up], base.state_dict()[up])  # not a LoRA target
    ok(cli(*args))  # a finished run is not trained further
    assert json.loads((out / "train.json").read_text()) == summary
    changed = cli(*args, "--lr", "1e-3")
    assert isinstance(changed.exception, UsageError) and "other settings" in str(
        changed.exception)

    preds = tmp_path / "preds.jsonl"
    solved = cli("solve", "--data", str(FIXTURES / "gsm8k" / "train_head.jsonl"), "--model",
                 str(out / "model"), "--max-new-tokens", "4", "--out", str(preds))
    ok(solved)
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(rows) == 5 and {"correct", "prediction", "reference"} <= set(rows[0])
    assert "accuracy: 0.0000 (0/5) backend=transformers" in solved.output


def test_train_cli_lora_on_smollm2(tmp_path, smollm2):
    out = tmp_path / "run"
    ok(cli("train", "--data", str(FIXTURES / "gsm8k" / "train_head.jsonl"), "--model",
           "smollm2-135m", "--lora", "--lr", "1e-3", "--max-steps", "2", "--batch-size", "2",
           "--max-length", "96", "--out", str(out), "--quiet"))
    summary = json.loads((out / "train.json").read_text())
    assert summary["steps"] == 2 and summary["loss_tokens"] > 0
    model, tok = load_model(str(out / "model"))
    assert tok.chat_template == smollm2[1].chat_template
    w = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(model.state_dict()[w], smollm2[0].state_dict()[w])


def test_cli_errors_configs_and_gpu_check(tmp_path, monkeypatch, capsys):
    bad = subprocess.run([sys.executable, "-m", "critiquelab.cli", "train", "--data",
                          str(tmp_path / "none.jsonl"), "--model", "tiny-xs", "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr
    zero = cli("train", "--data", str(MINI / "train.jsonl"), "--lora", "--lora-r", "0",
               "--model", "tiny-xs", "--out", str(tmp_path / "o"))
    assert isinstance(zero.exception, UsageError) and "--lora-r" in str(zero.exception)
    listed = cli("configs")
    paths = listed.output.split()
    assert [Path(p).name for p in paths] == ["accelerate_ddp.yaml", "accelerate_fsdp.yaml",
                                             "accelerate_zero3.yaml"]
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = [load_config_from_file(p).distributed_type.value for p in paths]
    assert kinds == ["MULTI_GPU", "FSDP", "DEEPSPEED"]
    gpu_check = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"))
    monkeypatch.setattr(sys, "argv", ["gpu_check.py"])
    assert gpu_check["main"]() == 1 and "no CUDA GPU" in capsys.readouterr().err


def test_gsm8k_splits_keep_test_problems_out_of_training():
    params = {"data": str(MINI), "data_seed": 7, "n_eval": 100, "n_critique_eval": 100,
              "critic": "gsm8k"}
    state = gsm8k_exp.gsm8k_setup(params)
    tested = {gsm8k_exp.question_hash(p.question) for p in state.test}
    trained = {gsm8k_exp.question_hash(c.question) for c in state.candidates}
    assert len(tested) == 8 and len(trained) == 8 and not tested & trained
    assert set(state.critiques) == {c.key for c in state.candidates}
    leaky = gsm8k_exp.GSM8KState(state.gold + [state.test[0]], state.candidates, state.test,
                       state.critique_test, {})
    with pytest.raises(AssertionError, match="1 test problems"):
        gsm8k_exp.assert_no_leak(leaky)


def test_gsm8k_experiment_runs_end_to_end(tmp_path, monkeypatch, smollm2):
    from critiquelab.experiments import get_experiment
    from critiquelab.experiments.runner import make_context, run_experiment

    exp = get_experiment("cft-vs-sft-gsm8k")
    finetune = {**exp.presets["smoke"]["finetune"], "steps": 1}
    shrink = {"data": str(MINI), "n_eval": 2, "n_critique_eval": 2, "max_new_tokens": 8,
              "critique_max_new_tokens": 4, "finetune": finetune}  # the smoke preset, smaller
    results = run_experiment(exp, make_context(exp, "smoke", 1, tmp_path / "run", progress=False,
                                               overrides=shrink))
    assert results["params"]["model"] == "smollm2-135m"
    for arm in ("base", "sft-raw", "sft-verified", "sft-gold", "cft"):
        for metric in ("solve_accuracy", "format_rate", "critique_accuracy"):
            ci = results["arms"][arm][metric]["test"]
            assert ci["ci95"][0] <= ci["mean"] <= ci["ci95"][1] and ci["n"] == 2
    budget = results["budget"]
    assert budget["base"]["steps"] == 0
    assert all(budget[a]["steps"] > 0 for a in ("sft-raw", "sft-verified", "sft-gold", "cft"))
    assert not list((tmp_path / "run" / "work").glob("*/train"))  # no optimizer states kept
    assert (tmp_path / "run" / "report.html").is_file()
    monkeypatch.delenv("CRITIQUELAB_GSM8K", raising=False)
    missing = cli("run", "cft-vs-sft-gsm8k", "--preset", "smoke", "--model", "tiny-xs",
                  "--out", str(tmp_path / "m"))
    assert "needs GSM8K" in str(missing.exception)
    wrong = cli("run", "cft-vs-sft", "--preset", "smoke", "--data", str(MINI), "--out",
                str(tmp_path / "w"))
    assert "no --data option" in str(wrong.exception)
