"""CFT examples in the forms other tools load: Alpaca and ShareGPT (with LLaMA-Factory's
dataset_info.json beside them), chat `messages` (TRL, OpenAI) and a saved Hugging Face dataset."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from critiquelab.data.cft import CFTExample
from critiquelab.errors import UsageError
from critiquelab.io import atomic_write_json, atomic_write_text, temp_dir

# format -> output suffixes it may be written to ("" is a directory)
EXPORTS = {"alpaca": (".json", ".jsonl"), "sharegpt": (".json", ".jsonl"),
           "messages": (".jsonl", ".json"), "hf-dataset": ("",)}
DATASET_INFO = "dataset_info.json"


def check_out(fmt: str, out: Path, suffixes: Sequence[str]) -> None:
    """Refuse an --out whose extension contradicts the format (x.json for JSONL, ...)."""
    if out.suffix not in suffixes:
        wanted = " or ".join(f"'{s}'" if s else "a directory name without an extension"
                             for s in suffixes)
        raise UsageError(f"--out {out}: {fmt} output needs {wanted}")


def _prompt(e: CFTExample) -> str:
    alpaca = e.to_alpaca()
    return f"{alpaca['instruction']}\n\n{alpaca['input']}"


def sharegpt(e: CFTExample) -> dict:
    return {"conversations": [{"from": "human", "value": _prompt(e)},
                              {"from": "gpt", "value": e.critique.strip()}]}


def messages(e: CFTExample) -> dict:
    return {"messages": [{"role": "user", "content": _prompt(e)},
                         {"role": "assistant", "content": e.critique.strip()}]}


def _llama_factory_entry(fmt: str, file_name: str) -> dict:
    if fmt == "alpaca":
        return {"file_name": file_name,
                "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    return {"file_name": file_name, "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                     "assistant_tag": "gpt"}}


def export(examples: Sequence[CFTExample], fmt: str, out: Path) -> int:
    """Write `examples` to `out` in `fmt`; returns how many were written."""
    if fmt not in EXPORTS:
        raise UsageError(f"unknown export '{fmt}': expected one of {', '.join(EXPORTS)}")
    check_out(fmt, out, EXPORTS[fmt])
    if fmt == "hf-dataset":
        _save_dataset(examples, out)
        return len(examples)
    shape = {"alpaca": CFTExample.to_alpaca, "sharegpt": sharegpt, "messages": messages}[fmt]
    rows = [shape(e) for e in examples]
    if out.suffix == ".json":
        atomic_write_text(out, json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    else:
        atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    if fmt in ("alpaca", "sharegpt"):
        _add_dataset_info(out, fmt)
    return len(rows)


def _add_dataset_info(out: Path, fmt: str) -> None:
    """Register `out` in the dataset_info.json beside it, keeping other entries."""
    path = out.parent / DATASET_INFO
    info = {}
    if path.is_file():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UsageError(f"{path}: exists and is not JSON; move it away") from None
    info[f"critiquelab_{out.stem}"] = _llama_factory_entry(fmt, out.name)
    atomic_write_json(path, info)


def _save_dataset(examples: Sequence[CFTExample], out: Path) -> None:
    """`datasets.save_to_disk` with Alpaca columns and chat `messages`, replaced atomically."""
    import datasets

    rows = [{**e.to_alpaca(), **messages(e)} for e in examples]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(out.parent, prefix=f".{out.name}.")
    try:
        datasets.Dataset.from_list(rows).save_to_disk(str(tmp / "d"))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp / "d", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
