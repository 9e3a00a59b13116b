"""Reinforcement learning with verifiable rewards (RLVR): GRPO through TRL's GRPOTrainer.

Prompt records are {"prompt", ...columns}; a reward function receives the completions and every
column as lists (TRL's convention) and returns one float per completion. Runs on a CPU with tiny
models (bf16 autocast where the CPU has AMX, no vLLM) and on a GPU with vLLM (`use_vllm`).
Checkpoints land in output_dir; a later call on the same directory resumes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.trainer_callback import PrinterCallback
from trl import GRPOConfig, GRPOTrainer

from critiquelab.errors import UsageError
from critiquelab.formats import PromptFormat
from critiquelab.grading import extract_answer, grade
from critiquelab.models.precision import PRECISIONS, autocast_dtype
from critiquelab.models.quiet import quiet
from critiquelab.training.sft import last_checkpoint, train_or_restore
from critiquelab.training.tracking import check_tracker
from critiquelab.worlds.base import Problem, World

RewardFunc = Callable[..., list[float]]


@dataclass
class RLConfig:
    learning_rate: float = 1e-5
    max_steps: int = 50
    batch_size: int = 16  # completions per optimizer step; prompts per step = batch_size / G
    num_generations: int = 8  # group size G: completions sampled per prompt
    beta: float = 0.0  # KL weight against the starting model (0: no reference model is kept)
    max_completion_length: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    epsilon: float = 0.2  # PPO clipping range
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    num_iterations: int = 1  # optimizer passes over each generated batch
    grad_accum: int = 1
    warmup_ratio: float = 0.0
    lr_scheduler: str = "constant"
    weight_decay: float = 0.0
    reward_weights: tuple[float, ...] | None = None  # one per reward function; None: all 1.0
    stop_tokens: tuple[str, ...] = ()  # extra single tokens that end a completion, e.g. "\n"
    seed: int = 0
    save_steps: int = 500
    logging_steps: int = 1
    precision: str = "auto"  # "auto" | "bf16" | "fp32"
    use_vllm: bool = False
    vllm_mode: str = "colocate"  # "colocate" | "server"
    report_to: str = "none"  # none | tensorboard | wandb | trackio
    run_name: str | None = None  # the tracked run's name, e.g. "<experiment>/<arm>/seed<k>"
    grpo_kwargs: dict[str, Any] = field(default_factory=dict)  # any other GRPOConfig field


@dataclass
class RLResult:
    steps: int
    prompts: int  # prompts in the training set
    generations: int  # completions sampled over the whole run
    tokens: int  # prompt + completion tokens generated over the whole run
    reward_curve: list[tuple[int, float]] = field(default_factory=list)  # mean total reward
    component_curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    wall_s: float = 0.0  # this call only

    @property
    def accuracy_curve(self) -> list[tuple[int, float]]:
        """Mean of the reward function named `correct` per logged step (empty without one)."""
        return self.component_curves.get("correct", [])


class WorldReward:
    """1.0 when the world's verifier finds the completion's final answer right, else 0.0."""

    __name__ = "correct"

    def __init__(self, world: World, problems: Sequence[Problem]):
        self.world = world
        self.problems = {p.id: p for p in problems}

    def __call__(self, completions: list[str], problem_id: list[str], **_) -> list[float]:
        return [float(self.world.verify(self.problems[i], c).answer_correct)
                for c, i in zip(completions, problem_id, strict=True)]


class WorldFormatReward(WorldReward):
    """`bonus` when the completion parses as a solution of the world (right or wrong)."""

    __name__ = "format"

    def __init__(self, world: World, problems: Sequence[Problem], bonus: float):
        super().__init__(world, problems)
        self.bonus = bonus

    def __call__(self, completions: list[str], problem_id: list[str], **_) -> list[float]:
        return [self.bonus * self.world.verify(self.problems[i], c).parsed
                for c, i in zip(completions, problem_id, strict=True)]


def _grade_correct(prediction: str, reference: str) -> bool:
    return grade(prediction, reference).correct


class MathReward:
    """1.0 when the completion's final answer (GSM8K `####`, `\\boxed{}`, ...) matches the
    `answer` column; `grader(prediction, reference) -> bool` defaults to critiquelab.grading."""

    __name__ = "correct"

    def __init__(self, grader: Callable[[str, str], bool] = _grade_correct):
        self.grader = grader

    def __call__(self, completions: list[str], answer: list[str], **_) -> list[float]:
        return [float(self.grader(c, a)) for c, a in zip(completions, answer, strict=True)]


class MathFormatReward:
    """`bonus` when a final answer can be read from the completion without guessing."""

    __name__ = "format"

    def __init__(self, bonus: float):
        self.bonus = bonus

    def __call__(self, completions: list[str], **_) -> list[float]:
        return [self.bonus * (extract_answer(c, last_number=False) is not None)
                for c in completions]


def world_prompts(world: World, problems: Sequence[Problem], fmt: PromptFormat) -> list[dict]:
    """One RL prompt record per problem: the solve prompt and the problem id for the reward."""
    return [{"prompt": fmt.solve_prompt(p.text), "problem_id": p.id} for p in problems]


def world_rewards(world: World, problems: Sequence[Problem], format_bonus: float = 0.0
                  ) -> list[RewardFunc]:
    """The verifier's answer check, plus a format bonus when format_bonus > 0."""
    rewards: list[RewardFunc] = [WorldReward(world, problems)]
    if format_bonus > 0:
        rewards.append(WorldFormatReward(world, problems, format_bonus))
    return rewards


class _Trainer(GRPOTrainer):
    """GRPOTrainer with our own autocast (sampling and loss) and no model card."""

    def __init__(self, *args, autocast: torch.dtype | None, **kwargs):
        super().__init__(*args, **kwargs)
        self._autocast = autocast

    def _autocast_context(self) -> contextlib.AbstractContextManager:
        if self._autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.args.device.type, dtype=self._autocast)

    def compute_loss_context_manager(self) -> contextlib.AbstractContextManager:
        return self._autocast_context()

    def _prepare_inputs(self, generation_batch):
        with self._autocast_context():  # generation, rewards and old log-probs
            return super()._prepare_inputs(generation_batch)

    def create_model_card(self, *args, **kwargs) -> None:
        """No README.md in checkpoints."""


def _grpo_config(config: RLConfig, output_dir: Path, device: torch.device, progress: bool
                 ) -> GRPOConfig:
    return GRPOConfig(
        output_dir=str(output_dir),
        learning_rate=config.learning_rate,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        num_generations=config.num_generations,
        beta=config.beta,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        top_p=config.top_p,
        epsilon=config.epsilon,
        loss_type=config.loss_type,
        scale_rewards=config.scale_rewards,
        num_iterations=config.num_iterations,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps
        lr_scheduler_type=config.lr_scheduler,
        weight_decay=config.weight_decay,
        reward_weights=list(config.reward_weights) if config.reward_weights else None,
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=config.logging_steps,
        use_vllm=config.use_vllm,
        vllm_mode=config.vllm_mode,
        # We autocast ourselves (as training/sft.py does); checkpointing does not pay off here.
        bf16=False,
        fp16=False,
        use_cpu=device.type == "cpu",
        gradient_checkpointing=False,
        disable_dropout=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        report_to=config.report_to,
        run_name=config.run_name,
        disable_tqdm=not progress,
        log_level="passive" if progress else "error",  # passive: as --verbose set it
        **config.grpo_kwargs,
    )


@contextlib.contextmanager
def _stop_on(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
             stop_tokens: Sequence[str]) -> Iterator[None]:
    """Within the block, each stop token also ends a generation (as an extra EOS id)."""
    if not stop_tokens:
        yield
        return
    ids = []
    for t in stop_tokens:
        tid = tokenizer.convert_tokens_to_ids(t)
        if tid is None or tid == tokenizer.unk_token_id or tokenizer.decode([tid]) != t:
            raise UsageError(f"stop token {t!r} is not a single token of the tokenizer")
        ids.append(tid)
    gen = model.generation_config
    before = gen.eos_token_id
    eos = [] if before is None else [before] if isinstance(before, int) else list(before)
    gen.eos_token_id = list(dict.fromkeys([tokenizer.eos_token_id, *eos, *ids]))
    try:
        yield
    finally:
        gen.eos_token_id = before


def _curve(history: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(e["step"]), float(e[key])) for e in history if key in e]


def train_rl(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[dict],
             reward_funcs: Sequence[RewardFunc], config: RLConfig, output_dir: Path,
             progress: bool = False) -> RLResult:
    """GRPO on `prompts` with the summed (weighted) rewards; trains `model` in place."""
    if config.precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{config.precision}': expected one of "
                         f"{', '.join(PRECISIONS)}")
    check_tracker(config.report_to)
    if not prompts:
        raise UsageError("no RL prompts")
    if config.batch_size % config.num_generations:
        raise UsageError(f"batch_size ({config.batch_size}) must be a multiple of "
                         f"num_generations ({config.num_generations})")
    per_step = config.batch_size * config.grad_accum // config.num_generations
    records = prompts * -(-per_step // len(prompts))  # at least one full generation batch
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with quiet(not progress), _stop_on(model, tokenizer, config.stop_tokens):
        args = _grpo_config(config, output_dir, model.device, progress)
        trainer = _Trainer(model=model, args=args, reward_funcs=list(reward_funcs),
                           train_dataset=datasets.Dataset.from_list(records),
                           processing_class=tokenizer,
                           autocast=autocast_dtype(args.device, config.precision))
        if not progress:
            trainer.remove_callback(PrinterCallback)
        resume = last_checkpoint(output_dir)
        start = time.perf_counter()
        train_or_restore(trainer, resume)
        wall = time.perf_counter() - start
    history = trainer.state.log_history
    names = list(trainer.reward_func_names)
    steps = trainer.state.global_step
    return RLResult(
        steps=steps, prompts=len(prompts),
        generations=steps * config.batch_size * config.grad_accum // config.num_iterations,
        tokens=int(trainer.state.num_input_tokens_seen),
        reward_curve=_curve(history, "reward"),
        component_curves={n: _curve(history, f"rewards/{n}/mean") for n in names},
        wall_s=wall)


def train_rlvr(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, world: World,
               problems: Sequence[Problem], fmt: PromptFormat, config: RLConfig,
               output_dir: Path, format_bonus: float = 0.0, progress: bool = False) -> RLResult:
    """RLVR on a world, usable as any experiment's arm: GRPO on its solve prompts, rewarded
    by its verifier."""
    return train_rl(model, tokenizer, world_prompts(world, problems, fmt),
                    world_rewards(world, problems, format_bonus), config, output_dir, progress)
