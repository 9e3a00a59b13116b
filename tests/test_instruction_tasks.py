"""Chain-world instruction tasks: answers, output spaces, instructions and prompt styles."""

import random
import re

import pytest

from critiquelab.arith import evaluate
from critiquelab.data import instruction_tasks
from critiquelab.data.instruction_tasks import (
    EXAMPLE_DEFS,
    SEEN,
    SPACES,
    STYLES,
    TASKS,
    UNSEEN,
    instances,
    instruction,
    make_instance,
    prompt,
    read_output,
)
from critiquelab.experiments.chain_common import PRESETS, chain_splits, pretrain_documents
from critiquelab.models.tokenizer import build_char_tokenizer
from critiquelab.worlds import get_world
from critiquelab.worlds.chain.model import values

WORLD = get_world("chain", max_value=50, distractors=(0, 2))
# a = 7, b = 12, c = 24, d = 17, e = 3
PROBLEM = WORLD.parse_problem("c = b * 2. a = 7. b = a + 5. d = c - a. e = 3. Find d.")


CASES = [
    ("value", ("d", "b"), "17"), ("count", ("d", "b"), "3"), ("difference", ("d", "b"), "5"),
    ("larger", ("a", "b"), "b"), ("smaller", ("a", "b"), "a"), ("largest", ("a", "b"), "c"),
    ("uses", ("d", "b"), "right"), ("uses", ("b", "e"), "wrong"), ("even", ("c", "a"), "right"),
    ("equal", ("a", "b"), "wrong"), ("compare", ("a", "b"), "-"),
    ("compare-half", ("c", "b"), "="), ("compare-twice", ("a", "b"), "+"),
]


@pytest.mark.parametrize(("task", "pair", "answer"), CASES)
def test_answers_on_a_known_problem(task, pair, answer, monkeypatch):
    monkeypatch.setattr(instruction_tasks, "arguments", lambda defs, rng: pair)
    inst = make_instance(task, PROBLEM, random.Random(0), 50)
    assert inst.answer == answer
    assert inst.input == f"c = b * 2. a = 7. b = a + 5. d = c - a. e = 3. Find {', '.join(pair)}."


def test_the_known_answers_cover_every_task():
    assert {t for t, _, _ in CASES} == set(TASKS)


def test_every_answer_lies_in_its_output_space():
    rng = random.Random(0)
    problems = [WORLD.generate(rng, rng.randint(1, 6)) for _ in range(200)]
    for inst in instances(problems, SEEN + UNSEEN, rng, 50):
        assert inst.answer in inst.space
        assert len(inst.space) >= 2


def test_x_reads_y_half_the_time():
    rng = random.Random(2)
    problems = [WORLD.generate(rng, rng.randint(1, 6)) for _ in range(400)]
    answers = [i.answer for i in instances(problems, ["uses"], rng, 50)]
    assert 0.4 < answers.count("right") / len(answers) < 0.6


def test_every_output_space_has_two_seen_tasks_and_a_held_out_one():
    assert set(SEEN).isdisjoint(UNSEEN) and set(SEEN) | set(UNSEEN) == set(TASKS)
    for kind in SPACES:
        assert sum(TASKS[t].space_kind == kind for t in SEEN) >= 2, kind
        assert sum(TASKS[t].space_kind == kind for t in UNSEEN) >= 1, kind


def test_neither_input_nor_output_space_tells_the_task():
    """Same seed, same problem: every task shows the same input, and every task of an output
    space the same space, so only the instruction names the task."""
    rng = random.Random(3)
    for seed, problem in enumerate(WORLD.generate(rng, rng.randint(1, 6)) for _ in range(50)):
        made = [make_instance(t, problem, random.Random(seed), 50) for t in TASKS]
        assert len({i.input for i in made}) == 1
        for kind in SPACES:
            assert len({i.space for i in made if TASKS[i.task].space_kind == kind}) == 1


def test_only_the_full_instruction_tells_tasks_of_a_space_apart():
    for kind in SPACES:
        tasks = [t for t in TASKS if TASKS[t].space_kind == kind]
        assert len({instruction(t, "simplified") for t in tasks}) == 1
        assert len({instruction(t, "full") for t in tasks}) == len(tasks)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_worked_example_is_true_arithmetic(task):
    """Each derivation line `A = B = ...` holds on the example's values (after any `Step n:`)."""
    vals = values(EXAMPLE_DEFS)
    for line in TASKS[task].derivation.split("\n"):
        sides = re.sub(r"^Step \d+: ", "", line).split(" = ")
        got = {evaluate(re.sub(r"\b[a-z]\b", lambda m: str(vals[m.group()]), s))
               for s in sides}
        assert len(sides) >= 2 and len(got) == 1, line


def test_instructions_use_only_what_the_base_read():
    """Every character and word of every prompt and answer occurs in stage 0's corpus (and so
    in the base tokenizer's vocabulary): the base has read every token an instruction uses."""
    params = PRESETS["smoke"]
    world, splits = chain_splits(params)
    corpus = "".join(d["text"] for d in pretrain_documents(world, splits["pretrain"], params, 0))
    words = set(re.findall(r"[A-Za-z]+", corpus))
    rng = random.Random(0)
    items = instances(splits["train"][:48], SEEN + UNSEEN, rng, 9)
    texts = [prompt(i, s, items[0], rng) + i.answer for i in items for s in STYLES]
    texts += [s for i in items for s in i.space]
    unk = build_char_tokenizer().unk_token_id
    for text in texts:
        assert set(text) <= set(corpus), set(text) - set(corpus)
        assert set(re.findall(r"[A-Za-z]+", text)) <= words, text
        assert unk not in build_char_tokenizer()(text)["input_ids"]


def test_prompt_styles():
    rng = random.Random(1)
    inst, demo = (make_instance("even", PROBLEM, rng, 50) for _ in range(2))
    full, simple, empty = (prompt(inst, s) for s in ("full", "simplified", "empty"))
    assert empty == f"Q: {inst.input}\nAnswer: "
    assert simple == "Answer: right, wrong\n" + empty
    assert full == simple.removesuffix(empty) + TASKS["even"].definition() + empty
    assert TASKS["even"].definition().endswith("\nAnswer: wrong\n")  # the example's e = 5
    delusive = prompt(inst, "delusive", demo, random.Random(2))
    assert delusive.startswith(full.removesuffix(empty)) and delusive.endswith(empty)
    shown = delusive.removesuffix(empty).rsplit("\nAnswer: ", 1)[1].strip()
    assert shown in demo.space and shown != demo.answer
    assert f"Q: {demo.input}\nAnswer: {shown}\n" in delusive
    assert read_output(" right\nQ: x") == "right"
