"""Fine-tune any model on a file of records and export it as one safetensors directory.

Runs unchanged under `accelerate launch` (DDP, DeepSpeed ZeRO-3, FSDP; one or many nodes):
every process trains, and the main one exports the last checkpoint, which the Trainer
writes gathered from all shards (LoRA adapters are merged into the base on export).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from accelerate import PartialState
from peft import LoraConfig

from critiquelab.data.records import load_training_records
from critiquelab.errors import UsageError
from critiquelab.io import atomic_write_json, atomic_write_text, temp_dir
from critiquelab.models import load_model, save_model
from critiquelab.models.chat import chat_record
from critiquelab.models.quiet import quiet
from critiquelab.training.lora import merge_adapter
from critiquelab.training.model_card import model_card
from critiquelab.training.sft import TrainConfig, last_checkpoint, train

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}  # of the exported weights


def finetune_file(spec: str, data: str, out: Path, config: TrainConfig,
                  peft_config: LoraConfig | None = None, split: str | None = None,
                  use_chat_template: bool = True, progress: bool = False,
                  dtype: str = "fp32", adapter_only: bool = False) -> dict | None:
    """Train `spec` on the records in `data`; write out/model (or out/adapter with
    `adapter_only`), each with a model card, and out/train.json. Returns the summary on the
    main process and None on the others. Rerunning resumes an interrupted run and returns a
    finished one's summary."""
    out = Path(out)
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    if adapter_only and peft_config is None:
        raise UsageError("--save-adapter needs --lora (full fine-tuning has no adapter)")
    request = {"model": spec, "data": str(data), "split": split,
               "chat_template": use_chat_template, "config": _settings(config),
               "lora": _lora_summary(peft_config), "dtype": dtype,
               "adapter_only": adapter_only}
    if (done := _finished(out, request)) is not None:
        return done
    state = PartialState()
    records = load_training_records(data, split)
    model, tokenizer = load_model(spec, seed=config.seed)
    records = [chat_record(tokenizer, r, use_chat_template) for r in records]
    model.to(state.device)
    result = train(model, tokenizer, records, config, out / "checkpoints", progress=progress,
                   peft_config=peft_config)
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    target = out / ("adapter" if adapter_only else "model")
    export_checkpoint(spec, out / "checkpoints", target, config.seed, dtype, adapter_only)
    summary = {"request": request, **asdict(result.records), "processes": state.num_processes,
               "steps": result.steps, "tokens": result.tokens,
               "loss_tokens": result.loss_tokens, "wall_s": round(result.wall_s, 2),
               "tokens_per_s": round(result.tokens_per_s, 1),
               "final_loss": result.loss_curve[-1][1] if result.loss_curve else None,
               "loss_curve": result.loss_curve}
    atomic_write_text(target / "README.md", model_card(summary, adapter_only))
    atomic_write_json(out / "train.json", summary)
    return summary


def _finished(out: Path, request: dict) -> dict | None:
    """The summary of a finished run of the same request in `out`, if there is one."""
    path = out / "train.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if summary.get("request") != json.loads(json.dumps(request)):
        raise UsageError(f"{out} holds a finished training run with other settings; "
                         "use another --out")
    return summary


def _settings(config: TrainConfig) -> dict:
    """The config fields that change the trained model (tracking does not)."""
    return {k: v for k, v in asdict(config).items() if k not in ("report_to", "run_name")}


def _lora_summary(config: LoraConfig | None) -> dict | None:
    if config is None:
        return None
    targets = config.target_modules
    return {"r": config.r, "alpha": config.lora_alpha, "dropout": config.lora_dropout,
            "target_modules": targets if isinstance(targets, str) else sorted(targets)}


def export_checkpoint(spec: str, checkpoints: Path, target: Path, seed: int = 0,
                      dtype: str = "fp32", adapter_only: bool = False) -> Path:
    """Save the last checkpoint as a plain model directory in `dtype`, LoRA adapters merged;
    with `adapter_only`, the adapter and tokenizer alone (a few MB, loaded with PEFT)."""
    ckpt = last_checkpoint(checkpoints)
    if ckpt is None:
        raise RuntimeError(f"{checkpoints}: training wrote no checkpoint")
    if adapter_only:
        tmp = temp_dir(target.parent, prefix=f".{target.name}.")
        for f in ckpt.iterdir():
            if f.name.startswith(("adapter_", "tokenizer", "special_tokens", "chat_template")):
                shutil.copyfile(f, tmp / f.name)  # a new file, with the umask's mode
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        return target
    if (ckpt / "adapter_config.json").is_file():
        base, tokenizer = load_model(spec, seed=seed)
        with quiet():
            model = merge_adapter(base, ckpt)
    else:
        model, tokenizer = load_model(str(ckpt))
    save_model(model.to(DTYPES[dtype]), tokenizer, target)
    return target
