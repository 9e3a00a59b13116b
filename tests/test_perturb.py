"""Perturbation builders: properties over random solutions, GSM8K form, and the CLI."""

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from critiquelab.data.perturb import (
    corrupt_numbers,
    count_steps,
    delete_steps,
    first_draw,
    insert_steps,
    perturb,
    perturb_records,
    perturb_texts,
    remove_keywords,
    shuffle_steps,
    split_solution,
    step_pools,
)
from critiquelab.worlds import get_world

FIXTURE = Path(__file__).parent / "fixtures" / "gsm8k" / "train_head.jsonl"
step = st.from_regex(r"[a-z] = [a-z0-9] [+*-] [0-9]{1,2} = [0-9]{1,3}", fullmatch=True)
solutions = st.builds(lambda s, a, nl: "\n".join([*s, f"Answer: {a}"]) + nl,
                      st.lists(step, min_size=0, max_size=12), st.integers(0, 999),
                      st.sampled_from(["", "\n"]))
rates = st.one_of(st.just(1.0), st.floats(0.0, 1.0))
seeds = st.integers(0, 2**16)
POOL = ["x = y + 1 = 2 + 1 = 3", "Then we wait.", "z = 4 * 2 = 8"]
KINDS = ("numbers", "shuffle", "delete", "insert", "keywords")


def answer_line(text: str) -> str | None:
    return split_solution(text)[1]


@settings(max_examples=60, deadline=None)
@given(solutions, rates, seeds)
def test_shuffle_keeps_the_multiset_of_steps(text, rate, seed):
    out = shuffle_steps(text, rate, random.Random(seed))
    assert Counter(split_solution(out)[0]) == Counter(split_solution(text)[0])
    assert answer_line(out) == answer_line(text)


@settings(max_examples=60, deadline=None)
@given(solutions, rates, seeds)
def test_shuffle_moves_about_rate_times_steps(text, rate, seed):
    before, out = split_solution(text)[0], split_solution(shuffle_steps(text, rate,
                                                                         random.Random(seed)))[0]
    moved = sum(a != b for a, b in zip(before, out, strict=True))
    assert moved <= int(rate * len(before)) + 1
    if rate == 1.0 and len(set(before)) == len(before) >= 2:
        assert moved == len(before)


@settings(max_examples=60, deadline=None)
@given(solutions, rates, seeds)
def test_number_corruption_keeps_steps_length_and_answer(text, rate, seed):
    out = corrupt_numbers(text, rate, random.Random(seed))
    assert count_steps(out) == count_steps(text)
    assert len(out) == len(text)
    assert [c for c in out if not c.isdigit()] == [c for c in text if not c.isdigit()]
    assert answer_line(out) == answer_line(text)


def test_number_corruption_at_rate_one_changes_every_number():
    text = "b = a + 5 = 7 + 5 = 12\nc = b * 2 = 12 * 2 = 24\nAnswer: 24"
    out = corrupt_numbers(text, 1.0, random.Random(0))
    for old, new in zip(text.split("\n")[:2], out.split("\n")[:2], strict=True):
        olds = [t for t in old.split() if t.isdigit()]
        news = [t for t in new.split() if t.isdigit()]
        assert all(a != b and len(a) == len(b) for a, b in zip(olds, news, strict=True))
    assert out.endswith("Answer: 24")


@settings(max_examples=60, deadline=None)
@given(solutions, rates, seeds)
def test_deletion_removes_rate_times_steps_in_order(text, rate, seed):
    steps = split_solution(text)[0]
    out = split_solution(delete_steps(text, rate, random.Random(seed)))
    n = len(steps)
    assert int(rate * n) <= n - len(out[0]) <= int(rate * n) + 1
    it = iter(steps)
    assert all(s in it for s in out[0])  # a subsequence: order kept
    assert out[1] == answer_line(text)


@settings(max_examples=60, deadline=None)
@given(solutions, rates, seeds)
def test_insertion_adds_rate_times_pool_steps(text, rate, seed):
    steps = split_solution(text)[0]
    out = split_solution(insert_steps(text, rate, random.Random(seed), POOL))
    added = len(out[0]) - len(steps)
    assert int(rate * len(steps)) <= added <= int(rate * len(steps)) + 1
    assert Counter(out[0]) - Counter(steps) <= Counter({p: added for p in POOL})
    it = iter(out[0])
    assert all(s in it for s in steps)
    assert out[1] == answer_line(text)


@settings(max_examples=40, deadline=None)
@given(solutions, seeds, st.sampled_from(KINDS))
def test_rate_zero_is_identity_and_seed_fixes_output(text, seed, kind):
    assert perturb(text, kind, 0.0, random.Random(seed), POOL) == text
    a = perturb(text, kind, 0.6, random.Random(seed), POOL)
    assert a == perturb(text, kind, 0.6, random.Random(seed), POOL)


def test_keywords_removed_from_openings_only():
    text = ("Wait, the first day is 3.\nSo she reads 5 pages, then stops.\n"
            "Therefore x = 4.\nThe answer is 4")
    out = remove_keywords(text, 1.0, random.Random(0))
    assert out == "The first day is 3.\nShe reads 5 pages, stops.\nX = 4.\nThe answer is 4"


def test_chain_world_solutions_have_no_keywords():
    world = get_world("chain")
    rng = random.Random(0)
    sols = [world.solve(world.generate(rng, rng.randint(1, 8))) for _ in range(50)]
    assert perturb_texts(sols, "keywords", 1.0, seed=0) == sols
    assert all(answer_line(s).startswith("Answer:") for s in sols)


def test_dataset_insertion_draws_from_other_solutions():
    texts = ["a = 1 + 1 = 2\nb = a + 1 = 2 + 1 = 3\nAnswer: 3",
             "c = 2 * 2 = 4\nd = c * 2 = 4 * 2 = 8\nAnswer: 8"]
    out = perturb_texts(texts, "insert", 1.0, seed=3)
    for i, j in ((0, 1), (1, 0)):
        new = set(split_solution(out[i])[0]) - set(split_solution(texts[i])[0])
        assert new and new <= set(split_solution(texts[j])[0])
    assert count_steps(out[0]) == 4 and count_steps(out[1]) == 4
    assert perturb_texts(texts, "insert", 1.0, seed=3) == out


def test_step_pools_hold_every_other_solutions_steps():
    texts = ["a = 1\nb = 2\nAnswer: 2", "Answer: 0", "c = 3\nAnswer: 3"]
    pools = step_pools(texts)
    assert [list(p) for p in pools] == [["c = 3"], ["a = 1", "b = 2", "c = 3"],
                                        ["a = 1", "b = 2"]]


def test_first_draw_returns_the_first_accepted_perturbation_or_none():
    text = "b = a + 5 = 7 + 5 = 12\nc = b * 2 = 12 * 2 = 24\nAnswer: 24"
    rng = random.Random(0)
    draws = [perturb(text, "shuffle", 0.67, rng) for _ in range(20)]
    first = next(i for i, d in enumerate(draws) if d != text)
    assert first > 0  # the seed's first draw moves nothing: a retry is what finds one
    got = first_draw(text, "shuffle", 0.67, random.Random(0), lambda t: t != text, 20)
    assert got == draws[first]
    assert first_draw(text, "shuffle", 0.67, random.Random(0), lambda t: t != text, first) is None
    assert first_draw("Answer: 3", "shuffle", 1.0, random.Random(0), lambda t: t != "Answer: 3",
                      20) is None  # nothing to move


def test_gsm8k_records_keep_the_final_answer_line():
    records = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    for kind in KINDS:
        out = perturb_records(records, kind, 0.67, seed=1)
        for r, o in zip(records, out, strict=True):
            assert o["question"] == r["question"]
            assert o["answer"].splitlines()[-1] == r["answer"].splitlines()[-1]
            assert o["answer"].splitlines()[-1].startswith("####")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "critiquelab.cli", "perturb", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_on_gsm8k_lines(tmp_path):
    out = tmp_path / "shuffled.jsonl"
    r = cli("--kind", "shuffle", "--rate", "1", "--seed", "2", str(FIXTURE), str(out))
    assert r.returncode == 0, r.stderr
    assert "wrote 5 records" in r.stdout
    before = [json.loads(x) for x in FIXTURE.read_text().splitlines()]
    after = [json.loads(x) for x in out.read_text().splitlines()]
    assert [a["question"] for a in after] == [b["question"] for b in before]
    assert any(a["answer"] != b["answer"] for a, b in zip(after, before, strict=True))
    for a, b in zip(after, before, strict=True):
        assert sorted(a["answer"].splitlines()) == sorted(b["answer"].splitlines())


def test_cli_bad_input_is_one_line(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"question": "q", "text": "x"}\n')
    for args, needle in ((("--kind", "numbers", "--rate", "2"), "rate"),
                         (("--kind", "twist", "--rate", "0.5"), "unknown perturbation"),
                         (("--kind", "numbers", "--rate", "0.5"), "no string field 'solution'")):
        r = cli(*args, str(src), str(tmp_path / "out.jsonl"))
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
