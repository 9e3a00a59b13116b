"""Chain-world instruction tasks: answers, output spaces and prompt styles."""

import random

import pytest

from critiquelab.data.instruction_tasks import (
    SEEN,
    SPACE_INSTRUCTIONS,
    TASKS,
    UNSEEN,
    instances,
    make_instance,
    prompt,
    read_output,
)
from critiquelab.worlds import get_world

WORLD = get_world("chain", max_value=50, distractors=(0, 2))
PROBLEM = WORLD.parse_problem("c = b * 2. a = 7. b = a + 5. d = c - a. e = 3. Find d.")


class FixedArgs(random.Random):
    """An rng whose choices are scripted, to pin a task's arguments."""

    def __init__(self, picks):
        super().__init__(0)
        self.picks = list(picks)

    def choice(self, seq):
        return self.picks.pop(0) if self.picks else seq[0]

    def sample(self, population, k):
        return [self.picks.pop(0) for _ in range(k)]

    def random(self):
        return 0.0


@pytest.mark.parametrize(("task", "picks", "answer"), [
    ("value", ["d"], "17"), ("count", ["d"], "3"), ("largest", [], "c"),
    ("smallest", [], "e"), ("needs", ["d", "b"], "yes"), ("even", ["c"], "yes"),
    ("compare", ["a", "b"], "less"), ("compare-twice", ["a", "b"], "greater"),
])
def test_answers_on_a_known_problem(task, picks, answer):
    inst = make_instance(task, PROBLEM, FixedArgs(picks), 50)
    assert inst.answer == answer
    assert inst.input.startswith("c = b * 2. a = 7.") and "Find" not in inst.input


def test_every_answer_lies_in_its_output_space():
    rng = random.Random(0)
    problems = [WORLD.generate(rng, rng.randint(1, 6)) for _ in range(200)]
    for inst in instances(problems, SEEN + UNSEEN, rng, 50):
        assert inst.answer in inst.space
        assert len(inst.space) >= 2


def test_seen_and_unseen_cover_each_output_space_once():
    assert set(SEEN).isdisjoint(UNSEEN) and set(SEEN) | set(UNSEEN) == set(TASKS)
    for group in (SEEN, UNSEEN):
        assert sorted(TASKS[t].space_kind for t in group) == sorted(SPACE_INSTRUCTIONS)


def test_prompt_styles():
    rng = random.Random(1)
    inst, demo = (make_instance("even", PROBLEM, rng, 50) for _ in range(2))
    full, simple, empty = (prompt(inst, s) for s in ("full", "simplified", "empty"))
    assert TASKS["even"].definition in full and "Answer yes or no." in full
    assert simple == "Answer yes or no.\n" + empty
    assert empty == f"Input: {inst.input}\nOutput: "
    delusive = prompt(inst, "delusive", demo, random.Random(2))
    shown = delusive.split("Example: ")[1].split("\nOutput: ")[1].split("\n")[0]
    assert shown in demo.space and shown != demo.answer
    assert delusive.endswith(empty)
    assert read_output(" yes\nInput: x") == "yes"
