"""Bad input: one clear line on stderr, exit code 2, never a traceback."""

import json
import subprocess
import sys

import pytest


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "critiquelab.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def assert_usage_error(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("run", "no-such-experiment"), "unknown experiment"),
        (("run", "cft-vs-sft", "--preset", "huge"), "unknown preset"),
        (("run", "cft-vs-sft", "--seeds", "-3"), "--seeds"),
        (("run", "cft-vs-sft", "--seeds", "many"), "--seeds"),
        (("world", "sample", "atlantis"), "unknown world"),
        (("world", "sample", "chain", "--difficulty", "99"), "--difficulty"),
        (("world", "critique", "chain", "--noise", "1.5"), "--noise"),
    ],
)
def test_bad_arguments(args, needle):
    assert_usage_error(cli(*args), needle)


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_usage_error(cli("run", "cft-vs-sft", "--preset", "smoke", "--out",
                           str(blocker / "sub")), "cannot write")


def test_malformed_jsonl_on_stdin():
    assert_usage_error(cli("world", "critique", "chain", stdin="{not json\n"), "<stdin>:1")


def test_missing_field_on_stdin():
    r = cli("world", "critique", "chain", stdin=json.dumps({"problem": "a = 1. Find a."}) + "\n")
    assert_usage_error(r, "solution")


def test_sample_then_critique_round_trip():
    r = cli("world", "sample", "chain", "--n", "4", "--seed", "3", "--difficulty", "3")
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(records) == 4
    assert {"problem", "solution", "answer", "difficulty"} <= set(records[0])
    assert all(rec["difficulty"] == 3 for rec in records)
    again = cli("world", "sample", "chain", "--n", "4", "--seed", "3", "--difficulty", "3")
    assert again.stdout == r.stdout
    stdin = "".join(json.dumps({"problem": rec["problem"], "solution": rec["solution"]}) + "\n"
                    for rec in records)
    c = cli("world", "critique", "chain", stdin=stdin)
    assert c.returncode == 0, c.stderr
    verdicts = [json.loads(line) for line in c.stdout.splitlines()]
    assert [v["verdict"] for v in verdicts] == ["right"] * 4
    assert all(v["first_error_step"] is None for v in verdicts)
    assert all(v["critique"].endswith("Conclusion: right [END]") for v in verdicts)
