"""The chain world: generation, canonical solutions, the verifier, the injector and critics."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critiquelab.critics import ExactCritic, NoisyCritic, parse_first_error, parse_verdict
from critiquelab.errors import UsageError
from critiquelab.worlds import Problem, get_world
from critiquelab.worlds.chain import ChainWorld
from critiquelab.worlds.chain.arith import Bin, Neg, Num, ParseError, evaluate, parse_expr
from critiquelab.worlds.chain.check import ERROR_KINDS
from critiquelab.worlds.chain.inject import trace
from critiquelab.worlds.chain.model import definitions, depth, needed_order, values

EXAMPLE = "c = b * 2. a = 7. b = a + 5. d = c - a. Find d."
EXAMPLE_SOLUTION = ("b = a + 5 = 7 + 5 = 12\nc = b * 2 = 12 * 2 = 24\nd = c - a = 24 - 7 = 17\n"
                    "Answer: 17")
FAST = settings(max_examples=60, deadline=None)

WORLDS = [ChainWorld(), ChainWorld(max_value=20, max_literal=5, ops="+-", distractors=3),
          ChainWorld(max_value=50, ops="*+", distractors=(1, 4), max_ops=10),
          ChainWorld(max_value=12, max_literal=3, ops="+", distractors=0),
          ChainWorld(max_value=30, distractors=(1, 3), max_ops=6, trace="every"),
          ChainWorld(max_value=30, distractors=(1, 3), max_ops=6, order="dependency")]


@st.composite
def problems(draw, min_ops: int = 1):
    world = draw(st.sampled_from(WORLDS))
    difficulty = draw(st.sampled_from([d for d in world.difficulties() if d >= min_ops]))
    return world, world.generate(random.Random(draw(st.integers(0, 10**9))), difficulty)


def world_and_example() -> tuple[ChainWorld, Problem]:
    world = ChainWorld()
    return world, world.parse_problem(EXAMPLE)


def first_wrong(world, problem, solution):
    v = world.verify(problem, solution)
    return next(s for s in v.steps if not s.ok)


# --- the example ------------------------------------------------------------------

def test_example_problem_and_solution():
    world, p = world_and_example()
    assert (p.answer, p.difficulty, p.text) == ("17", 3, EXAMPLE)
    assert world.solve(p) == EXAMPLE_SOLUTION
    v = world.verify(p, EXAMPLE_SOLUTION + "\n")
    assert v.correct and v.parsed and v.answer == "17"
    assert [s.note for s in v.steps][:1] == ["b = 7 + 5 = 12"]
    assert ExactCritic(world).critique(p, EXAMPLE_SOLUTION).text.endswith("Conclusion: right [END]")


def test_example_id_ignores_order_and_names():
    world, p = world_and_example()
    shuffled = world.parse_problem("a = 7. b = a + 5. c = b * 2. d = c - a. Find d.")
    renamed = world.parse_problem("x = 7. y = x + 5. z = y * 2. w = z - x. Find w.")
    other = world.parse_problem("a = 7. b = a + 5. c = b * 2. d = c - b. Find d.")
    assert p.id == shuffled.id == renamed.id != other.id


@pytest.mark.parametrize(("line", "reason", "kind"), [
    ("b = a + 5 = 7 + 5 = 13", "7 + 5 = 12, not 13", "arithmetic"),
    ("b = a + 5 = 8 + 5 = 13", "a is 7, not 8", "lookup"),
    ("b = a + 5 = 7 + 6 = 13", "a + 5 is 7 + 5, not 7 + 6", "lookup"),
    ("b = a * 5 = 7 * 5 = 35", "b is a + 5, not a * 5", "copy"),
    ("b = a + 5 = 7 * 5 = 35", "a + 5 is not 7 * 5", "lookup"),
    ("b = a + 5 = 13", "7 + 5 = 12, not 13", "arithmetic"),
    ("a = 3 + 4 = 7", "a is given, not computed", "plan"),
    ("q = a + 5 = 7 + 5 = 12", "q is not in the problem", "plan"),
    ("c = b + 2 = 12 + 2 = 14", "c is b * 2, not b + 2", "plan"),  # b is not computed yet
    ("b is twelve", "cannot read this line", "unreadable"),
])
def test_example_wrong_first_line(line, reason, kind):
    world, p = world_and_example()
    wrong = first_wrong(world, p, EXAMPLE_SOLUTION.replace("b = a + 5 = 7 + 5 = 12", line))
    assert (wrong.index, wrong.reason, wrong.kind) == (1, reason, kind)
    assert kind in ERROR_KINDS


def test_example_lenient_forms_are_right():
    world, p = world_and_example()
    for sol in ["b=a+5=7+5=12\n\n  c = 2 * b = 2 * 12 = 24.\nd = c - a = 17\n  answer:17 \n",
                "b = a + 5 = 5 + 7 = 12\nc = b * 2 = 2 * 12 = 24\nd = c - a = 24 - 7 = 17\n"
                "Answer: 17",  # commuted substitutions
                "b = 5 + a = 5 + 7 = 12\nc = b * 2 = 24\nd = c - a = 24 - 7 = 17\nAnswer: 17."]:
        assert world.verify(p, sol).correct, sol


def test_example_order_shortcuts_and_missing_answer():
    world, p = world_and_example()
    lines = EXAMPLE_SOLUTION.splitlines()
    swapped = "\n".join([lines[1], lines[0], *lines[2:]])
    wrong = first_wrong(world, p, swapped)
    assert (wrong.reason, wrong.kind) == ("b is used before it is computed", "plan")
    bare = world.verify(p, "Answer: 17")
    assert bare.parsed and bare.answer_correct and not bare.correct
    assert bare.steps[0].reason == "d is not computed before the answer"
    no_answer = world.verify(p, "\n".join(lines[:3]))
    assert not no_answer.parsed and no_answer.answer is None
    assert (no_answer.first_error_step, no_answer.steps[-1].reason, no_answer.steps[-1].kind
            ) == (3, "no Answer line", "answer")
    assert world.verify(p, "hello\nAnswer: 17").parsed  # the Answer line parses
    assert not world.verify(p, "hello\nworld").parsed
    empty = world.verify(p, "")
    assert (empty.steps, empty.correct, empty.parsed) == ((), False, False)


def test_commuted_substitution_of_a_non_commutative_op_is_wrong():
    world, p = world_and_example()
    wrong = EXAMPLE_SOLUTION.replace("d = c - a = 24 - 7 = 17", "d = c - a = 7 - 24 = 17")
    assert first_wrong(world, p, wrong).reason == "c is 24, not 7"


def test_answer_line_of_300000_dots_is_read_at_once():
    world, p = world_and_example()
    v = world.verify(p, "Answer: " + "." * 300_000)
    assert (v.answer, v.steps[0].reason) == ("", "cannot read the answer")
    assert world.verify(p, EXAMPLE_SOLUTION + " " * 300_000 + "...").correct


def test_example_distractor_step_is_not_an_error():
    world = ChainWorld()
    p = world.parse_problem("a = 7. e = a * 3. b = a + 5. Find b.")
    assert world.verify(p, "e = a * 3 = 7 * 3 = 21\nb = a + 5 = 7 + 5 = 12\nAnswer: 12").correct
    assert world.solve(p) == "b = a + 5 = 7 + 5 = 12\nAnswer: 12"


@pytest.mark.parametrize("text", [
    "", "Find d.", "a = 7. Find a.", "a = 7. b = a + c. Find b.",
    "a = 7. a = 8. b = a + 1. Find b.", "a = b + 1. b = a + 1. Find a.",
    "a = 7. b = a / 2. Find b.", "a = 7. b = a + 5."])
def test_parse_problem_rejects_malformed_text(text):
    with pytest.raises(ValueError):
        ChainWorld().parse_problem(text)


def test_config_validation():
    for bad in [{"max_value": 0}, {"max_literal": 200}, {"ops": "/"}, {"ops": ""},
                {"distractors": -1}, {"distractors": (3, 1)}, {"min_ops": 0},
                {"min_ops": 5, "max_ops": 4}, {"max_ops": 30}, {"ops": "+", "max_value": 5},
                {"max_value": "99"}, {"trace": "all"},
                {"order": "sorted"}, {"depths": 0}, {"depths": (3, 2)}, {"depths": "3"}]:
        with pytest.raises(ValueError):
            ChainWorld(**bad)
    with pytest.raises(UsageError):
        get_world("chain", ops="%")
    assert get_world("chain", ops="*-").config.ops == "-*"
    assert ChainWorld(min_ops=2, max_ops=5).difficulties() == (2, 3, 4, 5)
    with pytest.raises(ValueError):
        ChainWorld().generate(random.Random(0), 9)


def test_every_trace_writes_each_operation_distractors_included():
    text = "c = b * 2. a = 7. e = a - 1. b = a + 5. d = c - a. Find d."
    world = ChainWorld(trace="every")
    p = world.parse_problem(text)
    assert world.solve(p) == ("b = a + 5 = 7 + 5 = 12\n"
                              "c = b * 2 = 12 * 2 = 24\ne = a - 1 = 7 - 1 = 6\n"
                              "d = c - a = 24 - 7 = 17\nAnswer: 17")
    assert ChainWorld().solve(p) == EXAMPLE_SOLUTION
    assert world.verify(p, world.solve(p)).correct


# --- properties ---------------------------------------------------------------------------

@FAST
@given(problems())
def test_canonical_solution_is_right(wp):
    world, p = wp
    sol = world.solve(p)
    v = world.verify(p, sol)
    assert v.correct and v.parsed and v.answer == p.answer
    c = ExactCritic(world).critique(p, sol)
    assert (c.verdict, c.first_error_step) == ("right", None)
    assert c.text.endswith("Conclusion: right [END]")


@FAST
@given(problems(), st.integers(-5, 500))
def test_wrong_answer_is_never_accepted(wp, stated):
    world, p = wp
    lines = world.solve(p).splitlines()
    v = world.verify(p, "\n".join([*lines[:-1], f"Answer: {stated}"]))
    assert v.correct == (str(stated) == p.answer)
    assert v.correct or v.first_error_step == len(lines)


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(0, 10**6), st.sampled_from(ChainWorld.error_kinds))
def test_critic_names_the_injected_line(wp, seed, kind):
    world, p = wp
    err = world.inject_error(p, random.Random(seed), kind)
    assert err.kind == kind or p.difficulty == 1
    c = ExactCritic(world).critique(p, err.solution)
    assert c.verdict == "wrong" and parse_verdict(c.text) == "wrong"
    assert c.first_error_step == err.first_error_step == parse_first_error(c.text)


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(0, 10**6), st.sampled_from(ChainWorld.error_kinds),
       st.sampled_from(("checked", "recomputed")))
def test_compared_critiques_read_back_as_the_steps_form(wp, seed, kind, form):
    world, p = wp
    err = world.inject_error(p, random.Random(seed), kind)
    steps, compared = (ExactCritic(world, f).critique(p, err.solution) for f in ("steps", form))
    assert parse_verdict(compared.text) == compared.verdict == steps.verdict
    assert parse_first_error(compared.text) == steps.first_error_step == compared.first_error_step
    lines, theirs = compared.text.splitlines(), err.solution.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Check: "):  # the verdict is what comparing the two lines shows
            own, verdict = line.split(": ", 1)[1], lines[i + 1 + (form == "checked")]
            index = int(verdict.split()[1].rstrip(":"))
            if form == "checked":
                assert lines[i + 1] == f"Given: {theirs[index - 1]}"
            assert (own == theirs[index - 1]) == verdict.endswith(": correct.")
    if form == "recomputed":  # every line it trains on is right: no candidate line is copied
        assert not any(ln.startswith("Given: ") for ln in lines)


@pytest.mark.parametrize("form", ["checked", "recomputed"])
def test_compared_critique_of_the_canonical_solution(form):
    world = get_world("chain")
    p = world.generate(random.Random(5), 3)
    text = ExactCritic(world, form).critique(p, world.solve(p)).text
    first = world.solve(p).splitlines()[0]
    given = [f"Given: {first}"] if form == "checked" else []
    head = [f"Check: {first}", *given, "Step 1: correct."]
    assert text.splitlines()[:len(head)] == head
    assert text.endswith("Conclusion: right [END]") and "wrong" not in text
    with pytest.raises(ValueError, match="unknown critique form"):
        ExactCritic(world, "verbose").critique(p, world.solve(p))


@FAST
@given(problems(min_ops=2), st.integers(0, 10**6))
def test_every_kind_is_used_as_asked_from_two_steps(wp, seed):
    world, p = wp
    kinds = [world.inject_error(p, random.Random(seed), k).kind for k in world.error_kinds]
    assert tuple(kinds) == world.error_kinds


@FAST
@given(problems(), st.integers(0, 10**6))
def test_valid_reordering_with_distractor_steps_is_right(wp, seed):
    world, p = wp
    rng = random.Random(seed)
    defs = definitions(p)
    ops = [v for v, d in defs.items() if d.op]
    order: list[str] = []
    while len(order) < len(ops):  # a random topological order of every operation
        ready = [v for v in ops if v not in order and all(
            isinstance(a, int) or defs[a].op is None or a in order for a in defs[v].args)]
        order.append(rng.choice(ready))
    lines, _ = trace(defs, order)
    assert world.verify(p, "\n".join([*lines, f"Answer: {p.answer}"])).correct


@FAST
@given(problems(), st.integers(0, 10**6))
def test_same_seed_same_problem(wp, seed):
    world, p = wp
    a, b = (world.generate(random.Random(seed), p.difficulty) for _ in range(2))
    assert a.to_dict() == b.to_dict()


@FAST
@given(problems())
def test_values_stay_in_range_and_structure_is_sound(wp):
    world, p = wp
    cfg, defs = world.config, definitions(p)
    assert all(0 <= x <= cfg.max_value for x in values(defs).values())
    literals = [a for d in defs.values() for a in d.args if isinstance(a, int)]
    assert all(1 <= n <= cfg.max_literal for n in literals)
    assert all(d.op in (None, *cfg.ops) for d in defs.values())
    assert len(needed_order(defs, p.data["question"])) == p.difficulty
    assert len(defs) == len(p.data["defs"])  # distinct letters
    assert p.answer == str(values(defs)[p.data["question"]])
    again = world.parse_problem(p.text)
    assert again == p and again.data == p.data and again.id == p.id


@FAST
@given(problems(), st.text(max_size=300))
def test_verifier_never_raises_on_arbitrary_text(wp, text):
    world, p = wp
    v = world.verify(p, text)
    assert len(v.steps) == len([ln for ln in text.splitlines() if ln.strip()])
    assert v.correct or not v.steps or v.first_error_step is not None


@FAST
@given(st.text(alphabet="0123456789abc+-*() \n=", max_size=80))
def test_arith_parser_raises_only_parse_error(text):
    try:
        evaluate(parse_expr(text), {"a": 1, "b": 2, "c": 3})
    except ParseError:
        pass


def trees():
    leaves = st.integers(0, 10**6).map(Num)
    return st.recursive(leaves, lambda sub: st.one_of(
        sub.map(Neg), st.tuples(st.sampled_from("+-*"), sub, sub).map(lambda t: Bin(*t))),
        max_leaves=12)


def render(node) -> str:
    if isinstance(node, Num):
        return str(node.value)
    if isinstance(node, Neg):
        return f"-({render(node.arg)})"
    return f"({render(node.left)} {node.op} {render(node.right)})"


def fold(node) -> int:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        return -fold(node.arg)
    a, b = fold(node.left), fold(node.right)
    return a + b if node.op == "+" else a - b if node.op == "-" else a * b


@settings(max_examples=200, deadline=None)
@given(trees())
def test_arith_parser_agrees_with_integer_arithmetic(tree):
    assert evaluate(parse_expr(render(tree))) == fold(tree)


def test_arith_precedence_and_unary_minus():
    assert evaluate(parse_expr("2 + 3 * 4 - -1")) == 15
    assert evaluate(parse_expr("2 - 3 - 4")) == -5
    assert evaluate(parse_expr("-(2 + 3) * a"), {"a": 2}) == -10
    for bad in ["", "2 +", "(1", "1)", "2 / 1", "1 2", "(" * 100 + "1" + ")" * 100]:
        with pytest.raises(ParseError):
            evaluate(parse_expr(bad))


@FAST
@given(problems(), st.integers(0, 10**6), st.booleans())
def test_noisy_critic_extremes(wp, seed, broken):
    world, p = wp
    sol = world.inject_error(p, random.Random(seed)).solution if broken else world.solve(p)
    exact = ExactCritic(world).critique(p, sol)
    assert NoisyCritic(world, 0.0, seed).critique(p, sol) == exact
    noisy = NoisyCritic(world, 1.0, seed).critique(p, sol)
    assert (noisy.verdict, noisy.first_error_step) != (exact.verdict, exact.first_error_step)


@FAST
@given(problems(), st.integers(0, 10**6))
def test_fake_reasons_read_like_real_ones(wp, seed):
    world, p = wp
    rng = random.Random(seed)
    for check in world.verify(p, world.solve(p)).steps:
        reason = world.fake_reason(p, check, rng)
        assert ", not " in reason or reason.endswith("is used before it is computed")


@pytest.mark.parametrize(("text", "ops", "deep"), [
    ("c = b * 2. a = 7. b = a + 5. d = c - a. Find d.", 3, 3),   # one chain
    ("a = 1. b = a + 2. c = a + 3. d = b + c. Find d.", 3, 2),   # two branches joined
    ("a = 4. b = a - 1. x = b * 2. Find b.", 1, 1),              # a distractor left out
])
def test_depth_counts_the_longest_chain_not_every_operation(text, ops, deep):
    p = get_world("chain").parse_problem(text)
    defs = definitions(p)
    assert len(needed_order(defs, p.data["question"])) == ops
    assert depth(defs, p.data["question"]) == deep


def test_a_depth_range_keeps_only_chains_of_those_lengths():
    shallow, exact = ChainWorld(max_ops=6, depths=(1, 3)), ChainWorld(max_ops=6, depths=4)
    rng = random.Random(0)

    def depths(world: ChainWorld, ops: int) -> set[int]:
        return {depth(definitions(p), p.data["question"])
                for p in (world.generate(rng, ops) for _ in range(40))}

    assert depths(shallow, 4) == {3} and depths(exact, 4) == {4} and depths(shallow, 6) == {3}
    assert ChainWorld(max_ops=6).generate(random.Random(5), 3) == \
        ChainWorld(max_ops=6, depths=(1, 6)).generate(random.Random(5), 3)
    with pytest.raises(ValueError, match="depths 4..4"):
        exact.generate(rng, 2)  # two operations are never four deep


def test_dependency_order_states_the_same_problems_in_order():
    shuffled, ordered = ChainWorld(max_ops=6), ChainWorld(max_ops=6, order="dependency")
    for seed in range(40):
        a, b = (w.generate(random.Random(seed), 1 + seed % 6) for w in (shuffled, ordered))
        assert shuffled.signature(a) == ordered.signature(b) and a.answer == b.answer
        seen: set[str] = set()
        for d in definitions(b).values():
            assert all(x in seen for x in d.args if isinstance(x, str))
            seen.add(d.var)
        assert ordered.verify(b, ordered.solve(b)).correct
    p = ordered.parse_problem("a = 3. b = a + 1. c = 5. d = c * 2. e = d + b. Find e.")
    assert ordered.solve(p).splitlines()[:3] == [
        "b = a + 1 = 3 + 1 = 4", "d = c * 2 = 5 * 2 = 10", "e = d + b = 10 + 4 = 14"]
    assert ordered.solve(ordered.parse_problem(EXAMPLE)) == EXAMPLE_SOLUTION


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(0, 10**6))
def test_a_misconceived_student_errs_exactly_where_it_computes_a_wrong_fact(wp, seed):
    world, p = wp
    student = world.misconceived(0.3, seed)
    assert student.solve(p) == world.solve(p)  # canonical solutions stay exact
    for (op, a, b), wrong in student.misconceptions.items():
        assert wrong != evaluate(parse_expr(f"{a} {op} {b}"), {})
        assert 0 <= wrong <= world.config.max_value
    sol = student.sample_solution(p, random.Random(seed), error_rate=0.0)
    shown = [line.split(" = ")[2] for line in sol.splitlines()[:-1]]
    facts = [(op, int(a), int(b)) for a, op, b in (s.split(" ") for s in shown)]
    first = next((i for i, f in enumerate(facts) if f in student.misconceptions), None)
    v = world.verify(p, sol)
    if first is None:
        assert sol == world.solve(p) and v.correct
    else:
        assert not v.correct and v.first_error_step == first + 1


def test_misconceptions_are_a_seeded_share_of_the_facts_and_none_changes_nothing():
    world = ChainWorld(max_value=9, ops="+-*")
    a, b = world.misconceived(0.1, "s"), world.misconceived(0.1, "s")
    assert a.misconceptions == b.misconceptions and len(a.misconceptions) == 15  # of 152 facts
    assert world.misconceived(0.1, "t").misconceptions != a.misconceptions
    p = world.generate(random.Random(3), 3)
    none = world.misconceived(0.0, "s")
    assert [none.sample_solution(p, random.Random(k), 0.5) for k in range(20)] == [
        world.sample_solution(p, random.Random(k), 0.5) for k in range(20)]
