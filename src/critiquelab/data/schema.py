"""Real-data records: problems and candidate answers, read from JSONL, Parquet or `datasets`.

Problem (one per line): `question` (str), `answer` (the reference final answer; a GSM8K
worked answer ending `#### 72` is accepted and split), optional `solution` (a reference
solution) and `id`.

Candidate (one per line): `question`, `answer` (reference), `candidate` or `solution` (the
answer to judge), optional `label` (bool, or "right"/"wrong") or `is_correct` (bool), `id`,
`reference_solution`. GSM8K's example_model_solutions form (`ground_truth` plus one
`{"is_correct", "solution"}` object per model) gives one candidate per model.

Sources: a `.jsonl`/`.json` file, a `.parquet` file, a `datasets.save_to_disk` directory, or
`hf:NAME[:CONFIG]` for the Hugging Face Hub. Bad rows raise UsageError naming
`file:line` (or `file:row N`) and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from critiquelab.errors import UsageError
from critiquelab.grading import reference_answer
from critiquelab.io import atomic_write_bytes, numbered_jsonl, stable_hash, write_jsonl

_LABELS = {"right": True, "correct": True, "wrong": False, "incorrect": False}


@dataclass(frozen=True)
class ProblemRecord:
    question: str
    answer: str  # reference final answer, e.g. "72"
    solution: str | None = None  # reference worked solution
    id: str | None = None

    @property
    def key(self) -> str:
        """The id if given, else a hash of the question."""
        return self.id if self.id is not None else stable_hash(self.question)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class CandidateRecord:
    question: str
    answer: str  # reference final answer
    solution: str  # the candidate solution to judge
    label: bool | None = None  # True when the candidate is right
    id: str | None = None
    reference_solution: str | None = None
    source: str | None = None  # who wrote the candidate, e.g. "175b_verification"

    @property
    def key(self) -> str:
        """The id if given, else a hash of question and candidate."""
        return self.id if self.id is not None else stable_hash([self.question, self.solution])

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def iter_rows(source: str | Path, split: str | None = None) -> Iterator[tuple[dict, str]]:
    """Yield (row, where) from a JSONL/Parquet file, a saved dataset or `hf:NAME[:CONFIG]`;
    a source without a single row raises UsageError."""
    empty = True
    for row in _rows(source, split):
        empty = False
        yield row
    if empty:
        raise UsageError(f"{source}: no records")


def _rows(source: str | Path, split: str | None) -> Iterator[tuple[dict, str]]:
    text = str(source)
    if text.startswith("hf:"):
        yield from _hub_rows(text, split)
        return
    path = Path(source)
    if path.is_dir():
        yield from _dataset_rows(path, split)
    elif not path.is_file():
        raise UsageError(f"{path}: no such file or directory")
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types on a corrupt file
            raise UsageError(f"{path}: not a readable Parquet file ({e})") from None
        yield from ((row, f"{path}:row {i}") for i, row in enumerate(rows, start=1))
    else:
        yield from _jsonl_rows(path)


def _jsonl_rows(path: Path) -> Iterator[tuple[dict, str]]:
    with path.open(encoding="utf-8") as f:
        for lineno, obj in numbered_jsonl(f, str(path)):
            yield obj, f"{path}:{lineno}"


def _dataset_rows(path: Path, split: str | None) -> Iterator[tuple[dict, str]]:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(f"{path}: not a saved Hugging Face dataset ({e})") from None
    if isinstance(ds, DatasetDict):
        ds = ds[_pick_split(str(path), list(ds), split)]
    yield from ((row, f"{path}:row {i}") for i, row in enumerate(ds, start=1))


def _hub_rows(spec: str, split: str | None) -> Iterator[tuple[dict, str]]:
    from datasets import load_dataset

    name, _, config = spec.removeprefix("hf:").partition(":")
    try:
        ds = load_dataset(name, config or None, split=split or "train")
    except Exception as e:  # offline, unknown name, unknown split: all mean bad input here
        raise UsageError(f"{spec}: cannot load from the Hugging Face Hub ({e})") from None
    yield from ((row, f"{spec}:row {i}") for i, row in enumerate(ds, start=1))


def _pick_split(where: str, splits: list[str], split: str | None) -> str:
    if split is None and len(splits) == 1:
        return splits[0]
    if split in splits:
        return split
    raise UsageError(f"{where}: choose a split with --split (one of {', '.join(splits)})")


def _text(obj: dict, field: str, where: str, required: bool = True) -> str | None:
    value = obj.get(field)
    if value is None:
        if required:
            raise UsageError(f"{where}: missing field '{field}'")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UsageError(f"{where}: field '{field}' must be a string")
    value = str(value)
    if required and not value.strip():
        raise UsageError(f"{where}: field '{field}' is empty")
    return value


def _answer(obj: dict, field: str, where: str) -> tuple[str, str | None]:
    """(final answer, reference solution) from a plain answer or a GSM8K worked answer."""
    text = _text(obj, field, where)
    if "####" not in text:
        return text.strip(), None
    final = reference_answer(text)
    if final == text.strip():
        raise UsageError(f"{where}: field '{field}' has '####' but no answer after it")
    return final, text


def _label(obj: dict, where: str) -> bool | None:
    for field in ("label", "is_correct"):
        value = obj.get(field)
        if value is None:
            continue
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _LABELS:
            return _LABELS[value.lower()]
        raise UsageError(f"{where}: field '{field}' must be true/false or 'right'/'wrong'")
    return None


def problem_from_row(obj: dict, where: str) -> ProblemRecord:
    """A problem from a schema or GSM8K row; bad fields raise UsageError naming them."""
    question = _text(obj, "question", where)
    answer, worked = _answer(obj, "answer", where)
    solution = _text(obj, "solution", where, required=False) or worked
    return ProblemRecord(question, answer, solution, _text(obj, "id", where, required=False))


def candidates_from_row(obj: dict, where: str) -> list[CandidateRecord]:
    """The candidates of one row: one for a schema row, one per model for GSM8K examples."""
    question = _text(obj, "question", where)
    row_id = _text(obj, "id", where, required=False)
    if "ground_truth" in obj and "answer" not in obj:
        return _example_solutions(obj, question, row_id, where)
    answer, worked = _answer(obj, "answer", where)
    field = "candidate" if "candidate" in obj else "solution"
    solution = _text(obj, field, where)
    reference = _text(obj, "reference_solution", where, required=False) or worked
    return [CandidateRecord(question, answer, solution, _label(obj, where), row_id, reference,
                            _text(obj, "source", where, required=False))]


def _example_solutions(obj: dict, question: str, row_id: str | None,
                       where: str) -> list[CandidateRecord]:
    ground_truth = _text(obj, "ground_truth", where)
    answer = reference_answer(ground_truth)
    out = []
    for model, entry in obj.items():
        if not isinstance(entry, dict):
            continue
        solution, label = entry.get("solution"), entry.get("is_correct")
        if not isinstance(solution, str) or not solution.strip():
            raise UsageError(f"{where}: field '{model}.solution' must be a non-empty string")
        if not isinstance(label, bool):
            raise UsageError(f"{where}: field '{model}.is_correct' must be true/false")
        cid = f"{row_id}:{model}" if row_id is not None else None
        out.append(CandidateRecord(question, answer, solution, label, cid, ground_truth, model))
    if not out:
        raise UsageError(f"{where}: no model solutions next to 'ground_truth'")
    return out


def load_problems(source: str | Path, split: str | None = None) -> list[ProblemRecord]:
    """All problems of a source (schema or GSM8K form)."""
    return [problem_from_row(row, where) for row, where in iter_rows(source, split)]


def load_candidates(source: str | Path, split: str | None = None) -> list[CandidateRecord]:
    """All candidates of a source (schema or GSM8K example_model_solutions form)."""
    return [c for row, where in iter_rows(source, split) for c in candidates_from_row(row, where)]


def write_rows(path: str | Path, rows: list[dict]) -> int:
    """Atomically write rows as JSONL, or as Parquet when the name ends `.parquet`."""
    if Path(path).suffix != ".parquet":
        return write_jsonl(path, rows)
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return len(rows)
