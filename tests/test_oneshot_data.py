"""One-shot CFT data: critique styles, the builder's counts and filtering, and its CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass

import pytest

from critiquelab.critics import ExactCritic, NoisyCritic, parse_first_error, parse_verdict
from critiquelab.critics.styles import STYLES, StyledCritic, restyle
from critiquelab.data.oneshot import (
    CriticTeacher,
    InjectorGenerator,
    ModelTeacher,
    build_oneshot,
    critic_teacher,
    solution_records,
    world_judge,
)
from critiquelab.errors import UsageError
from critiquelab.formats import COMPACT
from critiquelab.worlds import get_world

WORLD = get_world("chain", max_value=50, distractors=(0, 2), max_ops=6)


def problem(difficulty: int = 4, seed: int = 3):
    return WORLD.generate(random.Random(seed), difficulty)


@dataclass
class Fixed:
    """A generator that returns the same list of solutions."""

    name: str
    solutions: list[str]

    def sample(self, problem, n, seed):
        return self.solutions[:n]


@dataclass
class Canned:
    """A teacher that answers every solution with the same text."""

    name: str
    text: str | None
    family: str = "canned"

    def critique_all(self, problem, solutions):
        return [self.text] * len(solutions)


def candidates(p, right: int, wrong: int) -> list[str]:
    rng = random.Random(0)
    kinds = ("arithmetic_slip", "wrong_operator", "wrong_final_answer")
    return [WORLD.solve(p)] * right + [WORLD.inject_error(p, rng, kinds[i]).solution
                                       for i in range(wrong)]


@pytest.mark.parametrize("style", STYLES)
def test_every_style_keeps_verdict_and_first_error(style):
    rng = random.Random(1)
    for i in range(60):
        p = problem(rng.choice([1, 3, 6]), seed=i)
        sol = WORLD.sample_solution(p, rng, 0.6)
        for critic in (ExactCritic(WORLD), NoisyCritic(WORLD, 0.5, seed=i)):
            c = critic.critique(p, sol)
            styled = StyledCritic(critic, style).critique(p, sol)
            assert styled.text.endswith(f"Conclusion: {c.verdict} [END]")
            assert parse_verdict(styled.text) == c.verdict
            assert parse_first_error(styled.text) == parse_first_error(c.text)
            if style != "steps" and " correct.\n" in c.text:
                assert styled.text != c.text


def test_restyle_rejects_unknown_style():
    with pytest.raises(ValueError, match="unknown critique style"):
        restyle("Conclusion: right [END]", "poetic")


def test_builder_counts_and_filtering():
    p = problem()
    gens = [(Fixed("a", candidates(p, 2, 3)), 5), (Fixed("b", candidates(p, 1, 0)), 1)]
    teachers = [CriticTeacher("exact", ExactCritic(WORLD)),
                Canned("yes", "Conclusion: right [END]"), Canned("mute", None),
                Canned("rambling", "looks fine to me")]
    kept = build_oneshot(p, gens, teachers, world_judge(WORLD))
    s = kept.summary()
    assert (s["candidates"], s["right"], s["wrong"], s["distinct"]) == (6, 3, 3, 4)
    assert s["by_generator"] == {"a": {"right": 2, "wrong": 3}, "b": {"right": 1, "wrong": 0}}
    assert s["by_teacher"]["exact"] == {"critiques": 6, "failed": 0, "unparsed": 0, "agree": 6,
                                        "kept": 6}
    assert s["by_teacher"]["yes"]["agree"] == s["by_teacher"]["yes"]["kept"] == 3
    assert s["by_teacher"]["mute"]["failed"] == 6 and s["by_teacher"]["rambling"]["unparsed"] == 6
    assert (s["critiques"], s["kept"]) == (24, 9) and len(kept.records) == 9
    assert all(r["verdict"] == r["reference_verdict"] for r in kept.records)

    everything = build_oneshot(p, gens, teachers, world_judge(WORLD), keep_agreeing=False)
    assert everything.summary()["kept"] == len(everything.records) == 12
    wrong = [r for r in everything.records if r["verdict"] != r["reference_verdict"]]
    assert len(wrong) == 3 and {r["teacher"] for r in wrong} == {"yes"}


def test_families_are_counted_with_their_share_of_right_verdicts():
    p = problem()
    gens = [(Fixed("a", candidates(p, 3, 3)), 6)]
    teachers = [critic_teacher(WORLD, "exact"), critic_teacher(WORLD, "exact/explained"),
                critic_teacher(WORLD, "noisy-1.0-s1/terse"),
                Canned("model/steps", "Conclusion: right [END]", "model")]
    s = build_oneshot(p, gens, teachers, world_judge(WORLD)).summary()
    fam = s["by_family"]
    assert list(fam) == ["exact", "noisy", "model"]
    assert (fam["exact"]["critiques"], fam["exact"]["kept"], fam["exact"]["right_share"]) == (
        12, 12, 1.0)
    assert fam["noisy"]["critiques"] == 6 and fam["noisy"]["right_share"] <= 0.5
    assert fam["model"]["right_share"] == 0.5 and fam["model"]["kept"] == 3
    assert sum(f["critiques"] for f in fam.values()) == s["critiques"] == 24
    assert s["right_share"] == pytest.approx(s["agree"] / 24)


def test_a_model_writes_critiques_as_a_teacher_of_the_model_family():
    from critiquelab.models import load_model

    model, tok = load_model("tiny-xs", seed=0)
    base = ModelTeacher("critic", model, tok, max_new_tokens=12)
    teacher = critic_teacher(WORLD, "model/terse", base)
    assert (teacher.name, teacher.family, teacher.style) == ("model/terse", "model", "terse")
    texts = teacher.critique_all(problem(), candidates(problem(), 1, 2))
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    with pytest.raises(UsageError, match="needs a critic model"):
        critic_teacher(WORLD, "model")


def test_a_model_critique_ends_at_its_end_mark():
    from critiquelab.data.oneshot import _through_end

    assert _through_end("Step 1: a = 2 correct.\nConclusion: right [END]Q: 3") == (
        "Step 1: a = 2 correct.\nConclusion: right [END]")
    assert _through_end("Step 1: a = 2") == "Step 1: a = 2"


def test_records_carry_provenance_and_the_critique():
    p = problem()
    build = build_oneshot(p, [(InjectorGenerator(WORLD, 0.5), 20)],
                          [critic_teacher(WORLD, "exact/terse")], world_judge(WORLD), seed=7)
    for r in build.records:
        assert r["prompt"].startswith(COMPACT.solve_prompt(p.text).split("Solution:")[0])
        assert r["completion"].rstrip().endswith(f"Conclusion: {r['verdict']} [END]")
        assert (r["problem_id"], r["generator"], r["teacher"]) == (p.id, "injector",
                                                                  "exact/terse")
    sols = solution_records(build)
    assert len(sols) == build.summary()["right"] > 0
    assert all(WORLD.verify(p, r["completion"]).correct for r in sols)


def test_injector_is_seeded_and_honours_the_error_rate():
    p = problem()
    gen = InjectorGenerator(WORLD, 0.5)
    assert gen.sample(p, 30, seed=1) == gen.sample(p, 30, seed=1)
    assert gen.sample(p, 30, seed=1) != gen.sample(p, 30, seed=2)
    judge = world_judge(WORLD)
    assert all(judge(p, s) for s in InjectorGenerator(WORLD, 0.0).sample(p, 10, 0))
    assert not any(judge(p, s) for s in InjectorGenerator(WORLD, 1.0).sample(p, 10, 0))


def test_critic_specs():
    assert critic_teacher(WORLD, "exact").name == "exact/steps"
    assert critic_teacher(WORLD, "exact").family == "exact"
    noisy = critic_teacher(WORLD, "noisy-0.3-s4/explained")
    assert noisy.name == "noisy-0.3-s4/explained"
    assert isinstance(noisy.critic, StyledCritic) and noisy.critic.critic.p == 0.3
    assert noisy.critic.critic.seed == 4 and noisy.family == "noisy"
    for bad in ("oracle", "noisy-1.5", "exact/poetic", "noisy-0.2-x"):
        with pytest.raises(UsageError):
            critic_teacher(WORLD, bad)


def test_builder_needs_a_generator_and_a_teacher():
    with pytest.raises(UsageError):
        build_oneshot(problem(), [], [critic_teacher(WORLD, "exact")], world_judge(WORLD))


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "critiquelab.cli", "build", "oneshot", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_the_kept_records(tmp_path):
    out = tmp_path / "oneshot.jsonl"
    r = cli("--out", str(out), "--difficulty", "3", "--injected", "16", "--critic", "exact",
            "--critic", "noisy-0.5-s1/terse", "--seed", "2")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[0])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["candidates"] == 16 and summary["critiques"] == 32
    assert len(rows) == summary["kept"] < 32
    assert {row["teacher"] for row in rows} == {"exact/steps", "noisy-0.5-s1/terse"}


def test_cli_rejects_a_bad_critic(tmp_path):
    r = cli("--out", str(tmp_path / "x.jsonl"), "--critic", "oracle")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "critic 'oracle'" in r.stderr


def test_cli_takes_a_critic_model(tmp_path):
    out = tmp_path / "oneshot.jsonl"
    r = cli("--out", str(out), "--difficulty", "2", "--injected", "4", "--critic", "exact",
            "--critic", "model", "--critic-model", "tiny-xs", "--max-new-tokens", "16")
    assert r.returncode == 0, r.stderr
    families = json.loads(r.stdout.splitlines()[0])["by_family"]
    assert set(families) == {"exact", "model"} and families["model"]["critiques"] == 4
    r = cli("--out", str(out), "--critic", "model")
    assert r.returncode == 2 and "needs a critic model" in r.stderr
