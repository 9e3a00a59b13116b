"""The verdict rule, claims.json and its reports, on hand-built results dicts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from critiquelab.claims import CLAIMS, VERDICTS, Check, Run, assess, judge_check, sign_verdict
from critiquelab.claims.render import write_claims

CHECK = Check("cft", "sft-gold", "solve_accuracy", "id", "greater", 0.067)


def comparison(check: Check, mean: float, lo: float, hi: float, **extra) -> dict:
    return {"arm": check.arm, "baseline": check.baseline, "metric": check.metric,
            "split": check.split, "mean": mean, "ci95": [lo, hi], "p": 0.01, "p_holm": 0.03,
            "mde": 0.08, "verdict": "ok", "reason": None, **extra}


def results(comps: list[dict], validity: dict | None = None, floors=()) -> dict:
    arms = {a for c in comps for a in (c["arm"], c["baseline"])}
    return {"comparisons": comps, "seeds": [0, 1, 2], "commit": "abc1234", "bases": 1,
            "validity": validity if validity is not None else
            {a: {"metric": "solve_accuracy", "value": 0.4, "reference": 0.3, "passed": True}
             for a in arms},
            "trivial": {"solve_accuracy": {"id": 0.05}}, "floors": list(floors)}


@pytest.mark.parametrize(("direction", "lo", "hi", "want"), [
    ("greater", 0.01, 0.1, "supports"), ("greater", -0.1, -0.01, "contradicts"),
    ("greater", -0.01, 0.1, "inconclusive"), ("less", -0.1, -0.01, "supports"),
    ("less", 0.01, 0.1, "contradicts"), ("equivalent", -0.03, 0.04, "supports"),
    ("equivalent", 0.06, 0.2, "contradicts"), ("equivalent", -0.02, 0.09, "inconclusive")])
def test_sign_verdict(direction, lo, hi, want):
    assert sign_verdict(direction, lo, hi, 0.05) == want


def test_supports_contradicts_inconclusive_with_reasons():
    yes = judge_check(results([comparison(CHECK, 0.05, 0.01, 0.09)]), CHECK)
    assert yes["verdict"] == "supports" and yes["p_holm"] == 0.03
    no = judge_check(results([comparison(CHECK, -0.05, -0.09, -0.01)]), CHECK)
    assert no["verdict"] == "contradicts"
    maybe = judge_check(results([comparison(CHECK, 0.01, -0.03, 0.05)]), CHECK)
    assert maybe["verdict"] == "inconclusive" and "MDE 8.0 points" in maybe["reason"]


def test_withheld_when_a_gate_fails_or_at_the_floor():
    comp = comparison(CHECK, 0.05, 0.01, 0.09)
    failed = {"cft": {"metric": "solve_accuracy", "value": 0.01, "reference": 0.3,
                      "passed": False},
              "sft-gold": {"metric": "solve_accuracy", "value": 0.4, "reference": 0.3,
                           "passed": True}}
    t = judge_check(results([comp], failed), CHECK)
    assert t["verdict"] == "withheld" and "cft failed its validity gate" in t["reason"]
    assert "(solve_accuracy 1.0% vs 30.0%)" in t["reason"]
    unknown = {**failed, "cft": {**failed["cft"], "reference": None, "passed": None}}
    t = judge_check(results([comp], unknown), CHECK)
    assert t["verdict"] == "withheld" and "could not be checked" in t["reason"]
    floor = {"arm": "sft-gold", "metric": "solve_accuracy", "split": "id", "value": 0.04,
             "trivial": 0.05}
    t = judge_check(results([{**comp, "floor": True}], floors=[floor]), CHECK)
    assert t["verdict"] == "withheld" and "floor" in t["reason"] and "sft-gold 4.0" in t["reason"]
    t = judge_check(results([{**comp, "verdict": "withheld", "reason": "gate: cft"}]), CHECK)
    assert (t["verdict"], t["reason"]) == ("withheld", "gate: cft")


def test_missing_fields_withhold_instead_of_guessing():
    comp = comparison(CHECK, 0.05, 0.01, 0.09)
    res = results([comp])
    del res["validity"]
    assert judge_check(res, CHECK)["reason"] == "field validity not reported"
    assert judge_check(results([{**comp, "mde": None}]), CHECK)["reason"] == (
        "field mde not reported")
    other = Check("cft", "sft-raw", "solve_accuracy", "id", "greater")
    assert "not reported" in judge_check(results([comp]), other)["reason"]


def all_runs(sizes: list[str], mean: float) -> dict[str, list[Run]]:
    """Every claim's experiment at every size, each test measured at `mean`."""
    runs: dict[str, list[Run]] = {}
    for claim in CLAIMS:
        runs[claim.experiment] = [Run(claim.experiment, s, "default", results(
            [comparison(t, mean, mean - 0.02, mean + 0.02) for t in claim.checks]))
            for s in sizes]
    return runs


def test_claims_json_has_eight_claims_with_a_measurement_per_size(tmp_path):
    runs = all_runs(["tiny-s", "tiny-m"], 0.1)
    runs["cft-vs-sft"][0].results["comparisons"][0].update(mean=0.01, ci95=[-0.02, 0.04])
    claims = assess(runs, "default", ["tiny-s", "tiny-m"])
    assert [c["id"] for c in claims["claims"]] == [f"C{i}" for i in range(1, 9)]
    for c in claims["claims"]:
        assert c["verdict"] in VERDICTS and c["reason"] and c["published"] and c["experiment"]
        assert c["measured"]["mean"] == pytest.approx(0.1)  # the largest size
        assert [m["size"] for m in c["measurements"]] == ["tiny-s", "tiny-m"]
    by_id = {c["id"]: c for c in claims["claims"]}
    assert by_id["C1"]["verdict"] == "supports"  # tiny-m: +10 [+8, +12], greater
    assert by_id["C1"]["measurements"][0]["verdict"] == "inconclusive"  # tiny-s
    assert by_id["C6"]["verdict"] == "contradicts"  # shuffling helped instead of costing
    html_path = write_claims(claims, tmp_path)
    page = html_path.read_text()
    assert "data:image/png;base64," in page and "http" not in page.replace("http-equiv", "")
    assert "measured (tiny-s)" in page and "measured (tiny-m)" in page
    assert "+1.0 [-2.0, +4.0] <b" in page  # C1 at tiny-s, beside tiny-m
    assert json.loads((tmp_path / "claims.json").read_text())["sizes"] == ["tiny-s", "tiny-m"]
    assert "| C1 Critique fine-tuning beats imitation |" in (tmp_path / "claims.md").read_text()


def test_a_claim_without_results_is_withheld_with_its_reason():
    runs = all_runs(["tiny-s"], 0.1)
    runs["sos"] = [Run("sos", "tiny-s", "default", missing="sos not run (--only)")]
    c7 = next(c for c in assess(runs, "default")["claims"] if c["id"] == "C7")
    assert (c7["verdict"], c7["reason"]) == ("withheld", "sos not run (--only)")
    assert c7["measured"]["mean"] is None


def test_claims_command_end_to_end_on_the_real_runner(tmp_path, base_cache):
    out = tmp_path / "claims"
    cmd = [sys.executable, "-m", "critiquelab.cli", "claims", "--preset", "smoke", "--only",
           "cft-vs-sft", "--out", str(out), "--cache", str(base_cache), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    claims = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in claims["claims"]] == [f"C{i}" for i in range(1, 9)]
    for c in claims["claims"]:
        assert c["verdict"] in VERDICTS and c["reason"] and c["published"]
        assert set(c["measured"]) >= {"mean", "ci95"} and c["experiment"]
    c1, *others = claims["claims"]
    assert c1["measurements"][0]["seeds"] == 1 and "not run" not in c1["reason"]
    assert all(c["verdict"] == "withheld" and "not run" in c["reason"] for c in others)
    assert (out / "cft-vs-sft" / "results.json").is_file()
    page = (out / "claims.html").read_text()
    assert "C8" in page and "src=\"http" not in page and "<script" not in page
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cft-vs-sft" / "cells").iterdir()}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert stamps == {p.name: p.stat().st_mtime_ns
                      for p in (out / "cft-vs-sft" / "cells").iterdir()}
