"""RLVR and SRL: rewards on hand-made completions, a GRPO step on a tiny model, SRL prompts
and dynamic sampling, stage pipelines that skip finished stages."""

import random

import pytest
import torch

from critiquelab.errors import UsageError
from critiquelab.formats import COMPACT
from critiquelab.models.tiny import build_tiny_model
from critiquelab.models.tokenizer import build_char_tokenizer
from critiquelab.training import srl
from critiquelab.training.pipeline import StageResult, parse_spec, run_pipeline
from critiquelab.training.rl import (
    MathFormatReward,
    MathReward,
    RLConfig,
    train_rl,
    world_prompts,
    world_rewards,
)
from critiquelab.worlds import get_world


@pytest.fixture(scope="module")
def chain():
    world = get_world("chain", max_value=20, max_literal=9, distractors=(0, 1), min_ops=1,
                      max_ops=4)
    return world, world.generate(random.Random(3), 2)


def test_world_rewards_on_hand_made_completions(chain):
    world, p = chain
    right = world.solve(p)
    wrong = right.rsplit(":", 1)[0] + f": {int(p.answer) + 1}"
    correct, fmt = world_rewards(world, [p], format_bonus=0.1)
    completions = [right, wrong, "no idea", ""]
    ids = [p.id] * 4
    assert correct(completions=completions, problem_id=ids) == [1.0, 0.0, 0.0, 0.0]
    assert fmt(completions=completions, problem_id=ids) == pytest.approx([0.1, 0.1, 0.0, 0.0])
    assert len(world_rewards(world, [p])) == 1
    assert world_prompts(world, [p], COMPACT) == [{"prompt": COMPACT.solve_prompt(p.text),
                                                   "problem_id": p.id}]


def test_math_rewards_grade_final_answers():
    reward = MathReward()
    got = reward(completions=["48 + 24 = 72\n#### 72", "so \\boxed{71}", "I think 72"],
                 answer=["72", "72", "72"])
    assert got == [1.0, 0.0, 1.0]
    strict = MathReward(grader=lambda prediction, reference: prediction.strip() == reference)
    assert strict(completions=["72", " 72 ", "#### 72"], answer=["72"] * 3) == [1.0, 1.0, 0.0]
    bonus = MathFormatReward(0.5)
    assert bonus(completions=["#### 3", "\\boxed{3}", "maybe 3"]) == [0.5, 0.5, 0.0]


def _ones(completions, **_):
    return [c.count("1") / max(len(c), 1) for c in completions]


def test_grpo_step_changes_weights_and_logs_reward(tmp_path):
    tok = build_char_tokenizer()
    model = build_tiny_model("tiny-xs", tok, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen: list[str] = []

    def ones(completions, **kw):
        seen.extend(completions)
        return _ones(completions)

    cfg = RLConfig(max_steps=1, batch_size=8, num_generations=4, max_completion_length=16,
                   learning_rate=1e-2, stop_tokens=("\n",))
    eos = model.generation_config.eos_token_id
    result = train_rl(model, tok, [{"prompt": "Q: 1 + 1?\n"}], [ones], cfg, tmp_path)
    assert result.steps == 1 and result.generations == 8 and result.prompts == 1
    assert len(seen) == 8 and all("\n" not in s[:-1] for s in seen)  # a newline ends a sample
    assert [s for s, _ in result.reward_curve] == [1]
    assert result.component_curves["ones"][0][1] == pytest.approx(sum(_ones(seen)) / 8, abs=1e-4)
    assert result.tokens > 0 and result.accuracy_curve == []
    assert model.generation_config.eos_token_id == eos  # stop tokens undone afterwards
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    fresh = build_tiny_model("tiny-xs", tok, seed=0)  # a finished run, called again
    again = train_rl(fresh, tok, [{"prompt": "Q: 1 + 1?\n"}], [ones], cfg, tmp_path)
    assert again.steps == 1 and len(seen) == 8 and again.reward_curve == result.reward_curve
    assert all(torch.equal(model.state_dict()[k], v) for k, v in fresh.state_dict().items())


def test_rl_config_errors(tmp_path):
    tok = build_char_tokenizer()
    model = build_tiny_model("tiny-xs", tok, seed=0)
    with pytest.raises(UsageError, match="multiple of num_generations"):
        train_rl(model, tok, [{"prompt": "x"}], [_ones], RLConfig(batch_size=6), tmp_path)
    with pytest.raises(UsageError, match="single token"):
        train_rl(model, tok, [{"prompt": "x"}], [_ones],
                 RLConfig(batch_size=8, num_generations=4, stop_tokens=("ab",)), tmp_path)


def test_srl_prompts_from_a_known_solution(chain):
    world, p = chain
    steps = world.solve(p).split("\n")
    records = srl.srl_prompts(world, [p], COMPACT)
    head = COMPACT.solve_prompt(p.text)
    assert [r["target"] for r in records] == steps
    assert records[0]["prompt"] == head
    assert records[-1]["prompt"] == head + "".join(s + "\n" for s in steps[:-1])


def test_step_reward():
    target = "b = a + 5 = 7 + 5 = 12"
    assert srl.step_reward(target + "\nc = 3", target) == 1.0  # a base continuing the solution
    assert srl.step_reward(target, target) == 1.0
    assert srl.step_reward("   \nb = a", target) == srl.step_reward("b = a", target) > 0.0
    assert srl.step_reward("", target) == srl.UNPARSEABLE_REWARD
    assert srl.step_reward("\n", target) == srl.UNPARSEABLE_REWARD
    assert 0.0 < srl.step_reward("b = a + 5 = 7 + 5 = 13", target) < 1.0
    assert srl.step_reward("zzz", target) == 0.0
    assert srl.StepSimilarity()(completions=[target, ""], target=[target, target]) == [1.0, -1.0]


def test_reasoning_before_the_step_is_free():
    target = "b = a + 5 = 7 + 5 = 12"
    reasoning = "a = 7\nzzz"
    assert srl.step_reward(f"{reasoning}\n\n{target}\nc = 3\nAnswer: 3\n", target) == 1.0
    assert srl.step_reward(f"{reasoning}\n\n\n {target} ", target) == 1.0
    assert srl.step_reward(f"{reasoning}\n\nzzz", target) == 0.0
    assert srl.step_reward(f"{reasoning}\n\n", target) == srl.UNPARSEABLE_REWARD  # no step
    assert srl.split_completion(f"{reasoning}\n\n{target}\n") == (["a = 7", "zzz"], target)
    assert srl.split_completion(f"{target}\nc = 3\n") == ([], target)
    assert srl.reasoning_size(f"{reasoning}\n\n{target}") == (2, 8)
    assert srl.reasoning_size(f"{target}\nc = 3") == (0, 0)
    completions = [f"{reasoning}\n\n{target}", target, ""]
    assert srl.ReasoningSize("lines")(completions=completions) == [2.0, 0.0, 0.0]
    assert srl.ReasoningSize("chars")(completions=completions, target=[target] * 3) == [8.0, 0, 0]


def test_srl_logs_reasoning_beside_the_reward(monkeypatch, tmp_path):
    seen = {}

    def fake_train_rl(model, tok, prompts, reward_funcs, config, output_dir, progress):
        seen.update(funcs=reward_funcs, config=config)

    monkeypatch.setattr(srl, "train_rl", fake_train_rl)
    srl.train_srl(None, None, [{"prompt": "p", "target": "x = 2"}], RLConfig(), tmp_path)
    funcs, weights = seen["funcs"], seen["config"].reward_weights
    assert [f.__name__ for f in funcs] == ["similarity", "reasoning_lines", "reasoning_chars"]
    completion = "y = 1\n\nx = 2"
    rows = [f(completions=[completion], target=["x = 2"])[0] for f in funcs]
    assert rows == [1.0, 1.0, 5.0]
    assert sum(w * r for w, r in zip(weights, rows, strict=True)) == 1.0  # reasoning is free
    assert seen["config"].stop_tokens == ()  # completions run on past the step's newline


def test_dynamic_sampling_drops_prompts_with_equal_rewards(monkeypatch):
    prompts = [{"prompt": f"p{i}", "target": "x = 1"} for i in range(6)]
    varied = {"p1", "p3", "p4"}

    def fake_generate(model, tok, batch, max_new_tokens, n, temperature, seed):
        return [["x = 1", "y"] * (n // 2) if q in varied else ["x = 1"] * n for q in batch]

    monkeypatch.setattr(srl, "generate", fake_generate)
    kept, sampled = srl.informative_prompts(None, None, prompts, needed=10, n=4,
                                            max_new_tokens=8, min_chunk=2)
    assert {r["prompt"] for r in kept} == varied and sampled == 24
    few, sampled = srl.informative_prompts(None, None, prompts, needed=1, n=4,
                                           max_new_tokens=8, min_chunk=2)
    assert len(few) == 1 and few[0]["prompt"] in varied and sampled < 24
    order = [r["prompt"] for r in srl.informative_prompts(None, None, prompts, 3, 4, 8,
                                                          seed=5)[0]]
    assert order == [r["prompt"] for r in srl.informative_prompts(None, None, prompts, 3, 4, 8,
                                                                  seed=5)[0]]


def test_pipeline_skips_finished_stages(tmp_path):
    from critiquelab.models import load_model, save_model

    model, tok = load_model("tiny-xs", seed=0)
    save_model(model, tok, tmp_path / "base")
    calls = []

    def bump(name, delta):
        def run(m, t, work):
            calls.append(name)
            with torch.no_grad():
                m.model.norm.weight.add_(delta)
            return StageResult({"steps": 1.0}, {"train_loss": [[1, 0.5]]})
        return run

    stages = {"a": bump("a", 1.0), "b": bump("b", 10.0)}
    final, _, records = run_pipeline("a -> b", stages, tmp_path / "base", tmp_path / "runs")
    assert calls == ["a", "b"] and [r.skipped for r in records] == [False, False]
    shift = final.model.norm.weight - model.model.norm.weight
    assert torch.allclose(shift, torch.full_like(shift, 11.0))
    again, _, records = run_pipeline("a -> b", stages, tmp_path / "base", tmp_path / "runs")
    assert calls == ["a", "b"] and all(r.skipped for r in records)
    assert records[1].result.budget == {"steps": 1.0}
    assert torch.equal(again.model.norm.weight, final.model.norm.weight)
    run_pipeline("a", stages, tmp_path / "base", tmp_path / "runs")  # a shared prefix
    assert calls == ["a", "b"]
    assert parse_spec(" sft->rlvr ") == ["sft", "rlvr"]
    for bad in ("", "sft -> ", "SFT"):
        with pytest.raises(UsageError):
            parse_spec(bad)
    with pytest.raises(UsageError, match="unknown stage 'c'"):
        run_pipeline("a -> c", stages, tmp_path / "base", tmp_path / "runs")
