"""Instruction tasks on chain-world problems, several per output space (CLAIMS.md C3).

An instance shows a problem's definitions and two argument variables, never the task:

    Q: a = 7. b = a + 5. c = b * 2. Find c, a.
    Answer: right

Every task draws its arguments the same way and every output space holds two tasks seen in
tuning (and one held out), so neither the input nor the output space tells the task apart:
only the instruction does. Instructions are written in what the base read in pretraining
(chain-world problems, solutions and critiques): the output space is listed after `Answer:`,
and a task is defined by a worked example on one fixed problem, its derivation a formula over
the example's variables.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from critiquelab.worlds.base import Problem
from critiquelab.worlds.chain.model import (
    Def,
    definitions,
    needed_order,
    render_problem,
    values,
)

STYLES = ("full", "simplified", "empty", "delusive")
# Each output space as the `simplified` instruction lists it.
SPACES = {"number": "0, 1, 2, ...", "variable": "a, b, c, ...", "verdict": "right, wrong",
          "sign": "+, -, ="}

# The fixed problem every definition works on: c = 4, d = 7, e = 5; arguments e, c.
EXAMPLE_DEFS = {"c": Def("c", None, (4,)), "d": Def("d", "+", ("c", 3)),
                "e": Def("e", "-", ("d", 2))}
EXAMPLE_ARGS = ("e", "c")

Answer = Callable[[dict[str, Def], dict[str, int], str, str], str]


@dataclass(frozen=True)
class Instance:
    """One task applied to one problem: the question, the answer and the output space."""

    task: str
    input: str
    answer: str
    space: tuple[str, ...]


@dataclass(frozen=True)
class TaskType:
    name: str
    space_kind: str  # a key of SPACES
    derivation: str  # the solution lines of the worked example, over EXAMPLE_DEFS
    answer: Answer  # (definitions, values, first argument, second argument) -> answer

    def definition(self) -> str:
        """The task as a worked example in the pretraining format, its answer computed."""
        vals = values(EXAMPLE_DEFS)
        question = render_problem(list(EXAMPLE_DEFS.values()), ", ".join(EXAMPLE_ARGS))
        return (f"Q: {question}\nSolution:\n{self.derivation}\n"
                f"Answer: {self.answer(EXAMPLE_DEFS, vals, *EXAMPLE_ARGS)}\n")


def _needs(defs: dict[str, Def], var: str) -> set[str]:
    """Every variable computing `var` reads, directly or not."""
    out: set[str] = set()
    stack = [var]
    while stack:
        for a in defs[stack.pop()].args:
            if isinstance(a, str) and a not in out:
                out.add(a)
                stack.append(a)
    return out


def arguments(defs: dict[str, Def], rng: random.Random) -> tuple[str, str]:
    """The one argument draw of every task: two variables x and y, where computing x reads y
    with probability 1/2 (when some pair does)."""
    pairs = [(x, y) for x in sorted(defs) for y in sorted(defs) if x != y]
    reads = [(x, y) for x, y in pairs if y in _needs(defs, x)]
    if reads and rng.random() < 0.5:
        return rng.choice(reads)
    return rng.choice([p for p in pairs if p not in reads])


def _sign(a: int, b: int) -> str:
    return "+" if a > b else "-" if a < b else "="


def _verdict(holds: bool) -> str:
    return "right" if holds else "wrong"


TASKS: dict[str, TaskType] = {t.name: t for t in (
    # number: the value of x; the operations computing x needs; |x - y|
    TaskType("value", "number", "d = c + 3 = 4 + 3 = 7\ne = d - 2 = 7 - 2 = 5",
             lambda d, v, x, y: str(v[x])),
    TaskType("count", "number", "Step 1: d = c + 3\nStep 2: e = d - 2",
             lambda d, v, x, y: str(len(needed_order(d, x)))),
    TaskType("difference", "number", "e - c = 5 - 4 = 1",
             lambda d, v, x, y: str(abs(v[x] - v[y]))),
    # variable: the larger of x and y; the smaller (x on a tie); the largest of all variables
    # (on a tie, the first in the alphabet)
    TaskType("larger", "variable", "e = 5\nc = 4", lambda d, v, x, y: x if v[x] >= v[y] else y),
    TaskType("smaller", "variable", "e = 5\nc = 4", lambda d, v, x, y: x if v[x] <= v[y] else y),
    TaskType("largest", "variable", "c = 4\nd = 7\ne = 5",
             lambda d, v, x, y: min(sorted(v), key=lambda k: -v[k])),
    # verdict: computing x reads y; x is even; x equals y
    TaskType("uses", "verdict", "e = d - 2\nd = c + 3",
             lambda d, v, x, y: _verdict(y in _needs(d, x))),
    TaskType("even", "verdict", "e = 5 = 2 * 2 + 1",
             lambda d, v, x, y: _verdict(v[x] % 2 == 0)),
    TaskType("equal", "verdict", "e = 5\nc = 4", lambda d, v, x, y: _verdict(v[x] == v[y])),
    # sign of x - y; of x - 2y; of 2x - y
    TaskType("compare", "sign", "e - c = 5 - 4 = 1", lambda d, v, x, y: _sign(v[x], v[y])),
    TaskType("compare-half", "sign", "e - 2 * c = 5 - 2 * 4 = 5 - 8",
             lambda d, v, x, y: _sign(v[x], 2 * v[y])),
    TaskType("compare-twice", "sign", "2 * e - c = 2 * 5 - 4 = 10 - 4",
             lambda d, v, x, y: _sign(2 * v[x], v[y])),
)}
SEEN = ("value", "count", "larger", "smaller", "uses", "even", "compare", "compare-half")
UNSEEN = ("difference", "largest", "equal", "compare-twice")


def output_space(space_kind: str, defs: dict[str, Def], max_value: int) -> tuple[str, ...]:
    """Every answer a task of this output space could have on the problem: the space depends on
    the problem, never on the task (numbers run to the world's largest value or count)."""
    if space_kind == "number":
        return tuple(str(n) for n in range(max(max_value, len(defs)) + 1))
    if space_kind == "variable":
        return tuple(sorted(defs))
    return ("right", "wrong") if space_kind == "verdict" else ("+", "-", "=")


def make_instance(task_name: str, problem: Problem, rng: random.Random,
                  max_value: int) -> Instance:
    """The task on the problem with seeded arguments."""
    task = TASKS[task_name]
    defs = definitions(problem)
    x, y = arguments(defs, rng)
    given = problem.text.rsplit(" Find ", 1)[0]
    return Instance(task_name, f"{given} Find {x}, {y}.", task.answer(defs, values(defs), x, y),
                    output_space(task.space_kind, defs, max_value))


def instruction(task_name: str, style: str) -> str:
    """The instruction line(s) an instance gets under a style; '' for `empty`."""
    task = TASKS[task_name]
    space = f"Answer: {SPACES[task.space_kind]}\n"
    return {"full": space + task.definition(), "simplified": space, "empty": "",
            "delusive": space + task.definition()}[style]


def _question(inst: Instance) -> str:
    return f"Q: {inst.input}\nAnswer: "


def prompt(inst: Instance, style: str, demo: Instance | None = None,
           rng: random.Random | None = None) -> str:
    """The prompt of an instance; `delusive` adds a demonstration whose answer is a wrong one
    drawn from the demonstration's output space."""
    head = instruction(inst.task, style)
    if style == "delusive":
        if demo is None or rng is None:
            raise ValueError("a delusive prompt needs a demonstration and an rng")
        head += _question(demo) + rng.choice([a for a in demo.space if a != demo.answer]) + "\n"
    return head + _question(inst)


def read_output(text: str) -> str:
    """The model's answer: its first line, stripped."""
    return text.strip().split("\n", 1)[0].strip()


def instances(problems: Sequence[Problem], tasks: Sequence[str], rng: random.Random,
              max_value: int) -> list[Instance]:
    """One instance per problem; problem i gets task i mod len(tasks)."""
    return [make_instance(tasks[i % len(tasks)], p, rng, max_value)
            for i, p in enumerate(problems)]
