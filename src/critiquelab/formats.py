"""Prompt formats: how a problem (and a candidate solution) becomes a training prompt.

Every record in critiquelab is prompt/completion; loss falls on the completion only.
`compact` suits tiny character-level models; `alpaca` is the public CFT layout (instruction,
input `Question:\\n...\\n\\nSolution:\\n...`), used with chat templates on real models.
"""

from __future__ import annotations

from dataclasses import dataclass

CFT_INSTRUCTION = "Please critique whether the following solution to the question is correct."
SOLVE_INSTRUCTION = "Solve the following problem step by step."


@dataclass(frozen=True)
class PromptFormat:
    name: str
    solve_template: str
    critique_template: str

    def solve_prompt(self, question: str) -> str:
        return self.solve_template.format(question=question)

    def critique_prompt(self, question: str, solution: str) -> str:
        return self.critique_template.format(question=question, solution=solution)


COMPACT = PromptFormat(
    "compact",
    solve_template="Q: {question}\nSolution:\n",
    critique_template="Q: {question}\nSolution:\n{solution}\nCritique:\n",
)

ALPACA = PromptFormat(
    "alpaca",
    solve_template=SOLVE_INSTRUCTION + "\n\nQuestion:\n{question}\n\nSolution:\n",
    critique_template=CFT_INSTRUCTION + "\n\nQuestion:\n{question}\n\nSolution:\n{solution}\n\n",
)

FORMATS = {f.name: f for f in (COMPACT, ALPACA)}


def solve_record(fmt: PromptFormat, question: str, solution: str, **meta) -> dict:
    """An imitation (SFT) record: question -> solution."""
    completion = solution.rstrip("\n") + "\n"
    return {"prompt": fmt.solve_prompt(question), "completion": completion, **meta}


def critique_record(fmt: PromptFormat, question: str, solution: str, critique: str,
                    **meta) -> dict:
    """A critique (CFT) record: question + candidate solution -> critique."""
    return {"prompt": fmt.critique_prompt(question, solution),
            "completion": critique.rstrip("\n") + "\n", **meta}
