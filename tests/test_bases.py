"""Shipped bases: each one's recorded recipe hash is the hash of its preset's recipe today (a
recipe change without `critiquelab base build` fails here), and stage 0 installs it."""

from __future__ import annotations

import json

import pytest
from test_cli_fuzz import invoke

from critiquelab.experiments import chain_common, get_experiment
from critiquelab.experiments.bases import (
    RECIPE_FILE,
    SHIPPED,
    base_key,
    install_shipped,
    shipped_bases,
)
from critiquelab.experiments.chain_common import chain_splits, pretrained_base
from critiquelab.experiments.runner import make_context
from critiquelab.training.sft import last_checkpoint

RECIPES = sorted(SHIPPED.glob(f"*/{RECIPE_FILE}"))


def test_the_smoke_and_default_bases_are_shipped():
    assert {"cft-vs-sft-smoke", "cft-vs-sft-default"} <= {r.parent.name for r in RECIPES}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.parent.name)
def test_shipped_recipe_hash_matches_the_preset(recipe):
    shipped = json.loads(recipe.read_text())
    params = get_experiment(shipped["experiment"]).presets[shipped["preset"]]
    _, splits = chain_splits(params)
    assert shipped["key"] == base_key(params, splits["pretrain"]), (
        f"{recipe.parent.name} is stale: rebuild it with `critiquelab base build --experiment "
        f"{shipped['experiment']} --preset {shipped['preset']}`")
    assert (recipe.parent / "model.safetensors").stat().st_size < 20_000_000


def test_stage_0_installs_the_shipped_base(tmp_path):
    exp = get_experiment("cft-vs-sft")
    ctx = make_context(exp, "smoke", 1, tmp_path / "run", tmp_path / "cache", progress=False)
    world, splits = chain_splits(ctx.params)
    path = pretrained_base(world, splits["pretrain"], ctx)
    key = base_key(ctx.params, splits["pretrain"])
    assert path.name == f"chain-{key}" and key in shipped_bases()
    assert (path / "model.safetensors").read_bytes() == (
        shipped_bases()[key] / "model.safetensors").read_bytes()


def test_a_second_install_of_the_same_base_keeps_the_first(tmp_path):
    # two processes may both find the base missing and race to install it (parallel tests,
    # parallel experiments); the loser must keep the winner's copy, not fail
    key = next(iter(shipped_bases()))
    target = tmp_path / "bases" / f"chain-{key}"
    assert install_shipped(key, target) and install_shipped(key, target)
    assert (target / "config.json").is_file()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp left behind


def test_a_killed_base_build_resumes_from_its_checkpoints(tmp_path, monkeypatch, capsys):
    tiny = {**chain_common.SMOKE, "n_pretrain": 60, "n_train": 20, "n_validation": 4,
            "n_recall": 4, "n_eval": 4,
            "pretrain": {**chain_common.SMOKE["pretrain"],
                         "train": {"learning_rate": 3e-3, "max_steps": 4, "batch_size": 8,
                                   "save_steps": 2, "seed": 0}}}
    monkeypatch.setitem(get_experiment("cft-vs-sft").presets, "tiny", tiny)
    args = ["base", "build", "--preset", "tiny", "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache"), "--quiet"]

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(chain_common, "save_model", killed)
    code, _, err = invoke(args, monkeypatch, capsys)  # killed after training, before saving
    assert code == 130 and "interrupted" in err
    monkeypatch.undo()
    monkeypatch.setitem(get_experiment("cft-vs-sft").presets, "tiny", tiny)

    resumed_from = []
    real_train = chain_common.train

    def spy(model, tok, docs, cfg, work, **kw):
        resumed_from.append(last_checkpoint(work))
        return real_train(model, tok, docs, cfg, work, **kw)
    monkeypatch.setattr(chain_common, "train", spy)
    code, out, err = invoke(args, monkeypatch, capsys)
    assert code == 0, err
    assert resumed_from[0] is not None and resumed_from[0].name == "checkpoint-4"
    shipped = json.loads((tmp_path / "out" / "cft-vs-sft-tiny" / RECIPE_FILE).read_text())
    assert shipped["pretrain"]["steps"] == 4
    assert not list((tmp_path / "cache" / "base-build" / "bases").glob(".work-*"))
