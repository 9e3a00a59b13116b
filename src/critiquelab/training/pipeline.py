"""Stage pipelines: a spec such as `sft -> rlvr` chains training stages from one base model.

Each stage starts from the previous stage's saved model and saves its own under a directory
named by the spec prefix (`<root>/sft/rlvr/`), so pipelines that share a prefix share its
stages, and a finished stage (its `stage.json` written after its model) is skipped on rerun.
A stage interrupted mid-way resumes from its trainer checkpoints in `<stage dir>/train`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from critiquelab.errors import UsageError
from critiquelab.io import atomic_write_json
from critiquelab.models import load_model, save_model

STAGE_FILE = "stage.json"
_NAME = re.compile(r"[a-z][a-z0-9_-]*")


@dataclass
class StageResult:
    """What a stage cost and logged: budget numbers and named [x, y] curves."""

    budget: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[list[float]]] = field(default_factory=dict)


@dataclass
class StageRecord:
    name: str
    path: Path  # the stage's directory; its model is in `path / "model"`
    result: StageResult
    skipped: bool  # found finished on disk, not run by this call


# Trains the model in place; `work_dir` is the stage's own directory for trainer checkpoints.
StageFn = Callable[[PreTrainedModel, PreTrainedTokenizerBase, Path], StageResult]


def parse_spec(spec: str) -> list[str]:
    """`"sft -> rlvr"` -> `["sft", "rlvr"]` (UsageError on an empty or malformed spec)."""
    names = [s.strip() for s in spec.split("->")]
    bad = [s for s in names if not _NAME.fullmatch(s)]
    if bad:
        raise UsageError(f"bad stage pipeline '{spec}': stages are lowercase names joined by "
                         "'->', e.g. 'sft -> rlvr'")
    return names


def run_pipeline(spec: str, stages: Mapping[str, StageFn], base_dir: Path, root: Path
                 ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[StageRecord]]:
    """Run the spec's stages in order from the model in base_dir; returns the final model,
    its tokenizer and one record per stage (finished stages are loaded, not rerun)."""
    names = parse_spec(spec)
    unknown = [n for n in names if n not in stages]
    if unknown:
        raise UsageError(f"unknown stage '{unknown[0]}' in '{spec}' "
                         f"(known: {', '.join(sorted(stages))})")
    records: list[StageRecord] = []
    source, path = Path(base_dir), Path(root)
    for name in names:
        path = path / name
        done = path / STAGE_FILE
        if done.is_file():
            saved = json.loads(done.read_text())
            records.append(StageRecord(name, path, StageResult(**saved["result"]), True))
        else:
            model, tok = load_model(str(source))
            result = stages[name](model, tok, path / "train")
            save_model(model, tok, path / "model")
            atomic_write_json(done, {"stage": name, "source": str(source),
                                     "result": asdict(result)})
            records.append(StageRecord(name, path, result, False))
        source = path / "model"
    model, tok = load_model(str(source))
    return model, tok, records
