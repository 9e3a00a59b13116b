"""Load a model by name (a tiny preset, smollm2-135m), from a local Hugging Face directory, a
GGUF file or the Hub (models/sources.py); save atomically."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers import PreTrainedTokenizerBase as Tokenizer

from critiquelab.errors import UsageError
from critiquelab.io import share_tree, temp_dir
from critiquelab.models.quiet import quiet
from critiquelab.models.sources import load_pretrained
from critiquelab.models.tiny import TINY_PRESETS, build_tiny_model
from critiquelab.models.tokenizer import build_char_tokenizer


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" is the GPU when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device '{device}': expected auto, cpu, cuda or cuda:N") from None


def attn_implementation(device: torch.device) -> str:
    """Eager attention on CPUs (measured faster than SDPA there under bf16); SDPA elsewhere."""
    return "eager" if device.type == "cpu" else "sdpa"


def load_model(spec: str, device: str = "auto", *, seed: int = 0
               ) -> tuple[PreTrainedModel, Tokenizer]:
    """A tiny preset (freshly initialised from `seed`), a local model directory, a GGUF file,
    `smollm2-135m` or a Hub id, in eval mode."""
    target = resolve_device(device)
    if spec in TINY_PRESETS:
        tokenizer = build_char_tokenizer()
        model = build_tiny_model(spec, tokenizer, seed, attn_implementation(target))
    elif Path(spec).expanduser().is_dir():
        model, tokenizer = _load_local(Path(spec).expanduser(), target)
    else:  # GGUF files (smollm2-135m) and Hub ids
        model, tokenizer = load_pretrained(spec, attn_implementation=attn_implementation(target))
    return model.to(target).eval(), tokenizer


def _load_local(path: Path, device: torch.device) -> tuple[PreTrainedModel, Tokenizer]:
    if not (path / "config.json").is_file():
        raise UsageError(f"{path}: not a model directory (no config.json)")
    try:
        with quiet():
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(
                path, use_safetensors=True, dtype=torch.float32,
                attn_implementation=attn_implementation(device))
    except OSError as e:
        raise UsageError(f"{path}: cannot load the model (safetensors weights needed): "
                         f"{str(e).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def save_model(model: PreTrainedModel, tokenizer: Tokenizer, path: str | Path) -> Path:
    """Write a complete safetensors model directory at `path`, replacing it atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(path.parent, prefix=f".{path.name}.")
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    try:
        with quiet():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        share_tree(tmp)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return path
