"""Training records from any supported file: prompt/completion, text, chat messages, public
CFT records (instruction/input/output) or problems with a reference solution (SFT on it)."""

from __future__ import annotations

from pathlib import Path

from critiquelab.data.cft import cft_from_row
from critiquelab.data.schema import iter_rows, problem_from_row
from critiquelab.errors import UsageError
from critiquelab.formats import ALPACA, PromptFormat, solve_record

KINDS = ("prompt/completion", "messages", "text", "cft", "problem")


def record_kind(row: dict) -> str:
    """Which of KINDS a row is, judged by its fields."""
    if "prompt" in row and "completion" in row:
        return "prompt/completion"
    for kind, fields in (("messages", ("messages",)), ("text", ("text",)),
                         ("cft", ("instruction", "input", "output")),
                         ("problem", ("question", "answer"))):
        if all(f in row for f in fields):
            return kind
    return "unknown"


def training_record(row: dict, where: str, fmt: PromptFormat = ALPACA) -> dict:
    """One record that `train` accepts (strings or TRL conversational turns)."""
    kind = record_kind(row)
    if kind == "prompt/completion":
        return {"prompt": row["prompt"], "completion": row["completion"]}
    if kind in ("messages", "text"):
        return {kind: row[kind]}
    if kind == "cft":
        return cft_from_row(row, where).to_training_record()
    if kind == "problem":
        problem = problem_from_row(row, where)
        if problem.solution is None:
            raise UsageError(f"{where}: a problem needs a reference 'solution' (or a GSM8K "
                             "worked answer) to train on")
        return solve_record(fmt, problem.question, problem.solution)
    raise UsageError(f"{where}: expected prompt/completion, messages, text, CFT "
                     "instruction/input/output, or question/answer fields")


def load_training_records(source: str | Path, split: str | None = None,
                          fmt: PromptFormat = ALPACA) -> list[dict]:
    """Every row of a JSONL/Parquet file, saved dataset or `hf:NAME` as a training record."""
    records = [training_record(row, where, fmt) for row, where in iter_rows(source, split)]
    if not records:
        raise UsageError(f"{source}: no training records")
    kinds = {record_kind(r) for r in records}
    if len(kinds) > 1:
        raise UsageError(f"{source}: rows mix record kinds ({', '.join(sorted(kinds))})")
    return records
