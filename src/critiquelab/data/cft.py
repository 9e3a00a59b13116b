"""The public CFT data format (Alpaca-style), in and out.

A record is `{"instruction", "input", "output"}`: the instruction asks for a critique, the
input is `Question:\\n<question>\\n\\nSolution:\\n<solution>`, and the output is a critique
ending `Conclusion: right [END]` or `Conclusion: wrong [END]`. This is the layout of the
published critique data (e.g. WebInstruct-CFT), so users can train on it or publish theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from critiquelab.critics.format import parse_verdict
from critiquelab.data.schema import CandidateRecord, iter_rows
from critiquelab.errors import UsageError
from critiquelab.formats import CFT_INSTRUCTION
from critiquelab.grading import grade

_Q, _S = "Question:\n", "\n\nSolution:\n"


@dataclass(frozen=True)
class CFTExample:
    question: str
    solution: str
    critique: str
    instruction: str = CFT_INSTRUCTION

    @property
    def verdict(self) -> str | None:
        return parse_verdict(self.critique)

    def to_alpaca(self) -> dict:
        """The public record: instruction / input / output."""
        return {"instruction": self.instruction,
                "input": f"{_Q}{self.question.strip()}{_S}{self.solution.strip()}",
                "output": self.critique.strip()}

    def to_training_record(self) -> dict:
        """A prompt/completion record in the `alpaca` prompt format (loss on the critique)."""
        prompt = f"{self.instruction}\n\n{self.to_alpaca()['input']}\n\n"
        return {"prompt": prompt, "completion": self.critique.strip() + "\n"}


def cft_from_row(obj: dict, where: str) -> CFTExample:
    """Parse one public CFT record; a missing field or another input layout raises UsageError."""
    fields = {}
    for name in ("instruction", "input", "output"):
        value = obj.get(name)
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{where}: field '{name}' must be a non-empty string")
        fields[name] = value
    text = fields["input"].strip()
    if not text.startswith(_Q.strip()) or _S not in text:
        raise UsageError(f"{where}: field 'input' must read 'Question:\\n...\\n\\nSolution:\\n...'")
    question, solution = text.removeprefix(_Q.strip()).split(_S, 1)
    return CFTExample(question.strip(), solution.strip(), fields["output"].strip(),
                      fields["instruction"].strip())


def load_cft(source: str | Path, split: str | None = None) -> list[CFTExample]:
    """All CFT examples of a JSONL/Parquet file, a saved dataset or `hf:NAME[:CONFIG]`."""
    return [cft_from_row(row, where) for row, where in iter_rows(source, split)]


@dataclass
class CFTBuild:
    """Critique records made from candidates, and how many were dropped on the way."""

    records: list[dict] = field(default_factory=list)
    candidates: int = 0
    failed: int = 0  # no critique came back
    unparsed: int = 0  # the critique has no Conclusion line
    agree: int = 0  # its verdict matches the label (or, without one, the answer check)
    kept: int = 0

    def summary(self) -> dict:
        judged = self.candidates - self.failed - self.unparsed
        return {"candidates": self.candidates, "failed": self.failed, "unparsed": self.unparsed,
                "agree": self.agree, "agreement": self.agree / judged if judged else 0.0,
                "kept": self.kept}


def reference_verdict(c: CandidateRecord) -> str:
    """The candidate's label, or whether its final answer matches the reference."""
    right = c.label if c.label is not None else grade(c.solution, c.answer).correct
    return "right" if right else "wrong"


def build_cft(candidates: Sequence[CandidateRecord], critiques: Sequence[str | None],
              filter_agree: bool = False) -> CFTBuild:
    """Public CFT records (plus `verdict`, `reference_verdict`, `id`, `source`) from one
    critique per candidate; unparsable ones are dropped, disagreeing ones if `filter_agree`."""
    out = CFTBuild(candidates=len(candidates))
    for c, text in zip(candidates, critiques, strict=True):
        if text is None:
            out.failed += 1
            continue
        example = CFTExample(c.question, c.solution, text)
        if example.verdict is None:
            out.unparsed += 1
            continue
        expected = reference_verdict(c)
        out.agree += example.verdict == expected
        if filter_agree and example.verdict != expected:
            continue
        meta = {"id": c.id, "source": c.source}
        out.records.append({**example.to_alpaca(), "verdict": example.verdict,
                            "reference_verdict": expected,
                            **{k: v for k, v in meta.items() if v is not None}})
    out.kept = len(out.records)
    return out
