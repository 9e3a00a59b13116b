"""World registry: built-in worlds by name, plus third-party ones via entry points."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from critiquelab.errors import UsageError
from critiquelab.worlds.base import InjectedError, Problem, StepCheck, Verification, World

__all__ = ["InjectedError", "Problem", "StepCheck", "Verification", "World", "get_world",
           "register_world", "world_names"]

_BUILTIN = {"chain": "critiquelab.worlds.chain", "countdown": "critiquelab.worlds.countdown"}
_REGISTRY: dict[str, Callable[..., World]] = {}


def register_world(name: str) -> Callable[[type[World]], type[World]]:
    """Class decorator that makes a world available under `name`."""

    def deco(cls: type[World]) -> type[World]:
        _REGISTRY[name] = cls
        return cls

    return deco


def _load(name: str) -> None:
    if name in _REGISTRY:
        return
    if name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
        return
    for ep in entry_points(group="critiquelab.worlds"):
        if ep.name == name:
            _REGISTRY[name] = ep.load()


def world_names() -> list[str]:
    names = set(_BUILTIN) | set(_REGISTRY)
    names |= {ep.name for ep in entry_points(group="critiquelab.worlds")}
    return sorted(names)


def get_world(name: str, **config) -> World:
    """Instantiate a world by name with its configuration knobs."""
    _load(name)
    if name not in _REGISTRY:
        raise UsageError(f"unknown world '{name}' (known: {', '.join(world_names())})")
    try:
        return _REGISTRY[name](**config)
    except (TypeError, ValueError) as e:
        raise UsageError(f"invalid configuration for world '{name}': {e}") from None
