"""structure-vs-content, instructions and imitation-style: their data, then a smoke run of each
through the runner (one shared cache, so the chain-world base is pretrained once)."""

import json
from pathlib import Path

import pytest

from critiquelab.data.perturb import count_steps, split_solution
from critiquelab.data.splits import shared_signatures
from critiquelab.data.styles import confident_style
from critiquelab.errors import UsageError
from critiquelab.experiments import get_experiment
from critiquelab.experiments.chain_common import ChainState, chain_splits
from critiquelab.experiments.finetune import FinetuneSpec
from critiquelab.experiments.imitation_style import (
    broad_problems,
    narrow_difficulty,
    narrow_records,
    narrow_splits,
)
from critiquelab.experiments.runner import make_context, run_experiment
from critiquelab.experiments.structure_vs_content import (
    CONTENT,
    PERTURBATIONS,
    demonstrations,
    training_solutions,
)
from critiquelab.formats import COMPACT, solve_record


@pytest.fixture
def cache(base_cache):
    return base_cache


def run(name, tmp_path, cache, seeds=1):
    exp = get_experiment(name)
    ctx = make_context(exp, "smoke", seeds, tmp_path / "out", cache, progress=False)
    return exp, run_experiment(exp, ctx)


def check_cells(exp, results):
    for arm in exp.arms:
        for metric in exp.metrics:
            for split in exp.splits:
                cell = results["arms"][arm][metric][split]
                assert 0.0 <= cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1] <= 1.0


def test_perturbed_arms_carry_the_same_dose_of_unsound_demonstrations():
    exp = get_experiment("structure-vs-content")
    preset = exp.presets["smoke"]
    world, splits = chain_splits(preset)
    state = ChainState(world, COMPACT, splits, {}, [Path("unused")])
    n, share = FinetuneSpec.of(preset["finetune"]).examples, preset["unsound_share"]
    arms = {a: training_solutions(state, a, 0, n, share) for a in PERTURBATIONS}
    unsound = {a: [p for p, s in pairs if not world.verify(p, s).correct]
               for a, pairs in arms.items()}
    doses = [len(unsound[a]) for a in PERTURBATIONS if a != "clean"]
    assert not unsound["clean"] and max(doses) - min(doses) <= 1
    assert abs(doses[0] - share * n) <= 1
    assert all(p.difficulty > 1 for p in unsound["shuffle-0.67"])  # 1 step cannot move
    for arm, pairs in arms.items():
        assert len(pairs) == n
        assert all(split_solution(s)[1] == split_solution(world.solve(p))[1] for p, s in pairs)
        if arm in ("numbers-0.5", "shuffle-0.67"):
            assert all(count_steps(s) == count_steps(world.solve(p)) for p, s in pairs)
    # The content arm and the arms that can break any solution perturb the same problems.
    assert [p.id for p, _ in arms["numbers-0.5"]] == [p.id for p, _ in arms["clean"]]
    assert unsound["numbers-0.5"] == unsound["delete-0.33"] == unsound["insert-0.33"]
    steps = {a: sum(count_steps(s) for _, s in arms[a]) for a in ("clean", "delete-0.33")}
    assert steps["delete-0.33"] < steps["clean"]
    validation = splits["validation"]  # the held-out fit's records: the same dose there
    held = list(demonstrations(state, "delete-0.33", 0, len(validation), share, "validation"))
    assert {r["problem_id"] for r in held} <= {p.id for p in validation}
    assert sum(1 - r["sound"] for r in held) == round(share * len(validation))
    one_step = {**splits, "train": [p for p in splits["train"] if p.difficulty == 1]}
    with pytest.raises(UsageError, match="makes no training solution unsound"):
        training_solutions(ChainState(world, COMPACT, one_step, {}, [Path("unused")]),
                           "shuffle-0.67", 0, n, share)


def test_structure_vs_content_smoke(tmp_path, cache):
    exp, res = run("structure-vs-content", tmp_path, cache)
    check_cells(exp, res)
    steps = res["params"]["finetune"]["steps"]
    assert all(res["budget"][arm]["steps"] == steps for arm in PERTURBATIONS)
    assert res["budget"]["delete-0.33"]["tokens"] < res["budget"]["clean"]["tokens"]
    arms = {c["arm"] for c in res["comparisons"] if c["metric"] == "solve_accuracy"}
    assert arms == set(PERTURBATIONS) - {"clean"}
    assert any("structure arms minus the content arm" in c for c in res["conclusions"])
    assert (tmp_path / "out" / "drops.png").stat().st_size > 0
    n = steps * res["params"]["finetune"]["batch_size"]
    dose = {a: res["extra"][a][0]["unsound_share"] for a in PERTURBATIONS}
    assert dose.pop("clean") == 0.0
    assert set(dose.values()) == {round(res["params"]["unsound_share"] * n) / n}
    assert any("the verifier rejects" in c for c in res["conclusions"])
    assert set(res["objective_fit"]) == set(PERTURBATIONS)  # each on its own demonstrations



def test_structure_vs_content_conclusions_withhold_when_a_compared_arm_failed_its_gate():
    exp = get_experiment("structure-vs-content")

    def results(failed: tuple[str, ...]) -> dict:
        solved = {a: [1.0] * 4 if a in CONTENT else [0.0] * 4 for a in PERTURBATIONS}
        return {"seeds": [0], "params": {"unsound_share": 0.5},
                "validity": {a: {"passed": a not in failed} for a in PERTURBATIONS},
                "extra": {a: [{"solve_accuracy": dict.fromkeys(exp.splits, solved[a]),
                               "unsound_share": 0.0 if a == "clean" else 0.5}]
                          for a in PERTURBATIONS}}

    read = exp.conclusions(results(("clean",)))  # clean is not in this comparison
    assert read[0].startswith("On recall, mean solve_accuracy of the structure arms minus the "
                              "content arm: -100.0 points")
    assert read[0].endswith("structure perturbations cost more than content ones.")
    held = exp.conclusions(results(("numbers-0.5", "delete-0.33")))
    assert held[:len(exp.splits)] == [
        f"On {sp}, mean solve_accuracy of the structure arms minus the content arm: withheld "
        "(delete-0.33, numbers-0.5 failed their validity gates)." for sp in exp.splits]

def test_instructions_smoke(tmp_path, cache):
    exp, res = run("instructions", tmp_path, cache)
    check_cells(exp, res)
    assert res["arms"]["random-guess"]["format_rate"]["unseen"]["mean"] == 1.0
    n = {a: res["budget"][a]["examples"] for a in ("full", "simplified", "empty", "delusive")}
    assert len(set(n.values())) == 1
    tokens = {a: res["budget"][a]["tokens"] for a in n}
    assert tokens["empty"] < tokens["simplified"] < tokens["full"] < tokens["delusive"]
    assert any("random-guess" in c for c in res["conclusions"])


def test_imitation_and_its_control_share_problems_and_broad_excludes_the_narrow_slice():
    preset = {**get_experiment("imitation-style").presets["smoke"], "id_difficulties": (2, 3)}
    world, splits = chain_splits(preset)  # narrow difficulty 2 is also one id composes
    narrow = narrow_difficulty(preset)
    assert narrow in {q.difficulty for q in splits["id"]}
    broad = broad_problems(splits, narrow)
    assert broad and narrow not in {q.difficulty for q in broad}
    composed = {q.difficulty for sp in ("id", "ood-length", "ood-shift") for q in splits[sp]}
    assert {q.difficulty for q in broad} == composed - {narrow}
    chain = ChainState(world, COMPACT, splits, {}, [Path("unused")])
    problems = [q for q in splits["train"] if q.difficulty == narrow]
    styled, gold = (narrow_records(chain, problems, s, seed=1) for s in (True, False))
    assert [r["problem_id"] for r in styled] == [r["problem_id"] for r in gold]
    assert sorted(r["problem_id"] for r in gold) == sorted(q.id for q in problems)
    by_id = {q.id: q for q in problems}
    for r, g in zip(styled, gold, strict=True):
        q = by_id[g["problem_id"]]
        assert g == solve_record(COMPACT, q.text, world.solve(q), problem_id=q.id)
        assert r == solve_record(COMPACT, q.text, confident_style(world.solve(q)), problem_id=q.id)


def test_the_narrow_slice_is_composed_and_its_held_out_problems_share_no_computation():
    preset = get_experiment("imitation-style").presets["smoke"]
    assert narrow_difficulty(preset) not in preset["recall_difficulties"]
    world, splits = chain_splits(preset)
    test, validation = narrow_splits(world, splits, preset)
    trained = splits["train"] + splits["pretrain"]
    assert {q.difficulty for q in test + validation} == {narrow_difficulty(preset)}
    assert not shared_signatures(world, trained, test + validation)
    assert not {q.id for q in test} & {q.id for q in validation}


def test_imitation_style_smoke(tmp_path, cache):
    exp, res = run("imitation-style", tmp_path, cache)
    check_cells(exp, res)
    teacher = res["arms"]["teacher"]
    assert teacher["solve_accuracy"]["broad"]["mean"] == 1.0
    assert teacher["style_score"]["broad"]["mean"] == 1.0
    # Whether imitation raises style_score is the experiment's finding, not an invariant: at
    # smoke scale it moves either way with the thread count. The scores are checked in range.
    for arm in ("base", "imitation"):
        assert 0.0 < res["arms"][arm]["style_score"]["narrow"]["mean"] < 1.0
    for arm in ("imitation", "sft-gold"):
        assert res["budget"][arm]["steps"] == res["params"]["finetune"]["steps"]
    assert res["budget"]["imitation"]["examples"] == res["budget"]["sft-gold"]["examples"]
    assert res["budget"]["imitation"]["problems"] == res["budget"]["sft-gold"]["problems"]
    assert res["validity"]["imitation"]["metric"] == "style_score"
    assert res["validity"]["sft-gold"]["metric"] == "objective_logprob"
    assert res["validity"]["sft-gold"]["against"] == "entry"
    assert all("difference" in v for v in res["validity"].values())
    pairs = {(c["arm"], c["baseline"]) for c in res["comparisons"]}
    assert {("imitation", "sft-gold"), ("sft-gold", "base"), ("imitation", "base")} <= pairs
    assert any("base-to-teacher gap" in c for c in res["conclusions"])
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["experiment"] == "imitation-style"


def test_imitation_style_conclusions_read_only_gap_shares_whose_comparison_stands():
    exp = get_experiment("imitation-style")
    means = {"base": 0.2, "imitation": 0.6, "sft-gold": 0.4, "teacher": 1.0}

    def results(failed: tuple[str, ...]) -> dict:
        cell = {a: {"mean": v, "ci95": [v, v]} for a, v in means.items()}
        return {"arms": {a: dict.fromkeys(exp.metrics, dict.fromkeys(exp.splits, cell[a]))
                         for a in means},
                "extra": {a: [{"chars": {"broad": [50.0, 60.0]}}] for a in means},
                "comparisons": [{"arm": a, "baseline": "base", "metric": m, "split": sp,
                                 "verdict": "withheld" if a in failed else "ok"}
                                for a in ("imitation", "sft-gold", "teacher")
                                for m in exp.metrics for sp in exp.splits]}

    said = exp.conclusions
    values = "(base 20.0, imitation 60.0, sft-gold 40.0, teacher 100.0)."
    assert said(results(()))[0] == (
        "On narrow, imitation closes 50% of the base-to-teacher gap in style_score, the plain "
        f"fine-tune on gold solutions 25% {values}")
    assert said(results(("sft-gold",)))[0] == (
        "On narrow, the share of the base-to-teacher gap in style_score closed is withheld for "
        f"sft-gold, which failed its validity gate; imitation closes 50% {values}")
    assert said(results(("imitation", "sft-gold")))[3] == (
        "On broad, the share of the base-to-teacher gap in solve_accuracy closed is withheld for "
        f"imitation and sft-gold, which failed their validity gates {values}")
