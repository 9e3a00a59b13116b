"""Pretrained chain bases shipped with the package (critiquelab/bases/<experiment>-<preset>/): a
model directory plus recipe.json with the hash of the recipe it was trained from. Stage 0 uses
a shipped base whose hash matches instead of pretraining; `critiquelab base build` makes one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from critiquelab.io import atomic_write_json, stable_hash
from critiquelab.worlds import Problem

SHIPPED = Path(__file__).resolve().parent.parent / "bases"
RECIPE_FILE = "recipe.json"


def base_key(params: dict, problems: list[Problem]) -> str:
    """The recipe hash: everything that shapes a pretrained base (world, model, pretraining
    settings, data seed, the very problems it is trained on)."""
    return stable_hash({"world": params["world"], "model": params["model"],
                        "pretrain": params["pretrain"], "data_seed": params["data_seed"],
                        "problems": [q.id for q in problems]})


def shipped_bases() -> dict[str, Path]:
    """recipe hash -> directory of every base shipped with the package."""
    out = {}
    for recipe in sorted(SHIPPED.glob(f"*/{RECIPE_FILE}")):
        out[json.loads(recipe.read_text())["key"]] = recipe.parent
    return out


def install_shipped(key: str, target: Path) -> bool:
    """Copy the shipped base with recipe hash `key` to `target` (atomically; a process that
    loses the race to install it keeps the winner's copy); False if none."""
    source = shipped_bases().get(key)
    if source is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def ship(base_dir: Path, key: str, experiment: str, preset: str,
         dest_root: Path = SHIPPED) -> Path:
    """Copy a freshly built base into dest_root/<experiment>-<preset> with its recipe hash;
    returns the copy."""
    dest = dest_root / f"{experiment}-{preset}"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(base_dir, dest)
    stats = json.loads((base_dir / "pretrain.json").read_text())
    atomic_write_json(dest / RECIPE_FILE, {"key": key, "experiment": experiment,
                                           "preset": preset, "pretrain": stats})
    return dest
