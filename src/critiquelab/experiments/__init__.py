"""Experiment registry: each experiment module registers one `Experiment` under its name."""

from __future__ import annotations

import importlib

from critiquelab.errors import UsageError
from critiquelab.experiments.spec import CellResult, Experiment, RunContext

__all__ = ["CellResult", "Experiment", "RunContext", "experiment_names", "get_experiment",
           "register_experiment"]

_BUILTIN = {
    "cft-vs-sft": "critiquelab.experiments.cft_vs_sft",
    "cft-vs-sft-gsm8k": "critiquelab.experiments.cft_vs_sft_gsm8k",
    "sos": "critiquelab.experiments.sos",
    "structure-vs-content": "critiquelab.experiments.structure_vs_content",
    "instructions": "critiquelab.experiments.instructions",
    "imitation-style": "critiquelab.experiments.imitation_style",
    "oneshot-cft": "critiquelab.experiments.oneshot_cft",
    "critique-noise": "critiquelab.experiments.critique_noise",
    "sequencing": "critiquelab.experiments.sequencing",
    "self-train": "critiquelab.experiments.self_train",
}
_REGISTRY: dict[str, type[Experiment]] = {}


def register_experiment(cls: type[Experiment]) -> type[Experiment]:
    """Class decorator: make an experiment runnable as `critiquelab run <cls.name>`."""
    _REGISTRY[cls.name] = cls
    return cls


def experiment_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_experiment(name: str) -> Experiment:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        raise UsageError(f"unknown experiment '{name}' (known: {', '.join(experiment_names())})")
    return _REGISTRY[name]()
