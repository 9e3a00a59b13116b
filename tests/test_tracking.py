"""Tracking: --report-to tensorboard leaves event files holding the loss series; --verbose and
--version at the top of the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from critiquelab.errors import UsageError
from critiquelab.training.tracking import check_tracker


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "critiquelab.cli", *args], capture_output=True,
                          text=True, timeout=600)


def loss_series(logdir: Path) -> list[tuple[int, float]]:
    """(step, loss) of every train/loss scalar in the event files under logdir."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points = []
    for events in logdir.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if "train/loss" in acc.Tags()["scalars"]:
            points += [(e.step, e.value) for e in acc.Scalars("train/loss")]
    return sorted(points)


def test_train_reports_its_loss_series_to_tensorboard(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Q{i}:", "completion": f"{i}+{i}={2 * i}\n"})
                            + "\n" for i in range(8)))
    r = cli("train", "--model", "tiny-xs", "--data", str(data), "--out", str(tmp_path / "o"),
            "--max-steps", "3", "--batch-size", "4", "--lr", "1e-3", "--report-to", "tensorboard",
            "--quiet")
    assert r.returncode == 0, r.stderr
    series = loss_series(tmp_path / "o" / "checkpoints")
    assert [s for s, _ in series] == [3]  # `train` logs every min(10, max_steps) steps
    assert all(loss > 0 for _, loss in series)
    summary = json.loads((tmp_path / "o" / "train.json").read_text())
    assert "report_to" not in summary["request"]["config"]  # tracking is not a setting to match


def test_unknown_or_missing_tracker_is_one_line(monkeypatch):
    assert check_tracker("tensorboard") == "tensorboard"
    with pytest.raises(UsageError, match="unknown tracker 'mlflow'"):
        check_tracker("mlflow")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(UsageError, match="needs the 'wandb' package"):
        check_tracker("wandb")
    from typer.testing import CliRunner

    from critiquelab.cli import app

    result = CliRunner().invoke(app, ["run", "cft-vs-sft", "--report-to", "nope"])
    assert isinstance(result.exception, UsageError)  # cli.main prints it as one line, exit 2


def test_version_and_every_help_exit_zero():
    from typer.main import get_command
    from typer.testing import CliRunner

    from critiquelab.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("critiquelab ")
    root = get_command(app)
    names = [[n] for n in root.commands]
    names += [[n, s] for n, c in root.commands.items() for s in getattr(c, "commands", {})]
    for name in names:
        result = runner.invoke(app, [*name, "--help"])
        assert result.exit_code == 0, (name, result.output)
