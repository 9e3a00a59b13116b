"""The self-improvement loop: shortcut guard, refinement prompts, harvest and its second rounds
(refine, and the restart and resample controls), records, resume."""

import random
from functools import partial

import pytest

from critiquelab.critics.base import Critique, ExactCritic
from critiquelab.data.refine import ALPACA_REFINE, COMPACT_REFINE, confirmed_lines, prefix_lines
from critiquelab.formats import COMPACT
from critiquelab.models import load_model, save_model
from critiquelab.models.tokenizer import build_char_tokenizer
from critiquelab.training import TrainConfig, self_improve
from critiquelab.training.self_improve import (
    LoopConfig,
    deal_lengths,
    harvest,
    shows_work,
    training_records,
)
from critiquelab.worlds import StepCheck, Verification, get_world

WORLD = get_world("chain", max_ops=4)
PROBLEM = WORLD.parse_problem("c = b * 2. a = 7. b = a + 5. d = c - a. Find d.")
RIGHT = WORLD.solve(PROBLEM)  # b, c, d, Answer: 17
WRONG = "b = a + 5 = 7 + 5 = 12\nc = b * 2 = 12 * 2 = 25\nd = c - a = 25 - 7 = 18\nAnswer: 18"


def test_guard_rejects_bare_answers_in_any_world():
    assert shows_work(WORLD.verify(PROBLEM, RIGHT), min_steps=2)
    assert not shows_work(WORLD.verify(PROBLEM, "Answer: 17"), min_steps=2)
    assert not shows_work(WORLD.verify(PROBLEM, WRONG), min_steps=2)
    assert not shows_work(WORLD.verify(PROBLEM, RIGHT), min_steps=5)
    # a world whose verifier only checks the final answer: the step count is the guard
    bare = Verification(True, "17", True, (StepCheck(1, "Answer: 17", True, "answer 17"),))
    assert bare.correct and not shows_work(bare, min_steps=2)
    assert shows_work(bare, min_steps=1)


def test_refinement_prompts_carry_the_critique():
    critique = ExactCritic(WORLD).critique(PROBLEM, WRONG).text
    assert confirmed_lines(WRONG, critique) == "b = a + 5 = 7 + 5 = 12\n"
    prompt = COMPACT_REFINE.refine_prompt(PROBLEM.text, WRONG, critique)
    assert prompt == COMPACT.solve_prompt(PROBLEM.text) + "b = a + 5 = 7 + 5 = 12\n"
    assert COMPACT_REFINE.head(WRONG, critique) == "b = a + 5 = 7 + 5 = 12\n"
    full = ALPACA_REFINE.refine_prompt(PROBLEM.text, WRONG, critique)
    assert WRONG in full and critique in full and full.endswith("Revised solution:\n")
    assert ALPACA_REFINE.head(WRONG, critique) == ""
    assert confirmed_lines(WRONG, "Step 1: wrong, no.\nConclusion: wrong [END]") == ""
    assert confirmed_lines(WRONG, "Conclusion: right [END]") == WRONG + "\n"


def test_restart_prompt_is_a_prefix_without_the_critique():
    prompt = COMPACT_REFINE.restart_prompt(PROBLEM.text, WRONG, 2)
    assert prompt == COMPACT.solve_prompt(PROBLEM.text) + prefix_lines(WRONG, 2)
    assert prefix_lines(WRONG, 2) == "\n".join(WRONG.splitlines()[:2]) + "\n"
    assert prefix_lines(WRONG, 9) == WRONG + "\n" and prefix_lines(WRONG, 0) == ""
    with pytest.raises(ValueError, match="from scratch"):
        ALPACA_REFINE.restart_prompt(PROBLEM.text, WRONG, 1)


def fake_generate(samples):
    """A stand-in actor: canned samples for solve prompts; refinement prompts (which end with
    confirmed lines) are completed with the rest of the canonical solution."""
    solve = COMPACT.solve_prompt(PROBLEM.text)

    def generate(model, tokenizer, prompts, max_new_tokens, n=1, **kw):
        out = []
        for p in prompts:
            if p == solve:
                out.append(list(samples[:n]))
            else:
                done = p.removeprefix(solve)
                out.append([RIGHT[len(done):] if RIGHT.startswith(done) else "junk"] * n)
        return out

    return generate


def test_harvest_keeps_verified_samples_and_refinements(monkeypatch):
    samples = [RIGHT, "Answer: 17", WRONG, WRONG]
    monkeypatch.setattr(self_improve, "generate", fake_generate(samples))
    cfg = LoopConfig(samples=4, min_steps=2)
    kept, counts = harvest(WORLD, None, None, COMPACT, [PROBLEM], cfg, seed=0)
    assert [k["source"] for k in kept] == ["sample"]
    assert counts == {"samples": 4, "wrong": 3, "critiqued": 0, "second_round_kept": 0,
                      "shortcuts": 1, "second_round": 0, "generations": 4, "prefix_lengths": {}}
    refine = LoopConfig(samples=4, min_steps=2, second_round="refine")
    kept, counts = harvest(WORLD, None, None, COMPACT, [PROBLEM], refine, 0, ExactCritic(WORLD),
                           COMPACT_REFINE)
    assert [k["source"] for k in kept] == ["sample", "refined", "refined", "refined"]
    assert all(WORLD.verify(PROBLEM, k["solution"]).correct for k in kept)
    assert counts["second_round"] == 3 and counts["second_round_kept"] == 3
    assert counts["generations"] == 7 and counts["prefix_lengths"] == {"0": 1, "1": 2}
    kept, counts = harvest(WORLD, None, None, COMPACT, [PROBLEM], refine, 0, Approving(),
                           COMPACT_REFINE)
    assert counts["critiqued"] == 3 and counts["second_round"] == 0 and len(kept) == 1
    with pytest.raises(ValueError, match="needs a critic"):
        harvest(WORLD, None, None, COMPACT, [PROBLEM], refine, 0)


# Wrong in line 1, 2 and 3: the exact critic confirms 0, 1 and 2 lines of them.
WRONGS = ["b = a + 5 = 7 + 5 = 13\nc = b * 2 = 13 * 2 = 26\nd = c - a = 26 - 7 = 19\nAnswer: 19",
          WRONG,
          "b = a + 5 = 7 + 5 = 12\nc = b * 2 = 12 * 2 = 24\nd = c - a = 24 - 7 = 16\nAnswer: 16"]


class Actor:
    """Answers the sampling round with canned samples and records the second round's prompts,
    completing each with the rest of the canonical solution when its head is a prefix of it."""

    def __init__(self, samples):
        self.samples, self.second = samples, []

    def __call__(self, model, tokenizer, prompts, max_new_tokens, n=1, **kw):
        if n > 1:
            return [list(self.samples[:n]) for _ in prompts]
        self.second += prompts
        solve = COMPACT.solve_prompt(PROBLEM.text)
        return [[RIGHT[len(p) - len(solve):] if RIGHT.startswith(p.removeprefix(solve))
                 else "junk"] for p in prompts]


def heads(prompts):
    return [p.removeprefix(COMPACT.solve_prompt(PROBLEM.text)) for p in prompts]


def test_restart_continues_the_critics_prefix_lengths_dealt_without_the_critic(monkeypatch):
    samples = [RIGHT, *WRONGS]
    critic = ExactCritic(WORLD)
    refine, restart = (LoopConfig(samples=4, second_round=r) for r in ("refine", "restart"))
    actor = Actor(samples)
    monkeypatch.setattr(self_improve, "generate", actor)
    _, counts = harvest(WORLD, None, None, COMPACT, [PROBLEM], refine, 0, critic, COMPACT_REFINE)
    critic_heads = heads(actor.second)
    assert critic_heads == [prefix_lines(w, k) for w, k in zip(WRONGS, (0, 1, 2), strict=True)]
    dealt = []
    for seed in range(12):
        actor.second = []
        kept, control = harvest(WORLD, None, None, COMPACT, [PROBLEM], restart, seed, critic,
                                COMPACT_REFINE)
        # the same generations from prefixes of the same lengths, with no critique in context
        assert control["generations"] == counts["generations"] == 4 + 3
        assert control["prefix_lengths"] == counts["prefix_lengths"] == {"0": 1, "1": 1, "2": 1}
        restarted = heads(actor.second)
        assert sorted(len(h.splitlines()) for h in restarted) == [0, 1, 2]
        assert all(any(h == prefix_lines(w, len(h.splitlines())) for w in WRONGS)
                   for h in restarted)
        assert not any("Conclusion" in p or "Step" in p for p in actor.second)
        assert {k["source"] for k in kept} <= {"sample", "restarted"}
        dealt.append(restarted)
    assert any(sorted(d) != sorted(critic_heads) for d in dealt)  # the critic's link is broken


def test_a_set_second_round_draws_from_the_wrong_samples_or_the_pool(monkeypatch):
    actor = Actor([RIGHT, WRONG, WRONG, WRONGS[0]])
    monkeypatch.setattr(self_improve, "generate", actor)
    resample = LoopConfig(samples=4, second_round="resample")
    _, counts = harvest(WORLD, None, None, COMPACT, [PROBLEM], resample, 0, extra=5)
    assert counts["second_round"] == 5 and counts["generations"] == 4 + 5
    assert actor.second == [COMPACT.solve_prompt(PROBLEM.text)] * 5
    assert counts["prefix_lengths"] == {"0": 5}
    restart = LoopConfig(samples=4, second_round="restart")
    actor.samples, actor.second = [RIGHT] * 4, []  # nothing wrong: fresh samples of the pool
    _, counts = harvest(WORLD, None, None, COMPACT, [PROBLEM], restart, 0, ExactCritic(WORLD),
                        COMPACT_REFINE, extra=2)
    assert counts["second_round"] == 2 and actor.second == [COMPACT.solve_prompt(PROBLEM.text)] * 2


def test_dealt_lengths_are_the_same_lengths_and_fit():
    rng = random.Random(0)
    for _ in range(200):
        capacity = [rng.randint(0, 6) for _ in range(rng.randint(0, 9))]
        lengths = [rng.randint(0, c) for c in capacity]
        dealt = deal_lengths(lengths, capacity, rng)
        assert sorted(dealt) == sorted(lengths)
        assert all(k <= c for k, c in zip(dealt, capacity, strict=True))


class Approving:
    """A critic that calls every solution right: the actor has nothing to rewrite."""

    def critique(self, problem, solution):
        return Critique("right", None, "Conclusion: right [END]")


def test_training_records_are_seeded_and_budgeted():
    tok = build_char_tokenizer()
    kept = [{"problem_id": PROBLEM.id, "difficulty": 3, "solution": RIGHT + "\n",
             "source": "sample"}] * 3
    a = training_records(kept, [PROBLEM], COMPACT, tok, budget=500, seed=1)
    assert a == training_records(kept, [PROBLEM], COMPACT, tok, budget=500, seed=1)
    assert 500 <= sum(len(r["prompt"]) + len(r["completion"]) + 1 for r in a) < 500 + 200
    assert a[0]["completion"] == RIGHT + "\n" and a[0]["problem_id"] == PROBLEM.id
    assert training_records([], [PROBLEM], COMPACT, tok, budget=500, seed=1) == []


def test_loop_trains_saves_and_resumes_after_the_last_finished_iteration(tmp_path, monkeypatch):
    model, tok = load_model("tiny-xs", seed=0)
    base = save_model(model, tok, tmp_path / "base")
    rng = random.Random(0)
    problems = [WORLD.generate(rng, d) for d in (1, 1, 2, 3, 3, 4)]
    answers = {COMPACT.solve_prompt(p.text): WORLD.solve(p) for p in problems if p.difficulty < 3}
    calls = {"generate": 0, "evaluate": []}

    def actor(model, tokenizer, prompts, max_new_tokens, n=1, **kw):
        calls["generate"] += 1
        return [[answers.get(p, "junk")] * n for p in prompts]

    def evaluate(model, tokenizer, k):
        calls["evaluate"].append(k)
        return {"iteration": k}

    monkeypatch.setattr(self_improve, "generate", actor)
    cfg = LoopConfig(iterations=2, samples=2, max_new_tokens=8, token_budget=600,
                     train=TrainConfig(learning_rate=1e-3, batch_size=4, logging_steps=1),
                     second_round="resample")
    run = partial(self_improve.self_improve, WORLD, base, problems, COMPACT, cfg,
                  tmp_path / "loop", 0, evaluate=evaluate, extra=(3, 5))
    first = run()
    assert [it.iteration for it in first] == [1, 2] and calls["evaluate"] == [1, 2]
    for it, extra in zip(first, (3, 5), strict=True):
        assert len(it.kept) == 6 and {k["difficulty"] for k in it.kept} == {1, 2}
        assert it.training["steps"] > 0 and it.training["tokens"] >= 600
        assert it.harvest["wrong"] == 6 and it.metrics == {"iteration": it.iteration}
        assert it.harvest["generations"] == 12 + extra  # the set second round, per iteration
    assert (tmp_path / "loop" / "iter2" / "model" / "config.json").is_file()

    (tmp_path / "loop" / "iter2" / "summary.json").unlink()  # killed after harvesting
    calls.update(generate=0, evaluate=[])
    again = run()
    assert calls == {"generate": 0, "evaluate": [2]}
    assert [it.kept for it in again] == [it.kept for it in first]
