"""Supervised RL (SRL; Deng et al. 2025): imitate an expert one step at a time, rewarded by
similarity instead of by likelihood.

Every prefix of an expert solution (its first k lines, k = 0..n-1) becomes a prompt; the model
writes the next line; the reward is `difflib.SequenceMatcher(None, step, expert_step).ratio()`,
i.e. 2*M/T with M matched characters and T the characters of both steps (1.0 identical, 0.0
nothing in common), and UNPARSEABLE_REWARD when the model writes no step (an empty first line).
Prompts whose sampled steps all get the same reward teach nothing under GRPO (zero advantage);
`informative_prompts` drops them before training with one quick sampling pass (dynamic sampling).
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
STEP_END = "\n"  # a step is one line; a newline ends the model's step


def step_prompts(prompt: str, solution: str) -> list[dict]:
    """One record per expert step: the prompt plus the steps before it, and the step as target."""
    steps = [s for s in solution.strip("\n").split("\n") if s.strip()]
    return [{"prompt": prompt + "".join(s + STEP_END for s in steps[:k]), "target": steps[k]}
            for k in range(len(steps))]


def srl_prompts(world: World, problems: Sequence[Problem], fmt: PromptFormat) -> list[dict]:
    """Step prompts from the world's canonical (expert) solution of every problem."""
    return [r for p in problems for r in step_prompts(fmt.solve_prompt(p.text), world.solve(p))]


def first_step(completion: str) -> str:
    """The step a completion proposes: its first line, stripped."""
    return completion.split(STEP_END, 1)[0].strip()


def step_reward(completion: str, target: str) -> float:
    """Similarity of the completion's first line to the expert step, or UNPARSEABLE_REWARD."""
    step = first_step(completion)
    if not step:
        return UNPARSEABLE_REWARD
    return difflib.SequenceMatcher(None, step, target.strip(), autojunk=False).ratio()


class StepSimilarity:
    """GRPO reward: `step_reward` of each completion against its prompt's `target` column."""

    __name__ = "similarity"

    def __call__(self, completions: list[str], target: list[str], **_) -> list[float]:
        return [step_reward(c, t) for c, t in zip(completions, target, strict=True)]


def informative_prompts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                        prompts: list[dict], needed: int, n: int, max_new_tokens: int,
                        temperature: float = 1.0, seed: int = 0, min_chunk: int = 8
                        ) -> tuple[list[dict], int]:
    """Dynamic sampling, done up front: in a seeded order, sample n steps per prompt and keep
    prompts whose rewards are not all equal, until `needed` are kept or the pool runs out.
    Each round samples as many prompts as are still missing (at least min_chunk).
    Returns (kept prompts, completions sampled)."""
    pool = list(prompts)
    random.Random(f"srl-filter:{seed}").shuffle(pool)
    kept: list[dict] = []
    sampled = start = 0
    while len(kept) < needed and start < len(pool):
        batch = pool[start:start + max(needed - len(kept), min_chunk)]
        outs = generate(model, tokenizer, [r["prompt"] for r in batch], max_new_tokens, n=n,
                        temperature=temperature, stop=[STEP_END], seed=seed + start)
        start += len(batch)
        sampled += n * len(batch)
        kept += [r for r, samples in zip(batch, outs, strict=True)
                 if len({step_reward(s, r["target"]) for s in samples}) > 1]
    return kept[:needed], sampled


def train_srl(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[dict],
              config: RLConfig, output_dir: Path, progress: bool = False) -> RLResult:
    """GRPO on step prompts with the similarity reward; a newline ends each sampled step."""
    config = replace(config, stop_tokens=tuple(dict.fromkeys([*config.stop_tokens, STEP_END])))
    return train_rl(model, tokenizer, prompts, [StepSimilarity()], config, output_dir, progress)
