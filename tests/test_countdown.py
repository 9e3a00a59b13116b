"""The Countdown world: validator, search against brute force, determinism, errors, CLI."""

import json
import random
import subprocess
import sys
from itertools import permutations

import pytest

from critiquelab.critics import ExactCritic
from critiquelab.errors import UsageError
from critiquelab.worlds import get_world
from critiquelab.worlds.countdown.rules import heldout_targets
from critiquelab.worlds.countdown.search import STRATEGIES, Strategy, optimal_trace, search
from critiquelab.worlds.countdown.trace import check_trace


@pytest.fixture(scope="module")
def world():
    return get_world("countdown", sizes=[3, 4], max_number=20)


def brute_force(nums: list[int], target: int) -> bool:
    """Independent solver: combine any ordered pair with any allowed operation, recursively."""
    if len(nums) == 1:
        return nums[0] == target
    for i, j in permutations(range(len(nums)), 2):
        a, b = nums[i], nums[j]
        rest = [n for k, n in enumerate(nums) if k not in (i, j)]
        results = [a + b, a * b]
        if a >= b:
            results.append(a - b)
        if b and a % b == 0:
            results.append(a // b)
        if any(brute_force(rest + [c], target) for c in results):
            return True
    return False


def problem(world, text):
    return world.parse_problem(text)


HAND_TRACE = "\n".join([
    "4+3=7|2 7",   # generate
    "@2 7",        # move
    "7+2=9 x",     # dead end
    "7*2=14 x",    # dead end
    "@2 3 4",      # backtrack to the start
    "3+2=5|4 5",
    "@4 5",
    "5*4=20 goal",
])


def test_hand_made_search_trace_is_right(world):
    p = problem(world, "20 from 2 3 4")
    v = world.verify(p, HAND_TRACE)
    assert v.correct and v.parsed and len(v.steps) == 8
    assert v.answer == "(3+2)*4=20"
    assert check_trace((2, 3, 4), 20, v.answer.split("=")[0]).solved


@pytest.mark.parametrize(("line_no", "bad", "needle"), [
    (1, "4+3=8|2 8", "4+3 is 7, not 8"),
    (1, "9+3=12|2 12", "9 is not available"),
    (1, "3-4=1|1 2", "larger minus smaller"),
    (1, "3/2=1|1 4", "not an exact division"),
    (1, "4+3=7|7", "numbers left after 4+3=7 are [2 7]"),
    (2, "@2 8", "[2 8] was never generated"),
    (3, "7+2=9 goal", "should end with x"),
    (8, "5*4=20 x", "should end with goal"),
    (8, "5*4=20|20", "should end with goal"),
    (3, "seven plus two", "not a Countdown step"),
])
def test_validator_finds_the_first_wrong_line(world, line_no, bad, needle):
    p = problem(world, "20 from 2 3 4")
    lines = HAND_TRACE.split("\n")
    lines[line_no - 1] = bad
    v = world.verify(p, "\n".join(lines))
    assert not v.correct
    assert v.first_error_step == line_no
    assert needle in v.steps[line_no - 1].reason
    critique = ExactCritic(world).critique(p, "\n".join(lines))
    assert critique.verdict == "wrong" and needle in critique.text


def test_goal_after_an_invalid_path_does_not_count(world):
    p = problem(world, "20 from 2 3 4")
    v = world.verify(p, "3+2=6|4 6\n@4 6\n5*4=20 goal")  # 5 was never produced
    assert not v.answer_correct


@pytest.mark.parametrize(("expr", "ok"), [
    ("(2+3)*4=20", True), ("4*(3+2)", True), ("(2+3)*4=21", False), ("2*3*4", False),
    ("(2+2)*4", False), ("(3-4+2)*4", False), ("(2+3)*4+1", False),
    ("__import__('os').system('true')", False), ("9" * 300, False),
])
def test_final_expressions(world, expr, ok):
    v = world.verify(problem(world, "20 from 2 3 4"), expr)
    assert v.answer_correct is ok


def test_expression_division_must_be_exact(world):
    assert world.verify(problem(world, "12 from 8 2 3"), "8/2*3").answer_correct
    assert not world.verify(problem(world, "8 from 8 3 3"), "8/3*3").answer_correct


@pytest.mark.parametrize("size", [2, 3, 4])
def test_search_agrees_with_brute_force(size):
    rng = random.Random(size)
    for _ in range(25 if size < 4 else 8):
        nums = [rng.randint(1, 9) for _ in range(size)]
        target = rng.randint(10, 40)
        solvable = brute_force(nums, target)
        dfs = search(tuple(nums), target, Strategy("dfs", "sum"), max_nodes=10**6)
        assert dfs.solved == solvable
        for s in STRATEGIES:
            tr = search(tuple(nums), target, s, max_nodes=15)
            assert tr.nodes <= 15
            assert not tr.solved or solvable
            v = check_trace(tuple(nums), target, tr.text)
            assert v.solved == tr.solved and all(c.ok for c in v.lines)
        if solvable:
            opt = optimal_trace(tuple(nums), target)
            assert sum("=" in line for line in opt.lines) == size - 1
            assert check_trace(tuple(nums), target, opt.text).solved


def test_dfs_backtracks_and_bfs_keeps_a_beam():
    dfs = search((2, 3, 4), 20, Strategy("dfs", "sum"), 100)
    assert dfs.solved and any(line.endswith(" x") for line in dfs.lines)
    assert "@2 3 4" in dfs.lines  # backtracked to the start
    capped = search((2, 3, 4), 97, Strategy("bfs", "mult", 2), 6)
    assert not capped.solved and capped.lines[-1] == "fail" and capped.nodes == 6


def test_generation_is_deterministic_and_solvable(world):
    a = [world.generate(random.Random(7), 3) for _ in range(5)]
    b = [world.generate(random.Random(7), 3) for _ in range(5)]
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    rng = random.Random(1)
    for _ in range(30):
        p = world.generate(rng, rng.choice(world.difficulties()))
        assert 10 <= p.data["target"] <= 100 and all(1 <= n <= 20 for n in p.data["numbers"])
        assert brute_force(p.data["numbers"], p.data["target"])
        assert world.verify(p, world.solve(p)).correct
        assert world.verify(p, p.answer).correct
        assert world.parse_problem(p.text).id == p.id


def test_heldout_targets_split_the_range():
    held = heldout_targets(3, 10, 100)
    assert held == heldout_targets(3, 10, 100) and held != heldout_targets(4, 10, 100)
    assert len(held) == 9 and held <= set(range(10, 101))
    seen = get_world("countdown", sizes=3, max_number=12, targets="seen", heldout_seed=3)
    out = get_world("countdown", sizes=3, max_number=12, targets="held-out", heldout_seed=3)
    rng = random.Random(0)
    assert all(seen.generate(rng, 3).data["target"] not in held for _ in range(40))
    assert all(out.generate(rng, 3).data["target"] in held for _ in range(20))


def test_injected_errors_are_found_where_injected(world):
    rng = random.Random(5)
    critic = ExactCritic(world)
    for _ in range(10):
        p = world.generate(rng, 4)
        for kind in world.error_kinds:
            bad = world.inject_error(p, rng, kind)
            c = critic.critique(p, bad.solution)
            assert (c.verdict, c.first_error_step) == ("wrong", bad.first_error_step), kind
    with pytest.raises(ValueError):
        world.inject_error(world.generate(rng, 3), rng, "no-such-kind")


def test_bad_configuration_and_problem_text(world):
    with pytest.raises(UsageError):
        get_world("countdown", sizes=[1])
    with pytest.raises(UsageError):
        get_world("countdown", targets="future")
    for text in ("make 20 from 2 3 4", "20 from 2", "97 from 1 1 1"):
        with pytest.raises(ValueError):
            world.parse_problem(text)
    with pytest.raises(ValueError, match="2 to 6 numbers, got 9"):  # refused, not searched
        world.parse_problem("999 from 1 1 1 1 1 1 1 1 1")


def test_cli_sample_then_critique():
    def cli(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "critiquelab.cli", *args], input=stdin,
                              capture_output=True, text=True, timeout=120, check=True).stdout

    sampled = cli("world", "sample", "countdown", "--n", "3", "--seed", "2")
    rows = [json.loads(line) for line in sampled.splitlines()]
    assert len(rows) == 3 and all(r["difficulty"] == 4 for r in rows)
    rows[0]["solution"] = rows[0]["solution"].replace("|", "0|", 1)  # break line 1
    stdin = "".join(json.dumps(r) + "\n" for r in rows)
    out = [json.loads(line) for line in cli("world", "critique", "countdown", stdin=stdin)
           .splitlines()]
    assert [o["verdict"] for o in out] == ["wrong", "right", "right"]
    assert out[0]["first_error_step"] == 1
