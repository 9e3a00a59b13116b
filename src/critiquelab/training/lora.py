"""LoRA adapters through PEFT: the config `train` takes, and merging them back for saving."""

from __future__ import annotations

from pathlib import Path

from peft import LoraConfig, PeftModel
from transformers import PreTrainedModel

from critiquelab.errors import UsageError


def lora_config(r: int = 16, alpha: float = 32, dropout: float = 0.05,
                target_modules: str = "all-linear") -> LoraConfig:
    """A causal-LM LoRA config; `target_modules` is "all-linear" (every linear layer but the
    output head) or comma-separated module names such as "q_proj,v_proj"."""
    if r < 1:
        raise UsageError(f"--lora-r must be at least 1, got {r}")
    if alpha <= 0:
        raise UsageError(f"--lora-alpha must be positive, got {alpha}")
    if not 0 <= dropout < 1:
        raise UsageError(f"--lora-dropout must be in [0, 1), got {dropout}")
    targets: str | list[str] = target_modules
    if target_modules != "all-linear":
        targets = [t.strip() for t in target_modules.split(",") if t.strip()]
        if not targets:
            raise UsageError("--lora-targets names no module")
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                      task_type="CAUSAL_LM")


def merge_adapter(base: PreTrainedModel, adapter_dir: Path) -> PreTrainedModel:
    """`base` with the LoRA adapter saved in adapter_dir merged into its weights."""
    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
