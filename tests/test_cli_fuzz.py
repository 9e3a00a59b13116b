"""The CLI under bad input: every subcommand with malformed, empty, binary, huge and
unwritable inputs ends with one line on stderr and exit code 2, never a traceback; the
`--help` of every subcommand exits 0. Runs `critiquelab.cli.main` in-process (a Python per
case would take minutes), plus a few end-to-end runs of the real executable."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from critiquelab.cli import app, main

FIXTURES = Path(__file__).parent / "fixtures" / "gsm8k"
PROBLEMS = str(FIXTURES / "train_head.jsonl")
CANDIDATES = str(FIXTURES / "example_model_solutions_head.jsonl")

# Bad contents of an input file (or of stdin).
BAD_INPUTS = {
    "malformed": b'{"question": "q", "answer": \n',
    "empty": b"",
    "blank": b"\n \n",
    "binary": b"\xff\xfe\x00\x80garbage\xc3\x28\n",
    "not an object": b"[1, 2, 3]\n",
    "huge integer": b'{"question": "q", "answer": ' + b"9" * 5000 + b"}\n",
    "deep nesting": b'{"question": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
    "wrong types": b'{"question": 3, "answer": null, "solution": {"a": 1}}\n',
}
# Commands reading one input; IN is the bad file.
READERS = {
    "score data": ["score", "--data", "IN", "--predictions", PROBLEMS],
    "score predictions": ["score", "--data", PROBLEMS, "--predictions", "IN"],
    "critique": ["critique", "--critic", "gsm8k", "--data", "IN", "--out", "OUT"],
    "data convert": ["data", "convert", "IN", "--to", "cft-train", "--out", "OUT"],
    "perturb": ["perturb", "IN", "OUT", "--kind", "shuffle", "--rate", "0.5"],
    "train": ["train", "--data", "IN", "--model", "tiny-xs", "--out", "OUT"],
    "solve": ["solve", "--data", "IN", "--model", "tiny-xs", "--out", "OUT"],
    "world critique chain": ["world", "critique", "chain"],
    "world critique countdown": ["world", "critique", "countdown"],
}
STDIN_READERS = {"world critique chain", "world critique countdown"}
# Commands writing one output; OUT is unwritable.
WRITERS = {
    "critique": ["critique", "--critic", "gsm8k", "--data", CANDIDATES, "--out", "OUT"],
    "data convert": ["data", "convert", PROBLEMS, "--to", "problems", "--out", "OUT"],
    "perturb": ["perturb", PROBLEMS, "OUT", "--kind", "shuffle", "--rate", "0.5", "--field",
                "answer"],
    "score": ["score", "--data", PROBLEMS, "--predictions", PROBLEMS, "--out", "OUT"],
    "build oneshot": ["build", "oneshot", "--out", "OUT", "--injected", "2"],
    "base build": ["base", "build", "--preset", "smoke", "--out", "OUT"],
    "run": ["run", "cft-vs-sft", "--preset", "smoke", "--out", "OUT"],
    "train": ["train", "--data", PROBLEMS, "--model", "tiny-xs", "--out", "OUT"],
}


def invoke(args: list[str], monkeypatch, capsys, stdin: bytes = b"") -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `critiquelab ARGS`, run in this process."""
    monkeypatch.setattr(sys, "argv", ["critiquelab", *args])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, (code, err[-2000:])
    assert lines[0].startswith("critiquelab: error: ") and "Traceback" not in err


def _command_paths(cmd=None, path=()) -> list[tuple[str, ...]]:
    cmd = cmd or typer.main.get_command(app)
    if not hasattr(cmd, "commands"):
        return [path]
    return [p for name, sub in cmd.commands.items() for p in _command_paths(sub, (*path, name))]


COMMANDS = _command_paths()


def test_every_subcommand_is_covered():
    covered = {tuple(a[:2]) if a[0] in ("world", "data", "build", "base") else (a[0],)
               for a in [*READERS.values(), *WRITERS.values()]}
    rest = {("list",), ("configs",), ("claims",), ("docs",), ("serve",), ("world", "sample"),
            ("base", "build")}
    assert set(COMMANDS) <= covered | rest


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_of_every_subcommand_exits_0(path, monkeypatch, capsys):
    code, out, err = invoke([*path, "--help"], monkeypatch, capsys)
    assert code == 0 and "Usage" in out and not err, err


# An empty stream through a filter is no error (nothing in, nothing out), so those pairs are not
# bad input.
BAD_CASES = [(reader, kind) for reader in sorted(READERS) for kind in sorted(BAD_INPUTS)
             if not (reader in STDIN_READERS and kind in ("empty", "blank"))]


@pytest.mark.parametrize(("reader", "kind"), BAD_CASES)
def test_bad_input_is_one_line_and_exit_2(reader, kind, tmp_path, monkeypatch, capsys):
    data = BAD_INPUTS[kind]
    bad = tmp_path / "in.jsonl"
    bad.write_bytes(data)
    args = [str(bad) if a == "IN" else str(tmp_path / "out.jsonl") if a == "OUT" else a
            for a in READERS[reader]]
    stdin = data if reader in STDIN_READERS else b""
    assert_one_line_error(*invoke(args, monkeypatch, capsys, stdin)[::2])


@pytest.mark.parametrize("reader", ["score data", "critique", "data convert", "perturb",
                                    "train"])
def test_a_directory_or_missing_file_as_input(reader, tmp_path, monkeypatch, capsys):
    for path in (tmp_path, tmp_path / "missing.jsonl"):
        args = [str(path) if a == "IN" else str(tmp_path / "out.jsonl") if a == "OUT" else a
                for a in READERS[reader]]
        assert_one_line_error(*invoke(args, monkeypatch, capsys)[::2])


@pytest.mark.parametrize("how", ["a directory", "under a file"])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_unwritable_output_is_one_line_and_exit_2(writer, how, tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    target = tmp_path / "dir" if how == "a directory" else tmp_path / "file" / "out.jsonl"
    if writer in ("run", "train", "base build") and how == "a directory":
        target = tmp_path / "file"  # these write into a directory: a file is what blocks them
    args = [str(target) if a == "OUT" else a for a in WRITERS[writer]]
    monkeypatch.setenv("CRITIQUELAB_CACHE", str(tmp_path / "cache"))
    assert_one_line_error(*invoke(args, monkeypatch, capsys)[::2])


@pytest.mark.parametrize(("args", "needle"), [
    (["serve", "--model", "tiny-xs", "--port", "99999"], "--port"),
    (["train", "--data", PROBLEMS, "--out", "OUT", "--truncation", "middle"], "--truncation"),
    (["base", "build", "--experiment", "sos", "--out", "OUT"], "no pretrained chain base"),
    (["run", "sos", "--preset", "smoke", "--out", "OUT", "--slurm", "partition"], "KEY=VALUE"),
    (["critique", "--teacher", "http://example.com/v1::m", "--data", CANDIDATES, "--out", "OUT"],
     "plain http"),
])
def test_bad_values(args, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    args = [str(tmp_path / "o") if a == "OUT" else a for a in args]
    code, _, err = invoke(args, monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert needle in err


def test_truncated_run_manifest(tmp_path, monkeypatch, capsys):
    (tmp_path / "run.json").write_text('{"experiment": "cft-vs')
    code, _, err = invoke(["run", "cft-vs-sft", "--preset", "smoke", "--out", str(tmp_path)],
                          monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert "run.json" in err


def test_critic_input_that_used_to_crash_is_critiqued(tmp_path, monkeypatch, capsys):
    """A lone surrogate (valid escaped JSON) and arithmetic too large to evaluate."""
    rows = [{"question": "q\ud800", "answer": "2", "candidate": "1 + 1 = 2\n#### 2"},
            {"question": "q", "answer": "1",
             "candidate": "*".join(["9" * 40] * 100) + " = 1\n6 / 3 = 2." + "0" * 45 + "1\n#### 1"}]
    data = tmp_path / "c.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, _, err = invoke(["critique", "--critic", "gsm8k", "--data", str(data), "--out",
                           str(tmp_path / "o.jsonl")], monkeypatch, capsys)
    assert code == 0, err
    written = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert written[0]["input"].count("\ud800") == 1 and len(written) == 2


@pytest.mark.parametrize(("args", "stdin"), [
    (["world", "critique", "chain"], b'{"problem": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    (["score", "--data", "BINARY", "--predictions", PROBLEMS], b""),
    (["build", "oneshot", "--help"], b""),
])
def test_end_to_end_through_the_executable(args, stdin, tmp_path):
    (tmp_path / "b.jsonl").write_bytes(BAD_INPUTS["binary"])
    args = [str(tmp_path / "b.jsonl") if a == "BINARY" else a for a in args]
    r = subprocess.run([sys.executable, "-m", "critiquelab.cli", *args], input=stdin,
                       capture_output=True, timeout=120)
    err = r.stderr.decode()
    if "--help" in args:
        assert r.returncode == 0 and not err, err
    else:
        assert_one_line_error(r.returncode, err)
