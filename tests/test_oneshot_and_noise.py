"""oneshot-cft and critique-noise: smoke runs through the runner API (one shared base cache)
and the noise arms' shared candidate stream."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import pytest

from critiquelab.critics import ExactCritic, NoisyCritic
from critiquelab.data.splits import leaked_ids
from critiquelab.experiments import get_experiment
from critiquelab.experiments.chain_common import EVAL, ChainState, chain_splits
from critiquelab.experiments.critique_noise import critique_stream
from critiquelab.experiments.oneshot_cft import cell_design, epochs
from critiquelab.experiments.runner import make_context, run_experiment
from critiquelab.formats import COMPACT


@pytest.fixture
def cache(base_cache):
    return base_cache


def run(name: str, out, cache, seeds: int) -> dict:
    exp = get_experiment(name)
    return run_experiment(exp, make_context(exp, "smoke", seeds, out, cache, progress=False))


def assert_cis(res: dict, arms, metric: str = "solve_accuracy") -> None:
    for arm in arms:
        for split in EVAL:
            cell = res["arms"][arm][metric][split]
            assert 0.0 <= cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1] <= 1.0


def test_oneshot_cft_smoke(tmp_path, cache):
    res = run("oneshot-cft", tmp_path / "run", cache, seeds=2)
    opts = res["params"]["oneshot"]
    trained = ("sft-1shot", "sft-full", "cft-1shot", "cft-1shot-1gen", "rlvr-1shot")
    assert_cis(res, ("base", *trained))
    checkpoints = [*range(opts["eval_every"], opts["steps"], opts["eval_every"]), opts["steps"]]
    for arm in trained:
        b = res["budget"][arm]
        assert b["steps"] == opts["steps"] and b["tokens"] > 0
        for curve in res["curves"][arm]["validation_solve_accuracy"]:
            assert [pt[0] for pt in curve] == checkpoints
    assert res["budget"]["sft-full"]["examples"] == opts["steps"] * opts["batch_size"]
    assert res["budget"]["sft-1shot"]["epochs"] > 1 and res["budget"]["cft-1shot"]["epochs"] > 1
    rl = opts["rlvr"]
    for curve in res["curves"]["rlvr-1shot"]["reward"]:  # one logged reward per GRPO step
        assert [pt[0] for pt in curve] == list(range(1, opts["steps"] + 1))
    assert res["budget"]["rlvr-1shot"]["examples"] == 1
    assert res["budget"]["rlvr-1shot"]["tokens"] > opts["steps"] * rl["batch_size"]
    assert any("rlvr-1shot" in c for c in res["conclusions"])

    runs = res["extra"]["cft-1shot"]
    # the two cells share a training seed and differ in their seed problem
    assert [r["training_seed"] for r in runs] == [0, 0]
    assert [r["problem"] for r in runs] == [0, 1]
    assert runs[0]["seed_problem"] != runs[1]["seed_problem"]
    assert [r["training_seed"] for r in res["extra"]["sft-full"]] == [0, 1]
    data = runs[0]["data"]
    n_all = opts["samples"] * len(opts["temperatures"]) + opts["injected"]
    assert data["candidates"] == n_all and data["right"] + data["wrong"] == n_all
    assert data["critiques"] == n_all * len(opts["critics"])
    families = data["by_family"]
    assert set(families) == {"exact", "noisy", "model"}
    assert all(f["critiques"] == n_all for f in families.values())
    assert families["exact"]["right_share"] == 1.0
    assert 0.0 <= families["model"]["right_share"] <= 1.0
    assert (tmp_path / "run" / "critic-model" / "critic.json").is_file()
    assert runs[0]["critic_model"]["steps"] == res["params"]["finetune"]["steps"]
    assert res["budget"]["cft-1shot"]["examples"] == sum(r["data"]["kept"] for r in runs) / 2
    ft = opts["steps"] * opts["batch_size"]
    assert res["budget"]["cft-1shot"]["epochs"] == pytest.approx(
        sum(ft / r["data"]["kept"] for r in runs) / 2)
    one = res["extra"]["cft-1shot-1gen"][0]["data"]
    assert list(one["by_generator"]) == [f"base@T{opts['single_temperature']}"]
    assert one["candidates"] == n_all

    _, splits = chain_splits(res["params"])
    seeds = [p for p in splits["train"] if p.text in {r["seed_problem"] for r in runs}]
    assert len(seeds) == 2
    assert not leaked_ids(seeds, [q for sp in ("validation", *EVAL) for q in splits[sp]])
    assert any("per seed problem" in c and "per training seed" in c
               for c in res["conclusions"])
    assert any(c.startswith("Critic families") and "model" in c for c in res["conclusions"])
    assert (tmp_path / "run" / "validation_solve_accuracy.png").stat().st_size > 0
    assert set(res["validity"]) == set(trained)
    assert all(("difference" in v) == (v["against"] != "start") for v in res["validity"].values())
    assert {c["baseline"] for c in res["comparisons"]} == set(trained) - {"cft-1shot"} | {"base"}


def test_cells_cross_seed_problems_with_training_seeds():
    cells = [cell_design(k, 2) for k in range(4)]
    assert [(c.problem, c.training_seed) for c in cells] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    # with two bases (cell k on base k mod 2) every (base, problem) meets every training seed
    crossed = {(k % 2, cell_design(k, 2, bases=2)) for k in range(8)}
    assert len({(b, c.problem, c.training_seed) for b, c in crossed}) == 8


def test_epochs_are_passes_over_the_distinct_records():
    assert epochs(32, 16, 6) == pytest.approx(85.33, abs=0.01)
    assert epochs(32, 16, 512) == 1.0


def test_the_default_preset_makes_many_passes_over_its_critiques():
    opts = get_experiment("oneshot-cft").presets["default"]["oneshot"]
    critiques = ((opts["samples"] * len(opts["temperatures"]) + opts["injected"])
                 * len(opts["critics"]))  # at most this many are kept
    assert epochs(opts["steps"], opts["batch_size"], critiques) >= 8


def test_critique_noise_smoke(tmp_path, cache):
    res = run("critique-noise", tmp_path / "run", cache, seeds=1)
    arms = get_experiment("critique-noise").arms
    assert_cis(res, arms)
    steps = res["params"]["finetune"]["steps"]
    assert all(res["budget"][a]["steps"] == steps for a in arms if a != "base")
    wrong = [res["extra"][f"cft-noise-{p}"][0]["wrong_critiques"]
             for p in (0.0, 0.1, 0.2, 0.3, 0.5)]
    assert wrong[0] == 0.0 and wrong == sorted(wrong) and 0.3 < wrong[-1] < 0.7
    assert set(res["objective_fit"]) == set(arms) - {"base"}  # noise arms: their own critiques
    assert any("sft-gold" in c and ("stops" in c or "does not beat" in c or "every noise" in c
                                    or "no noise level" in c) for c in res["conclusions"])
    assert (tmp_path / "run" / "solve_accuracy_sweep.png").stat().st_size > 0


def test_noise_conclusions_read_only_gated_levels():
    def results(verdicts: dict, lows: dict) -> dict:
        return {"extra": {}, "comparisons": [
            {"arm": f"cft-noise-{p}", "split": "id", "metric": "solve_accuracy",
             "verdict": verdicts.get(p, "ok"), "ci95": [lows.get(p, -0.1), 0.2]}
            for p in (0.0, 0.1, 0.2, 0.3, 0.5)]}
    said = get_experiment("critique-noise").conclusions
    assert said(results({}, {})) == [
        "On id, CFT does not beat sft-gold at any noise level read, p in [0.0, 0.1, 0.2, 0.3, "
        "0.5]."]
    failed = {0.0: "withheld", 0.3: "withheld"}
    assert said(results(failed, {0.1: 0.01, 0.2: 0.02})) == [
        "On id, CFT beats sft-gold (95% CI above zero) at p in [0.1, 0.2]; it stops beating it "
        "at p = 0.5 (withheld at p in [0.0, 0.3]: failed gates)."]
    assert "no noise level can be read" in said(results(dict.fromkeys(
        (0.0, 0.1, 0.2, 0.3, 0.5), "withheld"), {}))[0]


def test_noise_arms_share_candidates_and_nest_their_errors():
    params = get_experiment("critique-noise").presets["smoke"]
    world, splits = chain_splits(params)
    state = ChainState(world, COMPACT, splits, {}, [Path(".")], params)

    def stream(critic):
        return list(islice(critique_stream(state, critic, 3, params), 400))

    exact = stream(ExactCritic(world))
    wrong = {}
    for p in (0.0, 0.2, 0.5):
        noisy = stream(NoisyCritic(world, p, 3))
        assert [r["prompt"] for r in noisy] == [r["prompt"] for r in exact]
        wrong[p] = {i for i, (a, b) in enumerate(zip(noisy, exact, strict=True))
                    if a["completion"] != b["completion"]}
    assert not wrong[0.0] and wrong[0.2] <= wrong[0.5]
    assert 0.12 < len(wrong[0.2]) / 400 < 0.28 and 0.4 < len(wrong[0.5]) / 400 < 0.6
