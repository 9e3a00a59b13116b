"""Refinement prompts: question + wrong solution + step-level critique -> refined solution.

Two layouts, matching the prompt formats of formats.py by name:

- `compact` (tiny character models, which never read a revision request): the critique enters
  the context as what it confirmed. The prompt is the solve prompt followed by the solution's
  lines before the first one the critique calls wrong; the actor continues from there, so the
  refined solution is those lines plus its continuation. The critique's only channel is
  therefore where that prefix ends; `restart_prompt` is the same prompt with a prefix length
  chosen without the critic (self-training's control for that information).
- `alpaca` (instruction-following models): the whole wrong solution and critique are in the
  prompt and the actor writes a new solution from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass

from critiquelab.critics.format import parse_first_error

REVISE_INSTRUCTION = ("Revise the solution using the critique: keep the steps it confirms and "
                      "correct the first wrong step and everything after it.")


def solution_lines(solution: str) -> list[str]:
    """The solution's non-empty lines, stripped (the lines a critique numbers)."""
    return [ln.strip() for ln in solution.splitlines() if ln.strip()]


def prefix_lines(solution: str, k: int) -> str:
    """The solution's first k non-empty lines, each ending with a newline."""
    return "".join(ln + "\n" for ln in solution_lines(solution)[:k])


def confirmed_count(solution: str, critique: str) -> int:
    """How many of the solution's non-empty lines come before the first one the critique
    calls wrong (all of them when it blames none)."""
    n = len(solution_lines(solution))
    first = parse_first_error(critique)
    return n if first is None else min(max(first - 1, 0), n)


def confirmed_lines(solution: str, critique: str) -> str:
    """The solution's non-empty lines before the first one the critique calls wrong, each
    ending with a newline (all of them when it blames none)."""
    return prefix_lines(solution, confirmed_count(solution, critique))


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

    def head(self, solution: str, critique: str) -> str:
        """What the actor's completion to refine_prompt continues: the refined solution is this
        plus the completion (nothing when the layout rewrites from scratch)."""
        return confirmed_lines(solution, critique) if self.continues_confirmed else ""

    def restart_prompt(self, question: str, solution: str, k: int) -> str:
        """The refine prompt with the solution's first k lines as the prefix and no critique:
        the actor continues prefix_lines(solution, k). Only a layout that continues a prefix
        has one (its template reads {question} and {confirmed} alone)."""
        if not self.continues_confirmed:
            raise ValueError(f"the {self.name} refinement layout rewrites from scratch: there "
                             "is no prefix to restart from")
        return self.template.format(question=question, confirmed=prefix_lines(solution, k))


COMPACT_REFINE = RefineFormat("compact", "Q: {question}\nSolution:\n{confirmed}", True)

ALPACA_REFINE = RefineFormat(
    "alpaca",
    REVISE_INSTRUCTION + "\n\nQuestion:\n{question}\n\nSolution:\n{solution}\n\n"
    "Critique:\n{critique}\n\nRevised solution:\n",
    False,
)

REFINE_FORMATS = {f.name: f for f in (COMPACT_REFINE, ALPACA_REFINE)}
