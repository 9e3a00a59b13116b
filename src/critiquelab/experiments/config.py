"""Presets as validated data: `--config FILE.yaml` and `--set key=value` deep-merged into a
preset, every key and type checked against the preset itself (one-line errors, did-you-mean)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from critiquelab.errors import UsageError

_NUMBER = (int, float)


def parse_set(items: list[str]) -> dict[str, Any]:
    """`a.b=1` strings into a nested dict; values are YAML scalars or lists (never code)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got '{item}'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except (yaml.YAMLError, RecursionError):
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UsageError(f"--set {key}: '{part}' is set twice")
        node[parts[-1]] = value
    return out


def load_config(path: Path) -> dict[str, Any]:
    """A YAML mapping of preset overrides."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read --config {path}: {e.strerror}") from None
    except (UnicodeDecodeError, RecursionError):
        raise UsageError(f"--config {path} is not readable YAML text") from None
    except yaml.YAMLError as e:
        raise UsageError(f"--config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"--config {path} must hold a mapping of preset keys")
    return data


def merge(base: dict[str, Any], overrides: dict[str, Any], where: str = "") -> dict[str, Any]:
    """`base` with `overrides` deep-merged; an unknown key or a value of the wrong type is a
    UsageError naming the key."""
    out = dict(base)
    for key, value in overrides.items():
        name = f"{where}{key}"
        if key not in base:
            close = difflib.get_close_matches(str(key), [str(k) for k in base], n=1)
            hint = f"; did you mean '{where}{close[0]}'?" if close else ""
            raise UsageError(f"unknown setting '{name}'{hint}")
        old = base[key]
        if isinstance(old, dict):
            if not isinstance(value, dict):
                raise UsageError(f"setting '{name}' is a group; set its keys ({name}.<key>)")
            out[key] = merge(old, value, f"{name}.")
        else:
            out[key] = coerce(name, old, value)
    return out


def coerce(name: str, old: Any, value: Any) -> Any:
    """`value` as the type of the preset's `old` value, or a UsageError."""
    if old is None or value is None:
        return value
    if isinstance(old, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(old, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(old, float):
        if isinstance(value, _NUMBER) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 1e-4 as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(old, str):
        if isinstance(value, str):
            return value
    elif isinstance(old, list | tuple):
        if isinstance(value, list | tuple):
            items = [coerce(f"{name}[{i}]", old[0], v) if old else v
                     for i, v in enumerate(value)]
            return type(old)(items)
    raise UsageError(f"setting '{name}' expects {type(old).__name__}, got {value!r}")


def resolve(presets: dict[str, dict[str, Any]], preset: str, config: dict[str, Any] | None,
            sets: dict[str, Any] | None) -> dict[str, Any]:
    """The preset, then the config file, then --set, each merged and checked."""
    params = merge(presets[preset], config or {})
    return merge(params, sets or {})
