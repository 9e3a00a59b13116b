"""End to end: the smoke preset of cft-vs-sft through the CLI, then a resume that redoes nothing."""

import json
import subprocess
import sys

from critiquelab.experiments.chain_common import EVAL


def test_smoke_end_to_end(tmp_path, base_cache):
    out, cache = tmp_path / "run", base_cache
    cmd = [sys.executable, "-m", "critiquelab.cli", "run", "cft-vs-sft", "--preset", "smoke",
           "--seeds", "2", "--out", str(out), "--cache", str(cache), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "report:" in r.stdout
    res = json.loads((out / "results.json").read_text())
    assert res["experiment"] == "cft-vs-sft" and res["seeds"] == [0, 1]
    for arm in ("base", "sft-raw", "sft-verified", "sft-gold", "cft"):
        for metric in ("solve_accuracy", "format_rate", "critique_accuracy",
                       "error_localization"):
            for split in EVAL:
                cell = res["arms"][arm][metric][split]
                assert 0.0 <= cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1] <= 1.0
    tokens = {a: res["budget"][a]["tokens"] for a in ("sft-raw", "sft-verified", "sft-gold", "cft")}
    budget = res["params"]["finetune"]["token_budget"]
    assert all(budget <= t <= 1.2 * budget for t in tokens.values()), tokens
    assert all(res["budget"][a]["steps"] > 0 for a in tokens)
    for name in ("report.html", "report.md", "solve_accuracy.png", "train_loss.png"):
        assert (out / name).stat().st_size > 0

    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    assert json.loads((out / "results.json").read_text())["arms"] == res["arms"]

