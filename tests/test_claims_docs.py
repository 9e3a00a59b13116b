"""Docs from results: generated tables match their JSON, and no doc points outside the repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from test_cli_fuzz import invoke

from critiquelab.claims.docs import BEGIN, EARLIER, END, NOT_RUN, stale_docs, write_docs

REPO = Path(__file__).resolve().parents[1]
EMPTY = f"{BEGIN}\n{END}\n"


def sos_results() -> dict:
    cell = {"mean": 0.25, "ci95": [0.2, 0.3], "n": 40}
    return {"experiment": "sos", "preset": "default", "seeds": [0, 1, 2],
            "params": {"model": "tiny-xs"}, "commit": "abc1234",
            "arms": {"optimal-path": {"solve_accuracy": {"held-out-targets": cell}},
                     "stream-of-search": {"solve_accuracy": {"held-out-targets": {
                         **cell, "mean": 0.5, "ci95": [0.42, 0.58]}}}},
            "comparisons": [{"arm": "stream-of-search", "baseline": "optimal-path",
                             "metric": "solve_accuracy", "split": "held-out-targets",
                             "mean": 0.25, "ci95": [0.15, 0.35], "p": 0.001, "p_holm": 0.002,
                             "mde": 0.1, "verdict": "ok", "reason": None}],
            "validity": {"stream-of-search": {"metric": "solve_accuracy", "value": 0.4,
                                              "reference": 0.1, "passed": True,
                                              "against": "arm:base"}},
            "objective_fit": {"stream-of-search": {
                "metric": "objective_logprob", "value": -0.5, "reference": -0.6, "passed": True,
                "against": "entry", "difference": {"mean": 0.1, "ci95": [0.05, 0.15]}}},
            "trivial": {"solve_accuracy": {"held-out-targets": 0.125}},
            "floors": [], "conclusions": ["Search beats paths here."]}


def make_root(tmp_path: Path) -> Path:
    (tmp_path / "docs" / "experiments").mkdir(parents=True)
    (tmp_path / "docs" / "results").mkdir()
    (tmp_path / "README.md").write_text("# x\n\n" + EMPTY)
    for name in ("sos", "cft-vs-sft"):
        (tmp_path / "docs" / "experiments" / f"{name}.md").write_text(f"# {name}\n\n{EMPTY}")
    (tmp_path / "docs" / "results" / "sos.json").write_text(json.dumps(sos_results()))
    return tmp_path


def test_generated_tables_come_from_the_json_and_drift_is_caught(tmp_path):
    root = make_root(tmp_path)
    assert len(stale_docs(root)) == 3
    write_docs(root)
    assert stale_docs(root) == []
    sos = (root / "docs" / "experiments" / "sos.md").read_text()
    assert "| stream-of-search | 50.0 [42.0, 58.0] |" in sos and "`abc1234`" in sos
    assert "+25.0 [+15.0, +35.0]" in sos
    assert "| solve_accuracy | 12.5 |" in sos  # the trivial baseline
    assert ("| stream-of-search | solve_accuracy | 40.0 | 10.0 (arm:base) | means only | passed |"
            in sos)
    assert "- Search beats paths here." in sos
    assert "| stream-of-search | -0.5000 | -0.6000 | +0.1000 [+0.0500, +0.1500] | higher |" in sos
    assert "Not yet run at the default preset" in (
        root / "docs" / "experiments" / "cft-vs-sft.md").read_text()
    readme = (root / "README.md").read_text()
    assert "| C7 |" in readme and "supports" in readme and "abc1234" in readme
    assert readme.count(NOT_RUN) == 7  # every claim but C7
    path = root / "docs" / "experiments" / "sos.md"
    path.write_text(sos.replace("50.0 [42.0, 58.0]", "51.0 [42.0, 58.0]"))  # a typed number
    assert stale_docs(root) == [path]


def test_a_run_on_an_earlier_testbed_says_so_until_rerun(tmp_path):
    root = make_root(tmp_path)
    write_docs(root)
    sos = root / "docs" / "experiments" / "sos.md"
    assert EARLIER not in sos.read_text() + (root / "README.md").read_text()
    earlier = {**sos_results(), "params": {"model": "tiny-s"}}  # the default model is tiny-xs
    (root / "docs" / "results" / "sos.json").write_text(json.dumps(earlier))
    assert stale_docs(root) == [root / "README.md", sos]
    write_docs(root)
    assert f"stands on {EARLIER}" in sos.read_text()
    assert f"abc1234 ({EARLIER})" in (root / "README.md").read_text()


def test_a_marker_naming_a_results_file_holds_that_file_and_drift_is_caught(tmp_path):
    root = make_root(tmp_path)
    named = "docs/results/calibration/sos-other.json"
    (root / "docs" / "results" / "calibration").mkdir()
    other = sos_results()
    other["arms"]["optimal-path"]["solve_accuracy"]["held-out-targets"]["mean"] = 0.75
    (root / named).write_text(json.dumps({**other, "commit": "def5678"}))
    marker = BEGIN.replace(" -->", f" {named} -->")
    path = root / "docs" / "experiments" / "sos.md"
    path.write_text(path.read_text() + f"\n## Calibration\n\n{marker}\n{END}\n")
    write_docs(root)
    assert stale_docs(root) == []
    own, calibration = path.read_text().split("## Calibration")
    assert "`abc1234`" in own and "def5678" not in own
    assert f"from `{named}`" in calibration and "`def5678`" in calibration
    assert "| optimal-path | 75.0 [20.0, 30.0] |" in calibration
    path.write_text(path.read_text().replace("75.0 [20.0, 30.0]", "74.0 [20.0, 30.0]"))
    assert stale_docs(root) == [path]
    (root / named).unlink()
    write_docs(root)
    assert f"(`{named}` is not committed)" in path.read_text().split("## Calibration")[1]


def test_a_marker_naming_benchmark_rows_holds_them_as_a_table_and_drift_is_caught(tmp_path):
    root = make_root(tmp_path)
    named = "benchmarks/results/rl.jsonl"
    (root / "benchmarks" / "results").mkdir(parents=True)
    rows = [{"lr": 1e-4, "step": 0, "train_accuracy": None, "validation_solve": 0.29,
             "probe": {"sound": 0.0, "kinds": {"plan": 0.5}}},
            {"lr": 1e-4, "step": 10, "train_accuracy": 0.1375, "validation_solve": 0.15,
             "probe": {"sound": 0.25, "kinds": {"plan": 0.25}}}]
    (root / named).write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = root / "docs" / "experiments" / "sos.md"
    marker = BEGIN.replace(" -->", f" {named} -->")
    path.write_text(path.read_text() + f"\n## RL\n\n{marker}\n{END}\n")
    write_docs(root)
    assert stale_docs(root) == []
    table = path.read_text().split("## RL")[1]
    assert "(2 rows). Every row: lr 0.0001. Per-probe kinds are in the file." in table
    assert "| step | train_accuracy | validation_solve | probe.sound |" in table
    assert "| 0 | – | 0.29 | 0 |" in table and "| 10 | 0.138 | 0.15 | 0.25 |" in table
    path.write_text(path.read_text().replace("| 0.138 | 0.15 |", "| 0.138 | 0.25 |"))
    assert stale_docs(root) == [path]
    (root / named).unlink()
    write_docs(root)
    assert f"`{named}` is not committed." in path.read_text().split("## RL")[1]


def test_repository_docs_match_their_results_json():
    assert (REPO / "docs" / "CLAIMS.md").is_file()
    docs = [REPO / "README.md", *sorted((REPO / "docs" / "experiments").glob("*.md"))]
    assert all(BEGIN in p.read_text() for p in docs)
    assert stale_docs(REPO) == [], "run `critiquelab docs` and commit the result"


def test_nothing_in_the_repository_points_at_one_machine():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    machine_paths = ("/" + "work/", "../" + "shared", "shared/" + "data")
    hits = [f for f in files if f.endswith((".md", ".py", ".toml", ".yaml", "Makefile"))
            and any(m in (REPO / f).read_text(errors="ignore") for m in machine_paths)]
    assert hits == []


def test_docs_check_exits_1_on_stale_docs_through_the_entry_point(tmp_path, monkeypatch,
                                                                     capsys):
    root = make_root(tmp_path)
    check = ["docs", "--check", "--root", str(root)]
    code, out, _ = invoke(check, monkeypatch, capsys)
    assert code == 1 and out.count("stale: ") == 3
    write_docs(root)
    assert invoke(check, monkeypatch, capsys)[0] == 0
