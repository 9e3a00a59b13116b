"""The `self-train` experiment end to end through the runner (smoke preset), then a resume;
its controls' generation budget, and its doc against its presets."""

import json
from pathlib import Path

from critiquelab.data.splits import leaked_ids, ood_spec
from critiquelab.evaluation.diversity import hard_band
from critiquelab.experiments import get_experiment
from critiquelab.experiments.chain_common import EVAL, chain_splits
from critiquelab.experiments.runner import make_context, run_experiment
from critiquelab.experiments.self_train import narrowing_sentence, paired_sentence
from critiquelab.experiments.spec import Gate
from critiquelab.worlds import get_world

DOC = Path(__file__).parents[1] / "docs" / "experiments" / "self-train.md"


def test_smoke_end_to_end_and_resume_between_iterations(tmp_path, base_cache):
    exp = get_experiment("self-train")
    st = exp.presets["smoke"]["self_train"]
    out = tmp_path / "out"
    ctx = make_context(exp, "smoke", 1, out, base_cache, progress=False)
    res = run_experiment(exp, ctx)
    assert res["experiment"] == "self-train" and set(res["arms"]) == set(exp.arms)
    for arm in exp.arms:
        for metric in ("solve_accuracy", "pass_at_1", "pass_at_4", "pass_at_16",
                       "answer_entropy"):
            for split in EVAL:
                cell = res["arms"][arm][metric][split]
                assert 0.0 <= cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1] <= 1.0
        k1, k4, k16 = (res["arms"][arm][f"pass_at_{k}"]["id"]["mean"] for k in (1, 4, 16))
        assert k1 <= k4 <= k16
        assert res["arms"][arm]["coverage"]["train"]["n"] == st["n_problems"]
        assert res["budget"][arm]["samples"] == st["iterations"] * st["n_problems"] * st["samples"]
        audit = (out / "cells" / f"{arm}__seed0.generations.jsonl").read_text().splitlines()
        solved = [g for g in map(json.loads, audit) if g["metric"] == "solve_accuracy"]
        splits = chain_splits(ctx.params)[1]
        assert [(g["split"], g["item"]) for g in solved] == [
            (sp, q.id) for sp in EVAL for q in splits[sp]]
        rows = res["extra"][arm][0]["iterations"]
        assert [g for _, g in res["curves"][arm]["generations"][0]] == [
            r["harvest"]["generations"] for r in rows]
        assert [r["iteration"] for r in rows] == list(range(1, st["iterations"] + 1))
        levels = exp.presets["smoke"]["id_difficulties"]
        assert list(rows[0]["histogram"]) == [str(d) for d in levels]
        for name in ("solve_accuracy/id", "solve_accuracy/validation"):
            curve = res["curves"][arm][name][0]
            assert [x for x, _ in curve] == list(range(st["iterations"] + 1))
            assert curve[0] == res["curves"]["vanilla"][name][0][0]  # shared base
        # the gate pairs the last iteration with the base, item by item, on validation only;
        # validation never joins the test scores
        gate, val_curve = res["validity"][arm], res["curves"][arm]["solve_accuracy/validation"][0]
        assert (gate["metric"], gate["against"]) == ("solve_accuracy", "entry")
        assert (gate["reference"], gate["value"]) == (val_curve[0][1], val_curve[-1][1])
        assert "means_only" not in gate and gate["passed"] == (gate["difference"]["ci95"][0] > 0)
        assert all("validation" not in by_split for by_split in res["arms"][arm].values())
        stored = json.loads((out / "cells" / f"{arm}__seed0.json").read_text())
        assert stored["validation"]["solve_accuracy"] == val_curve[-1][1]
        items = stored["validation_items"]
        assert len(items["solve_accuracy"]) == len(items["solve_accuracy@entry"]) == len(
            splits["validation"])
        assert sum(items["solve_accuracy@entry"]) / len(splits["validation"]) == val_curve[0][1]
    # the controls make exactly critique-in-loop's generations, iteration by iteration
    generations = {arm: [r["harvest"]["generations"] for r in res["extra"][arm][0]["iterations"]]
                   for arm in exp.arms}
    assert generations["vanilla"] == [st["n_problems"] * st["samples"]] * st["iterations"]
    assert all(g > st["n_problems"] * st["samples"] for g in generations["critique-in-loop"])
    for arm in ("vanilla-same-budget", "random-prefix"):
        assert generations[arm] == generations["critique-in-loop"]
        assert res["budget"][arm]["generations"] == res["budget"]["critique-in-loop"]["generations"]
    assert res["budget"]["vanilla"]["second_round"] == 0
    first = {arm: res["extra"][arm][0]["iterations"][0]["harvest"] for arm in exp.arms}
    assert first["random-prefix"]["prefix_lengths"] == first["critique-in-loop"]["prefix_lengths"]
    assert {(c["arm"], c["baseline"]) for c in res["comparisons"]} == {
        ("critique-in-loop", b) for b in ("vanilla", "vanilla-same-budget", "random-prefix")}
    assert any("tail narrowing" in c or "no change" in c or "kept no solution" in c
               for c in res["conclusions"])
    for name in ("report.md", "report.html", "kept_histogram.png", "iterations.png"):
        assert (out / name).stat().st_size > 0

    cell = out / "work" / "critique-in-loop__seed0"
    first = (cell / "iter1" / "summary.json").stat().st_mtime_ns
    last = cell / f"iter{st['iterations']}" / "summary.json"
    _drop_validation(last, lambda s: s["metrics"])  # as older code wrote it: redone
    (out / "cells" / "critique-in-loop__seed0.json").unlink()
    again = run_experiment(exp, make_context(exp, "smoke", 1, out, base_cache,
                                             progress=False))
    assert (cell / "iter1" / "summary.json").stat().st_mtime_ns == first
    assert "validation_items" in json.loads(last.read_text())["metrics"]
    assert again["extra"]["critique-in-loop"][0]["iterations"][0] == (
        res["extra"]["critique-in-loop"][0]["iterations"][0])
    assert again["validity"]["critique-in-loop"] == res["validity"]["critique-in-loop"]

    base = out / "work" / "base_metrics.json"
    stored = json.loads(base.read_text())
    _drop_validation(base, lambda s: s)
    state = exp.setup(make_context(exp, "smoke", 1, out, base_cache, progress=False))
    assert state.base_metrics["validation_items"] == stored["validation_items"]
    assert json.loads(base.read_text())["validation_items"] == stored["validation_items"]


def _drop_validation(path: Path, holder) -> None:
    """Rewrite a cached metrics file as code before the paired gate wrote it: validation
    means, no per-item scores."""
    data = json.loads(path.read_text())
    del holder(data)["validation_items"]
    path.write_text(json.dumps(data))


def test_every_gate_pairs_the_last_iteration_with_the_base_on_validation():
    """The gate reads the cell's `validation` (the validation split only, never a test split)
    against the model the loop started from."""
    exp = get_experiment("self-train")
    assert {exp.arm(a).gate for a in exp.arms} == {Gate("solve_accuracy", "entry")}


def test_pool_and_evaluation_heads_never_overlap():
    exp = get_experiment("self-train")
    for preset in ("smoke", "default"):
        params = exp.presets[preset]
        _, splits = chain_splits(params)
        pool = splits["train"][:params["self_train"]["n_problems"]]
        assert len(pool) == params["self_train"]["n_problems"]
        for split in ("validation", *EVAL):
            assert not leaked_ids(pool, splits[split])


def test_doc_states_the_presets_difficulties():
    """The doc's difficulty table: the pool, its hard band and each evaluation split."""
    doc = DOC.read_text()
    exp = get_experiment("self-train")
    for name, p in exp.presets.items():
        world = get_world("chain", **p["world"])
        composed = [d for d in p["id_difficulties"] if d not in p["recall_difficulties"]]
        longer = ood_spec("ood-length", 1, world, p["world"], composed, p["ood"]["ood-length"])
        shift = p["ood"]["ood-shift"]["distractors"]
        cells = [p["id_difficulties"], hard_band(p["id_difficulties"]),
                 p["recall_difficulties"], composed, longer.difficulties]
        row = " | ".join([f"`{name}`", *(", ".join(map(str, c)) for c in cells),
                          f"{', '.join(map(str, composed))} with {shift[0]}-{shift[1]} "
                          "distractors"])
        assert f"| {row} |" in doc


def test_paired_sentence_is_withheld_when_its_comparison_is():
    def runs(shares: list[list[float]]) -> list[dict]:
        return [{"iterations": [{"hard_share": x} for x in seed]} for seed in shares]

    def results(verdict: str) -> dict:
        reason = "vanilla failed its validity gate (solve_accuracy/validation 20.0% vs 25.0%)"
        return {"extra": {"critique-in-loop": runs([[0.3, 0.5], [0.2, 0.5]]),
                          "vanilla": runs([[0.3, 0.2], [0.2, 0.3]])},
                "comparisons": [
                    {"arm": "critique-in-loop", "baseline": b, "verdict": v,
                     "reason": None if v == "ok" else reason}
                    for b, v in (("vanilla", verdict), ("random-prefix", "withheld"))]}

    read = paired_sentence(results("ok"), "hard_share", "critique-in-loop", "vanilla")
    assert read.startswith("critique-in-loop minus vanilla on hard_share (points, 95% CI over "
                           "seeds): iteration 1 +0.0")
    assert "iteration 2 +25.0" in read
    assert paired_sentence(results("withheld"), "hard_share", "critique-in-loop", "vanilla") == (
        "critique-in-loop minus vanilla on hard_share: withheld, vanilla failed its validity "
        "gate (solve_accuracy/validation 20.0% vs 25.0%).")


def test_one_seed_reads_without_an_interval():
    """A one-seed run (e.g. a calibration with --seeds 1) has no t interval, and says so."""
    runs = [{"iterations": [{"hard_share": 0.3}, {"hard_share": 0.2}]}]
    assert narrowing_sentence("vanilla", runs) == (
        "vanilla: hard problems are 30.0% (one seed: no interval) of the problems with a kept "
        "solution at iteration 1 and 20.0% (one seed: no interval) at iteration 2; change "
        "-10.0 points (one seed: no interval) over 1 seed, one seed cannot resolve a change.")
    two = [*runs, {"iterations": [{"hard_share": 0.3}, {"hard_share": 0.21}]}]
    assert narrowing_sentence("vanilla", two).endswith("over 2 seeds, it falls: tail narrowing.")
    results = {"extra": {"critique-in-loop": runs, "vanilla": runs},
               "comparisons": [{"arm": "critique-in-loop", "baseline": "vanilla",
                                "verdict": "ok", "reason": None}]}
    assert paired_sentence(results, "hard_share", "critique-in-loop", "vanilla").endswith(
        "iteration 1 +0.0 (one seed: no interval); iteration 2 +0.0 (one seed: no interval).")
