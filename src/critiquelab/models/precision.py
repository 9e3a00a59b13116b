"""Choose the precision: bf16 autocast where the hardware is fast at it, else fp32."""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path

import torch

from critiquelab.errors import UsageError

PRECISIONS = ("auto", "bf16", "fp32")


@cache
def cpu_has_fast_bf16() -> bool:
    """True when the CPU has AMX (Sapphire Rapids or later), where bf16 matmuls beat fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    return "amx_bf16" in flags or "AMX" in torch.backends.cpu.get_cpu_capability()


def autocast_dtype(device: torch.device | str, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype to use on `device` (None means plain fp32)."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}': expected one of "
                         f"{', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if device.type == "cpu" and cpu_has_fast_bf16() else None


def autocast_context(device: torch.device | str, precision: str = "auto"
                     ) -> contextlib.AbstractContextManager:
    """An autocast context for `device` (a no-op context for fp32)."""
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def describe_precision(device: torch.device | str | None = None, precision: str = "auto") -> str:
    """A short phrase for reports, e.g. 'bf16 autocast (cpu, AMX)'; default: the training device."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return f"fp32 ({device.type})"
    why = ", AMX" if device.type == "cpu" and cpu_has_fast_bf16() else ""
    return f"bf16 autocast ({device.type}{why})"
