"""Exports other tools load: data convert forms with LLaMA-Factory's dataset_info.json, saved
datasets, adapter-only and bf16 models with a model card, group-readable files."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from critiquelab.cli import app
from critiquelab.data.cft import CFTExample
from critiquelab.errors import UsageError
from critiquelab.io import atomic_write_text, temp_dir, umask

EXAMPLES = [CFTExample(f"What is {a} + 2?", f"{a} + 2 = {a + 2}\nA: {a + 2}",
                       "Step 1 is right.\nConclusion: right [END]") for a in range(3)]


def convert(tmp_path, *args: str):
    src = tmp_path / "cft.jsonl"
    src.write_text("".join(json.dumps(e.to_alpaca()) + "\n" for e in EXAMPLES))
    return CliRunner().invoke(app, ["data", "convert", str(src), *args])


def test_sharegpt_and_alpaca_land_in_llama_factory_dataset_info(tmp_path):
    r = convert(tmp_path, "--to", "sharegpt", "--out", str(tmp_path / "d" / "train.json"))
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "d" / "train.json").read_text())
    assert [m["from"] for m in rows[0]["conversations"]] == ["human", "gpt"]
    assert rows[0]["conversations"][1]["value"].endswith("Conclusion: right [END]")
    assert convert(tmp_path, "--to", "alpaca", "--out", str(tmp_path / "d" / "a.jsonl")
                   ).exit_code == 0
    info = json.loads((tmp_path / "d" / "dataset_info.json").read_text())
    assert info["critiquelab_train"]["formatting"] == "sharegpt"
    assert info["critiquelab_a"] == {"file_name": "a.jsonl", "columns": {
        "prompt": "instruction", "query": "input", "response": "output"}}
    alpaca = [json.loads(line) for line in (tmp_path / "d" / "a.jsonl").read_text().splitlines()]
    assert alpaca == [e.to_alpaca() for e in EXAMPLES]


def test_messages_and_hf_dataset_load_back(tmp_path):
    import datasets

    assert convert(tmp_path, "--to", "messages", "--out", str(tmp_path / "m.jsonl")
                   ).exit_code == 0
    first = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    assert convert(tmp_path, "--to", "hf-dataset", "--out", str(tmp_path / "ds")).exit_code == 0
    ds = datasets.load_from_disk(str(tmp_path / "ds"))
    assert len(ds) == 3 and ds[0]["output"] == EXAMPLES[0].critique
    assert ds[0]["messages"][1]["content"] == EXAMPLES[0].critique


@pytest.mark.parametrize("to, out, needle", [
    ("cft", "x.json", "'.jsonl' or '.parquet'"),
    ("sharegpt", "x.parquet", "'.json' or '.jsonl'"),
    ("hf-dataset", "x.jsonl", "a directory name"),
])
def test_an_out_extension_contradicting_the_format_is_refused(tmp_path, to, out, needle):
    r = convert(tmp_path, "--to", to, "--out", str(tmp_path / out))
    assert isinstance(r.exception, UsageError) and needle in str(r.exception)
    assert not (tmp_path / out).exists()


def test_push_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = convert(tmp_path, "--to", "messages", "--out", str(tmp_path / "m.jsonl"),
                "--push-to-hub", "someone/cft")
    assert isinstance(r.exception, UsageError) and "HF_HUB_OFFLINE" in str(r.exception)


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
        assert stat.S_IMODE(temp_dir(tmp_path, ".t").stat().st_mode) == 0o755
        os.umask(0o077)
        atomic_write_text(tmp_path / "g.txt", "x")
        assert stat.S_IMODE((tmp_path / "g.txt").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_adapter_only_and_bf16_exports_carry_a_model_card(tmp_path):
    from safetensors import safe_open

    from critiquelab.training import TrainConfig
    from critiquelab.training.finetune import finetune_file
    from critiquelab.training.lora import lora_config

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(e.to_training_record()) + "\n" for e in EXAMPLES))
    config = TrainConfig(max_steps=2, batch_size=2, save_steps=2, logging_steps=1)
    finetune_file("tiny-xs", str(data), tmp_path / "a", config, lora_config(4, 8, 0.0),
                  adapter_only=True)
    adapter = tmp_path / "a" / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "a" / "model").exists()
    card = (adapter / "README.md").read_text()
    assert "library_name: peft" in card and "optimizer steps: 2" in card
    finetune_file("tiny-xs", str(data), tmp_path / "b", config, dtype="bf16")
    model = tmp_path / "b" / "model"
    with safe_open(str(model / "model.safetensors"), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.bfloat16"}
    assert "(bf16)" in (model / "README.md").read_text()
    shared = 0o666 & ~umask()  # safetensors' own 0600 temporary files are widened too
    for f in [*adapter.iterdir(), *model.iterdir()]:
        assert stat.S_IMODE(f.stat().st_mode) == shared, f
    with pytest.raises(UsageError, match="needs --lora"):
        finetune_file("tiny-xs", str(data), tmp_path / "c", config, adapter_only=True)
