"""Computation signatures and the splits built on them: evaluation computations never train."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from critiquelab.data.split_audit import audit, markdown
from critiquelab.data.splits import SplitSpec, make_splits, ood_spec, shared_signatures
from critiquelab.errors import UsageError
from critiquelab.experiments import experiment_names, get_experiment
from critiquelab.experiments.chain_common import EVAL, SPLIT_KEYS, chain_splits
from critiquelab.worlds import get_world
from critiquelab.worlds.chain import ChainWorld
from critiquelab.worlds.chain.model import computation, definitions, depth

EXAMPLE = "c = b * 2. a = 7. b = a + 5. d = c - a. Find d."


def test_signature_ignores_distractors_names_and_order_but_not_numbers():
    world = ChainWorld()
    p = world.parse_problem(EXAMPLE)
    same = ["x = 7. y = x + 5. z = y * 2. w = z - x. Find w.",
            "e = 3. c = b * 2. a = 7. b = a + 5. f = e * 4. d = c - a. Find d.",
            "c = b * 2. a = 7. b = a + 5. d = c - a. e = d + c. Find d."]
    other = ["c = b * 2. a = 8. b = a + 5. d = c - a. Find d.",
             "c = b * 2. a = 7. b = 5 + a. d = c - a. Find d.",
             "c = b * 2. a = 7. b = a + 5. d = c - a. e = d + c. Find e."]
    for text in same:
        q = world.parse_problem(text)
        assert world.signature(q) == world.signature(p)
    assert world.parse_problem(same[1]).id != p.id
    assert all(world.signature(world.parse_problem(t)) != world.signature(p) for t in other)


def test_countdown_signature_is_its_canonical_hash():
    world = get_world("countdown")
    p = world.generate(random.Random(0), 4)
    assert world.signature(p) == p.id


def test_make_splits_keeps_eval_computations_out_of_training():
    world = ChainWorld(max_value=9, distractors=(0, 2), max_ops=3)
    specs = {"test": SplitSpec(40, (2,), "eval"), "facts": SplitSpec(20, (1,), "recall"),
             "train": SplitSpec(300, (1, 2))}
    splits = make_splits(world, specs, seed=3)
    assert list(splits) == ["test", "facts", "train"]
    assert not shared_signatures(world, splits["train"], splits["test"])
    assert not {p.id for p in splits["train"]} & {p.id for p in splits["facts"]}
    # the recall split is not deduplicated by computation: one-operation facts recur in training
    assert shared_signatures(world, splits["train"], splits["facts"])
    assert make_splits(world, specs, seed=3)["train"] == splits["train"]


def test_split_roles_and_ood_kinds_are_checked():
    with pytest.raises(ValueError, match="role"):
        SplitSpec(1, (1,), "test")
    world = ChainWorld(max_value=9, distractors=(0, 1), max_ops=4)
    config = {"max_value": 9, "distractors": (0, 1), "max_ops": 4}
    assert ood_spec("ood-length", 5, world, config, (2, 3), {}).difficulties == (4,)
    shift = ood_spec("ood-shift", 5, world, config, (2, 3), {"distractors": (3, 4)})
    assert shift.difficulties == (2, 3) and shift.world.config.distractors == (3, 4)
    deeper = ood_spec("ood-length", 5, world, config, (2, 3), {"depths": (4, 4)})
    assert deeper.difficulties == (4,) and deeper.world.config.depths == (4, 4)
    too_deep = ood_spec("ood-length", 5, world, config, (2, 3), {"depths": (5, 5)})
    with pytest.raises(UsageError, match="depths 5..5"):
        make_splits(world, {"ood-length": too_deep}, seed=0)
    for kind, options in [("ood-length", {"steps": 2}), ("ood-length", {"colour": 1}),
                          ("ood-shift", {}),
                          ("ood-color", {}), ("ood-shift", {"distractors": -1})]:
        with pytest.raises(UsageError):
            ood_spec(kind, 5, world, config, (2, 3), options)


def test_shifted_split_has_more_distractors_at_the_trained_lengths():
    _, splits = chain_splits(get_experiment("cft-vs-sft").presets["smoke"])

    def extra(p):  # definitions the question does not need
        return len(p.data["defs"]) - computation(definitions(p), p.data["question"]).count(";")

    assert {p.difficulty for p in splits["ood-shift"]} == {p.difficulty for p in splits["id"]}
    assert min(map(extra, splits["ood-shift"])) > max(map(extra, splits["train"]))
    assert max(p.difficulty for p in splits["ood-length"]) == 1 + max(
        p.difficulty for p in splits["train"])


def chain_split_params() -> dict[str, dict]:
    """The split-shaping part of every chain experiment's default preset, deduplicated."""
    found = {}
    for name in experiment_names():
        preset = get_experiment(name).presets["default"]
        if all(k in preset for k in SPLIT_KEYS) and "id_difficulties" in preset:
            found[json.dumps({k: preset[k] for k in SPLIT_KEYS}, sort_keys=True)] = preset
    return found


def test_default_splits_of_every_chain_experiment_share_no_computation_with_training():
    presets = chain_split_params()
    assert presets
    for preset in presets.values():
        world, splits = chain_splits(preset)
        trained = {world.signature(p) for sp in ("train", "pretrain") for p in splits[sp]}
        trained_ids = {p.id for sp in ("train", "pretrain") for p in splits[sp]}
        for sp in ("validation", *EVAL):
            if sp == "recall":
                assert not trained_ids & {p.id for p in splits[sp]}
            else:
                assert not trained & {world.signature(p) for p in splits[sp]}, sp


def test_a_depth_limited_preset_draws_ood_length_one_step_deeper_than_every_other_split():
    smoke = get_experiment("cft-vs-sft").presets["smoke"]
    params = {**smoke, "world": {**smoke["world"], "depths": (1, 2)},
              "pretrain_difficulties": (1, 2, 3),
              "ood": {**smoke["ood"], "ood-length": {"steps": 1, "depths": (3, 3)}}}
    _, splits = chain_splits(params)

    def depths(split: str) -> set[int]:
        return {depth(definitions(p), p.data["question"]) for p in splits[split]}

    assert depths("ood-length") == {3}
    assert max(max(depths(sp)) for sp in splits if sp != "ood-length") == 2
    assert 3 in {p.difficulty for p in splits["pretrain"]}


def test_audit_counts_shared_computations_and_the_constant_answer_baseline():
    world, splits = chain_splits(get_experiment("cft-vs-sft").presets["smoke"])
    report = audit(world, splits, ("validation", *EVAL))
    for sp, r in report.items():
        assert r["n"] == len(splits[sp]) == sum(r["difficulties"].values())
        assert 1 / r["n"] <= r["trivial"]["share"] <= 1
        assert sp == "recall" or not r["shared"]
    assert sum(report["recall"]["shared"].values()) > 0  # facts recur in training, by design
    assert markdown(report).count("\n") == len(report) + 1


def test_doc_tables_are_the_committed_audit():
    root = Path(__file__).resolve().parent.parent
    result = json.loads((root / "docs" / "splits.json").read_text())
    doc = (root / "docs" / "SPLITS.md").read_text()
    for key in ("splits", "old_scheme"):
        assert markdown(result[key]) in doc
    assert not any(r["shared"] for sp, r in result["splits"].items() if sp != "recall")
