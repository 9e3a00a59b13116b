"""Refinement prompts: question + wrong solution + step-level critique -> refined solution.

Two layouts, matching the prompt formats of formats.py by name:

- `compact` (tiny character models, which never read a revision request): the critique enters
  the context as what it confirmed. The prompt is the solve prompt followed by the solution's
  lines before the first one the critique calls wrong; the actor continues from there, so the
  refined solution is those lines plus its continuation.
- `alpaca` (instruction-following models): the whole wrong solution and critique are in the
  prompt and the actor writes a new solution from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass

from critiquelab.critics.format import parse_first_error

REVISE_INSTRUCTION = ("Revise the solution using the critique: keep the steps it confirms and "
                      "correct the first wrong step and everything after it.")


def confirmed_lines(solution: str, critique: str) -> str:
    """The solution's non-empty lines before the first one the critique calls wrong, each
    ending with a newline (all of them when it blames none)."""
    lines = [ln.strip() for ln in solution.splitlines() if ln.strip()]
    first = parse_first_error(critique)
    kept = lines if first is None else lines[:max(first - 1, 0)]
    return "".join(ln + "\n" for ln in kept)


@dataclass(frozen=True)
class RefineFormat:
    """A refinement prompt template over {question}, {solution}, {critique}, {confirmed}."""

    name: str
    template: str
    continues_confirmed: bool  # the completion continues the confirmed lines

    def refine_prompt(self, question: str, solution: str, critique: str) -> str:
        return self.template.format(question=question, solution=solution.rstrip("\n"),
                                    critique=critique.rstrip("\n"),
                                    confirmed=confirmed_lines(solution, critique))

    def refined_solution(self, solution: str, critique: str, completion: str) -> str:
        """The full refined solution the actor wrote in reply to refine_prompt."""
        head = confirmed_lines(solution, critique) if self.continues_confirmed else ""
        return head + completion


COMPACT_REFINE = RefineFormat("compact", "Q: {question}\nSolution:\n{confirmed}", True)

ALPACA_REFINE = RefineFormat(
    "alpaca",
    REVISE_INSTRUCTION + "\n\nQuestion:\n{question}\n\nSolution:\n{solution}\n\n"
    "Critique:\n{critique}\n\nRevised solution:\n",
    False,
)

REFINE_FORMATS = {f.name: f for f in (COMPACT_REFINE, ALPACA_REFINE)}
