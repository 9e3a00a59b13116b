"""benchmarks/base_calibration.py calibrates on held-out probes that no split shares."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from critiquelab.experiments.chain_common import PRESETS, chain_splits
from critiquelab.worlds.chain import ChainWorld
from critiquelab.worlds.chain.model import definitions, depth

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def calib() -> dict:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return runpy.run_path(str(BENCHMARKS / "base_calibration.py"))
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_probes_share_no_problem_or_computation_with_any_split(calib):
    p = PRESETS["smoke"]
    world, splits = chain_splits(p)
    held_out = calib["probes"](world, splits, p, 12)
    assert held_out["validation"] == splits["validation"][:12]
    taken = {q.id for ps in splits.values() for q in ps}
    signatures = {world.signature(q) for ps in splits.values() for q in ps}
    longest = max(d for d in p["id_difficulties"] if d not in p["recall_difficulties"])
    for kind in ("ood-length", "ood-shift"):
        assert len(held_out[kind]) == 12
        assert not {q.id for q in held_out[kind]} & taken
        assert not {world.signature(q) for q in held_out[kind]} & signatures
    assert {q.difficulty for q in held_out["ood-length"]} == {longest + 1}
    assert {q.difficulty for q in held_out["ood-shift"]} <= set(p["id_difficulties"])


def test_a_shifted_probe_has_the_distractors_asked_and_still_shares_no_computation(calib):
    p = PRESETS["smoke"]
    world, splits = chain_splits(p)
    signatures = {world.signature(q) for ps in splits.values() for q in ps}
    fewest = {}
    for n in (2, 4):
        shifted = {**p, "ood": {**p["ood"], "ood-shift": {"distractors": (n, n)}}}
        probe = calib["probes"](world, splits, shifted, 12)["ood-shift"]
        assert not {world.signature(q) for q in probe} & signatures
        fewest[n] = min(len(q.data["defs"]) for q in probe)
    assert fewest[4] == fewest[2] + 2


def test_targets_need_half_sound_and_every_ood_probe_ten_points_above_trivial(calib):
    point = {"validation": {"sound": 0.5},
             "ood-length": {"solve": 0.30, "trivial": 0.20},
             "ood-shift": {"solve": 0.31, "trivial": 0.20}}
    assert calib["meets_targets"](point)
    assert not calib["meets_targets"]({**point, "validation": {"sound": 0.49}})
    assert not calib["meets_targets"]({**point, "ood-shift": {"solve": 0.29, "trivial": 0.20}})


def test_first_error_names_what_the_first_wrong_line_lacks(calib):
    world = ChainWorld(max_value=99)
    p = world.parse_problem("a = 7. b = a + 5. c = b * 2. Find c.")
    right = "b = a + 5 = 7 + 5 = 12\nc = b * 2 = 12 * 2 = 24\nAnswer: 24"
    cases = {right: "", "": "unreadable",
             right.replace("a + 5 = 7", "a - 5 = 7"): "copy",
             right.replace("12 * 2", "13 * 2"): "lookup",
             right.replace("= 24\n", "= 25\n"): "arithmetic",
             "c = b * 2 = 12 * 2 = 24\nAnswer: 24": "plan"}
    assert {sol: calib["first_error"](world.verify(p, sol)) for sol in cases} == cases


def test_score_counts_the_computation_lines_each_answer_writes(calib, monkeypatch):
    world = ChainWorld(max_value=99)
    p = world.parse_problem("a = 7. b = a + 5. c = b * 2. Find c.")
    right = "b = a + 5 = 7 + 5 = 12\nc = b * 2 = 12 * 2 = 24\nAnswer: 24"
    outputs = [right, "c = b * 2 = 12 * 2 = 24\nAnswer: 24", "", right]
    monkeypatch.setitem(calib["score"].__globals__, "solve_scores", lambda *a: SimpleNamespace(
        scores={"solve_accuracy": [1.0, 1.0, 0.0, 1.0]}, outputs=outputs))
    got = calib["score"](world, None, None, [p] * 4)
    assert got["lines"] == {0: 0.25, 1: 0.25, 2: 0.5} and got["max_lines"] == 2
    assert (got["solve"], got["sound"]) == (0.75, 0.5)


def test_redrawn_pretraining_has_the_distractors_asked_and_shares_no_evaluation_computation(
        calib):
    p = PRESETS["smoke"]
    world, splits = chain_splits(p)
    held_out = calib["probes"](world, splits, p, 12)
    redrawn = calib["redraw_pretraining"](world, splits, held_out, p, (3, 3))
    assert len(redrawn) == p["n_pretrain"]
    evals = [splits[k] for k in ("validation", "id", "ood-length", "ood-shift")]
    signatures = {world.signature(q) for ps in [*evals, *held_out.values()] for q in ps}
    assert not {world.signature(q) for q in redrawn} & signatures
    assert not {q.id for q in redrawn} & {q.id for ps in splits.values() for q in ps}
    sizes = {name: min(len(q.data["defs"]) for q in ps)  # the shortest problem's definitions
             for name, ps in (("redrawn", redrawn), ("preset", splits["pretrain"]))}
    assert sizes["redrawn"] == sizes["preset"] + 3


def test_a_depth_limited_corpus_stays_shallow_and_its_probe_is_one_step_deeper(calib):
    p = {**PRESETS["smoke"], "pretrain_difficulties": (1, 2, 3)}
    world, splits = chain_splits(p)
    held_out = calib["probes"](world, splits, p, 12)
    corpus, probe = calib["depth_limited"](world, splits, held_out, p, 2)

    def depths(problems):
        return {depth(definitions(q), q.data["question"]) for q in problems}

    assert len(corpus) == p["n_pretrain"] and len(probe) == 12
    assert depths(corpus) == {1, 2} and 3 in {q.difficulty for q in corpus}
    assert depths(probe) == {3} and {q.difficulty for q in probe} == {3}
    evals = [splits[k] for k in ("validation", "id", "ood-length", "ood-shift")]
    signatures = {world.signature(q) for ps in [*evals, *held_out.values(), probe] for q in ps}
    assert not {world.signature(q) for q in corpus} & signatures
    assert not {world.signature(q) for q in probe} & {
        world.signature(q) for ps in splits.values() for q in ps}
    taken = {q.id for ps in [*splits.values(), *held_out.values()] for q in ps}
    assert not {q.id for q in [*corpus, *probe]} & taken


def test_an_anneal_branch_resumes_its_point_and_decays_the_rate_to_zero(calib, tmp_path):
    import argparse
    import json

    import torch

    from critiquelab.models import load_model
    from critiquelab.training import TrainConfig, train

    model, tok = load_model("tiny-xs", seed=1)
    docs = [{"text": f"Q: a = {i}. Find a.\nSolution:\nAnswer: {i}\n"} for i in range(10)]
    train(model, tok, docs, TrainConfig(max_steps=4, batch_size=2, lr_scheduler="constant",
                                        warmup_ratio=0.0, save_steps=4), tmp_path / "train")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = argparse.Namespace(lr=1e-3, batch_size=2, anneal=3, base=0, precision="auto",
                              anneal_seed=0)
    annealed, tokens = calib["anneal_branch"](model, tok, docs, args, tmp_path, 4)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert any(not torch.equal(v, annealed.state_dict()[k]) for k, v in before.items())
    state = json.loads((tmp_path / "anneal-4-3" / "checkpoint-7" / "trainer_state.json")
                       .read_text())
    rates = [e["learning_rate"] for e in state["log_history"] if e["step"] > 4]
    assert len(rates) == 3 and 0 < rates[-2] < rates[0] < 1e-3 and rates[-1] < 1e-3 / 100
    again, tokens_again = calib["anneal_branch"](model, tok, docs, args, tmp_path, 4)
    assert tokens_again == tokens  # resumed from its finished branch, not retrained
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in annealed.state_dict().items())
    other = argparse.Namespace(**{**vars(args), "anneal_seed": 1})
    reordered, _ = calib["anneal_branch"](model, tok, docs, other, tmp_path, 4)
    assert (tmp_path / "anneal-4-3-seed1" / "checkpoint-7").is_dir()  # beside, not over, seed 0's
    assert any(not torch.equal(v, reordered.state_dict()[k])
               for k, v in annealed.state_dict().items())


def test_a_rerun_on_the_same_work_dir_resumes_at_its_newest_checkpoint(calib, tmp_path):
    assert calib["points"](500, 2000, tmp_path) == [500, 1000, 1500, 2000]
    for step in (1000, 1500):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-2000").mkdir()  # a save killed before its state was written
    assert calib["points"](500, 2000, tmp_path) == [1500, 2000]
    (tmp_path / "checkpoint-1700").mkdir()  # a --save-every checkpoint between two points
    (tmp_path / "checkpoint-1700" / "trainer_state.json").write_text("{}")
    assert calib["points"](500, 2000, tmp_path) == [2000]


@pytest.mark.parametrize("save_every", ["300", "0"])
def test_save_every_must_divide_the_evaluation_interval(tmp_path, save_every):
    import subprocess

    script = BENCHMARKS / "base_calibration.py"
    out = subprocess.run([sys.executable, str(script), "--every", "500", "--save-every", save_every,
                          "--out", str(tmp_path / "rows.jsonl")], capture_output=True, text=True)
    assert out.returncode == 2 and "--save-every must be a positive divisor" in out.stderr


def test_every_trace_keeps_the_splits_and_pretrains_on_every_operation():
    p = PRESETS["smoke"]
    every = {**p, "world": {**p["world"], "trace": "every"}}
    (_, splits), (world, same) = chain_splits(p), chain_splits(every)
    assert {k: [q.id for q in v] for k, v in splits.items()} == \
        {k: [q.id for q in v] for k, v in same.items()}
    for q in same["pretrain"][:50]:
        solution = world.solve(q)
        operations = sum("op" in d for d in q.data["defs"])
        assert solution.count("\n") == operations and world.verify(q, solution).correct


def test_dependency_order_keeps_every_split_s_computations_in_order():
    p = PRESETS["smoke"]
    ordered = {**p, "world": {**p["world"], "order": "dependency"}}
    (world, splits), (_, same) = chain_splits(p), chain_splits(ordered)
    assert {k: [world.signature(q) for q in v] for k, v in splits.items()} == \
        {k: [world.signature(q) for q in v] for k, v in same.items()}
    assert any(a.text != b.text for a, b in zip(splits["id"], same["id"], strict=True))
