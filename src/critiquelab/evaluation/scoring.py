"""Score a file of predictions against a file of problems, by position or by id."""

from __future__ import annotations

from collections.abc import Sequence

from critiquelab.data.schema import ProblemRecord
from critiquelab.errors import UsageError
from critiquelab.grading import grade


def align(problems: Sequence[ProblemRecord], ids: Sequence[str | None], source: str
          ) -> list[int]:
    """For each prediction, the index of its problem: by id when both sides carry ids,
    otherwise by position; a length or id mismatch raises UsageError."""
    if all(p.id is not None for p in problems) and all(i is not None for i in ids):
        index = {p.id: k for k, p in enumerate(problems)}
        if len(set(ids)) != len(ids):
            raise UsageError(f"{source}: ids are not unique")
        if missing := [p.id for p in problems if p.id not in set(ids)]:
            raise UsageError(f"{source}: no prediction for id '{missing[0]}' "
                             f"({len(missing)} missing)")
        if extra := [i for i in ids if i not in index]:
            raise UsageError(f"{source}: id '{extra[0]}' is not in the data")
        return [index[i] for i in ids]
    if len(ids) != len(problems):
        raise UsageError(f"{source}: {len(ids)} predictions for {len(problems)} problems "
                         "(give both files ids to match them by id)")
    return list(range(len(problems)))


def score(problems: Sequence[ProblemRecord], predictions: Sequence[str],
          ids: Sequence[str | None], source: str) -> list[dict]:
    """One record per problem, in the data's order: id, correct, predicted, reference."""
    order = align(problems, ids, source)
    by_problem = dict(zip(order, predictions, strict=True))
    rows = []
    for k, problem in enumerate(problems):
        g = grade(by_problem[k], problem.answer)
        row = {"id": problem.id} if problem.id is not None else {}
        rows.append({**row, "correct": g.correct, "predicted": g.predicted,
                     "reference": g.reference})
    return rows
