"""Instruction tasks on chain-world problems, each with its own output space (CLAIMS.md C3).

An instance shows a problem's definitions and the task's arguments, never the task itself:

    Input: a = 7. b = a + 5. c = b * 2. Arguments: c, a
    Output: yes

Only the instruction says what to compute, so a model without one can at best guess the task
from the argument types. Four output spaces (a number, a variable name, yes/no, a comparison)
each hold one task seen in training and one held out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from critiquelab.worlds.base import Problem
from critiquelab.worlds.chain.model import Def, definitions, needed_order, values

STYLES = ("full", "simplified", "empty", "delusive")
SPACE_INSTRUCTIONS = {"number": "Answer with a number.",
                      "variable": "Answer with a variable name.",
                      "yes/no": "Answer yes or no.",
                      "comparison": "Answer greater, less or equal."}


@dataclass(frozen=True)
class Instance:
    """One task applied to one problem: the input line, the answer and the output space."""

    task: str
    input: str
    answer: str
    space: tuple[str, ...]


@dataclass(frozen=True)
class TaskType:
    name: str
    space_kind: str  # a key of SPACE_INSTRUCTIONS
    definition: str  # the real instruction, without its output-space sentence
    answer: Callable[[dict[str, Def], dict[str, int], tuple[str, ...]], str]
    arguments: Callable[[dict[str, Def], dict[str, int], random.Random], tuple[str, ...]]


def _ops(defs: dict[str, Def]) -> list[str]:
    return sorted(v for v, d in defs.items() if d.op is not None)


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


def _one_op(defs, vals, rng) -> tuple[str, ...]:
    return (rng.choice(_ops(defs)),)


def _any_var(defs, vals, rng) -> tuple[str, ...]:
    return (rng.choice(sorted(defs)),)


def _two_vars(defs, vals, rng) -> tuple[str, ...]:
    return tuple(rng.sample(sorted(defs), 2))


def _needs_pair(defs, vals, rng) -> tuple[str, ...]:
    """An operation and, with probability 1/2 when both kinds exist, a variable it reads."""
    x = rng.choice(_ops(defs))
    inside = sorted(_needs(defs, x))
    outside = sorted(set(defs) - _needs(defs, x) - {x})
    pick = inside if (rng.random() < 0.5 or not outside) and inside else outside
    return x, rng.choice(pick)


def _compare(a: int, b: int) -> str:
    return "greater" if a > b else "less" if a < b else "equal"


def _by_value(vals: dict[str, int], sign: int) -> str:
    return min(sorted(vals), key=lambda v: sign * vals[v])


TASKS: dict[str, TaskType] = {t.name: t for t in (
    TaskType("value", "number", "Compute the value of the first argument.",
             lambda d, v, a: str(v[a[0]]), _one_op),
    TaskType("count", "number", "Count the operations needed to compute the first argument.",
             lambda d, v, a: str(len(needed_order(d, a[0]))), _one_op),
    TaskType("largest", "variable", "Name the variable with the largest value (on a tie, the "
             "first in the alphabet).", lambda d, v, a: _by_value(v, -1), lambda d, v, r: ()),
    TaskType("smallest", "variable", "Name the variable with the smallest value (on a tie, the "
             "first in the alphabet).", lambda d, v, a: _by_value(v, 1), lambda d, v, r: ()),
    TaskType("needs", "yes/no", "Say whether computing the first argument reads the second.",
             lambda d, v, a: "yes" if a[1] in _needs(d, a[0]) else "no", _needs_pair),
    TaskType("even", "yes/no", "Say whether the value of the first argument is even.",
             lambda d, v, a: "yes" if v[a[0]] % 2 == 0 else "no", _any_var),
    TaskType("compare", "comparison", "Compare the value of the first argument with the value "
             "of the second.", lambda d, v, a: _compare(v[a[0]], v[a[1]]), _two_vars),
    TaskType("compare-twice", "comparison", "Compare twice the value of the first argument "
             "with the value of the second.",
             lambda d, v, a: _compare(2 * v[a[0]], v[a[1]]), _two_vars),
)}
SEEN = ("value", "largest", "needs", "compare")
UNSEEN = ("count", "smallest", "even", "compare-twice")


def output_space(task: TaskType, defs: dict[str, Def], max_value: int) -> tuple[str, ...]:
    """Every answer the task could have on this problem (a count: 1 to its definitions)."""
    if task.space_kind == "number":
        lo, hi = (0, max_value) if task.name == "value" else (1, len(defs))
        return tuple(str(n) for n in range(lo, hi + 1))
    if task.space_kind == "variable":
        return tuple(sorted(defs))
    return ("yes", "no") if task.space_kind == "yes/no" else ("greater", "less", "equal")


def make_instance(task_name: str, problem: Problem, rng: random.Random,
                  max_value: int) -> Instance:
    """The task on the problem with seeded arguments."""
    task = TASKS[task_name]
    defs = definitions(problem)
    vals = values(defs)
    args = task.arguments(defs, vals, rng)
    given = problem.text.rsplit(" Find ", 1)[0]
    text = f"{given} Arguments: {', '.join(args) if args else '-'}"
    return Instance(task_name, text, task.answer(defs, vals, args),
                    output_space(task, defs, max_value))


def instruction(task_name: str, style: str) -> str:
    """The instruction line(s) an instance gets under a style; '' for `empty`."""
    task = TASKS[task_name]
    space = SPACE_INSTRUCTIONS[task.space_kind]
    return {"full": f"{task.definition} {space}\n", "simplified": f"{space}\n", "empty": "",
            "delusive": f"{task.definition} {space}\n"}[style]


def prompt(inst: Instance, style: str, demo: Instance | None = None,
           rng: random.Random | None = None) -> str:
    """The prompt of an instance; `delusive` adds a demonstration whose output is a wrong
    answer drawn from the demonstration's output space."""
    head = instruction(inst.task, style)
    if style == "delusive":
        if demo is None or rng is None:
            raise ValueError("a delusive prompt needs a demonstration and an rng")
        wrong = rng.choice([a for a in demo.space if a != demo.answer])
        head += f"Example: {demo.input}\nOutput: {wrong}\n"
    return f"{head}Input: {inst.input}\nOutput: "


def read_output(text: str) -> str:
    """The model's answer: its first line, stripped."""
    return text.strip().split("\n", 1)[0].strip()


def instances(problems: Sequence[Problem], tasks: Sequence[str], rng: random.Random,
              max_value: int) -> list[Instance]:
    """One instance per problem; problem i gets task i mod len(tasks)."""
    return [make_instance(tasks[i % len(tasks)], p, rng, max_value)
            for i, p in enumerate(problems)]
