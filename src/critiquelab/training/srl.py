"""Supervised RL (SRL; Deng et al. 2025): imitate an expert one step at a time, rewarded by
similarity instead of by likelihood, with free reasoning before each step.

Every prefix of an expert solution (its first k lines, k = 0..n-1) becomes a prompt; the model
writes a completion of at most `max_completion_length` tokens (EOS ends it sooner). Reasoning,
when there is any, is the block of lines before the completion's first empty line, and the
step is the next non-empty line; with no empty line there is no reasoning and the step is the
first line: what a base that continues the expert's solution writes, so earning a reward needs
no marker the base has never seen. Reasoning and whatever follows the step are unrewarded.
The reward is `difflib.SequenceMatcher(None, step, expert_step).ratio()`, i.e. 2*M/T with M
matched characters and T the characters of both steps (1.0 identical, 0.0 nothing in common),
and UNPARSEABLE_REWARD when the completion has no step.
The step is not the last line: the base ends a completion with EOS after the answer, and a
reward on the last line would teach it to end completions after one line, at k = 0 too, whose
prompt is the solve prompt.
Prompts whose sampled completions all get the same reward teach nothing under GRPO (zero
advantage); `informative_prompts` drops them before training with one quick sampling pass
(dynamic sampling). Reasoning lines and characters per completion are logged at every step
beside the reward, as reward functions of weight 0.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from critiquelab.formats import PromptFormat
from critiquelab.models.generate import generate
from critiquelab.training.rl import RLConfig, RLResult, train_rl
from critiquelab.worlds.base import Problem, World

UNPARSEABLE_REWARD = -1.0
STEP_END = "\n"  # a step is one line
REASONING_UNITS = ("lines", "chars")


def step_prompts(prompt: str, solution: str) -> list[dict]:
    """One record per expert step: the prompt plus the steps before it, and the step as target."""
    steps = [s for s in solution.strip("\n").split("\n") if s.strip()]
    return [{"prompt": prompt + "".join(s + STEP_END for s in steps[:k]), "target": steps[k]}
            for k in range(len(steps))]


def srl_prompts(world: World, problems: Sequence[Problem], fmt: PromptFormat) -> list[dict]:
    """Step prompts from the world's canonical (expert) solution of every problem."""
    return [r for p in problems for r in step_prompts(fmt.solve_prompt(p.text), world.solve(p))]


def split_completion(completion: str) -> tuple[list[str], str]:
    """(reasoning lines, step): the lines before the first empty line are reasoning and the
    next non-empty line is the step; with no empty line, no reasoning and the first line.
    The step is "" when there is none."""
    lines = completion.split(STEP_END)
    if lines[-1] == "":  # the text after a final newline is not a line
        lines.pop()
    blank = next((i for i, line in enumerate(lines) if not line.strip()), None)
    if blank is None:
        return [], lines[0].strip() if lines else ""
    return lines[:blank], next((s.strip() for s in lines[blank + 1:] if s.strip()), "")


def reasoning_size(completion: str) -> tuple[int, int]:
    """(lines, characters) of a completion's reasoning."""
    reasoning = split_completion(completion)[0]
    return len(reasoning), sum(len(line) for line in reasoning)


def step_reward(completion: str, target: str) -> float:
    """Similarity of the completion's step to the expert step, or UNPARSEABLE_REWARD."""
    step = split_completion(completion)[1]
    if not step:
        return UNPARSEABLE_REWARD
    return difflib.SequenceMatcher(None, step, target.strip(), autojunk=False).ratio()


class StepSimilarity:
    """GRPO reward: `step_reward` of each completion against its prompt's `target` column."""

    __name__ = "similarity"

    def __call__(self, completions: list[str], target: list[str], **_) -> list[float]:
        return [step_reward(c, t) for c, t in zip(completions, target, strict=True)]


class ReasoningSize:
    """Reasoning lines or characters per completion, logged as a reward of weight 0."""

    def __init__(self, unit: str):
        self.index = REASONING_UNITS.index(unit)
        self.__name__ = f"reasoning_{unit}"

    def __call__(self, completions: list[str], **_) -> list[float]:
        return [float(reasoning_size(c)[self.index]) for c in completions]


def informative_prompts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                        prompts: list[dict], needed: int, n: int, max_new_tokens: int,
                        temperature: float = 1.0, seed: int = 0, min_chunk: int = 8
                        ) -> tuple[list[dict], int]:
    """Dynamic sampling, done up front: in a seeded order, sample n completions per prompt (as
    training samples them) and keep prompts whose rewards are not all equal, until `needed`
    are kept or the pool runs out. Each round samples as many prompts as are still missing (at
    least min_chunk). Returns (kept prompts, completions sampled)."""
    pool = list(prompts)
    random.Random(f"srl-filter:{seed}").shuffle(pool)
    kept: list[dict] = []
    sampled = start = 0
    while len(kept) < needed and start < len(pool):
        batch = pool[start:start + max(needed - len(kept), min_chunk)]
        outs = generate(model, tokenizer, [r["prompt"] for r in batch], max_new_tokens, n=n,
                        temperature=temperature, seed=seed + start)
        start += len(batch)
        sampled += n * len(batch)
        kept += [r for r, samples in zip(batch, outs, strict=True)
                 if len({step_reward(s, r["target"]) for s in samples}) > 1]
    return kept[:needed], sampled


def train_srl(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[dict],
              config: RLConfig, output_dir: Path, progress: bool = False) -> RLResult:
    """GRPO on step prompts with the similarity reward; `component_curves` also holds the
    reasoning lines and characters per completion at each step."""
    signals = [StepSimilarity(), *(ReasoningSize(u) for u in REASONING_UNITS)]
    config = replace(config, reward_weights=(1.0, *(0.0 for _ in REASONING_UNITS)))
    return train_rl(model, tokenizer, prompts, signals, config, output_dir, progress)
