"""Re-grade lm-evaluation-harness `--log_samples` output with critiquelab's graders: a world's
verifier for the critiquelab_* tasks, final-answer grading (math-verify) for any other task."""

from __future__ import annotations

from pathlib import Path

from critiquelab.errors import UsageError
from critiquelab.grading import grade, reference_answer
from critiquelab.io import read_jsonl
from critiquelab.worlds import get_world, world_names


def _response(row: dict, where: str) -> str:
    """The (filtered) text lm-eval graded: filtered_resps[0], else resps[0][0]."""
    for key in ("filtered_resps", "resps"):
        value = row.get(key)
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            return value
    raise UsageError(f"{where}: no text response in 'filtered_resps' or 'resps' (only "
                     "generate_until samples can be re-graded)")


def grade_samples(path: str | Path) -> list[dict]:
    """One row per sample, in file order: doc_id, correct, predicted, reference."""
    rows = []
    for i, row in enumerate(read_jsonl(path), start=1):
        where = f"{path}:{i}"
        doc = row.get("doc")
        if not isinstance(doc, dict):
            raise UsageError(f"{where}: field 'doc' must be an object (an lm-eval sample)")
        text = _response(row, where)
        if doc.get("world") in world_names() and isinstance(doc.get("problem"), str):
            world = get_world(doc["world"])
            check = world.verify(world.parse_problem(doc["problem"]), text)
            rows.append({"doc_id": row.get("doc_id"), "correct": check.answer_correct,
                         "predicted": check.answer, "reference": doc.get("answer")})
            continue
        target = row.get("target")
        if not isinstance(target, str | int | float) or isinstance(target, bool):
            raise UsageError(f"{where}: field 'target' must be the reference answer")
        g = grade(text, reference_answer(str(target)))
        rows.append({"doc_id": row.get("doc_id"), "correct": g.correct,
                     "predicted": g.predicted, "reference": g.reference})
    return rows
