"""Supervised fine-tuning (and plain LM pretraining), tuned for small CPUs.

Records are {"prompt", "completion"} (loss on the completion only, EOS appended) or {"text"}
(loss on every token). Checkpoints land in output_dir; a later call on the same directory resumes.
Single-process full fine-tuning runs the fast loop (training/loop.py); LoRA, several processes
(accelerate launch) and the wandb/trackio trackers run TRL's SFTTrainer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from peft import PeftConfig
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer
from transformers.trainer_callback import PrinterCallback, TrainerCallback, TrainerState
from trl import SFTConfig, SFTTrainer

from critiquelab.errors import UsageError
from critiquelab.io import atomic_write_json
from critiquelab.models.precision import PRECISIONS, autocast_dtype
from critiquelab.models.quiet import quiet
from critiquelab.training.loop import (
    COUNTS_FILE,
    Examples,
    LoopSettings,
    last_checkpoint,
    run_loop,
    scheduler_kwargs,
    update_steps,
)
from critiquelab.training.tracking import check_tracker

PAD_MULTIPLE = 64
LOOPS = ("auto", "fast", "trl")
FAST_TRACKERS = ("none", "tensorboard")  # what the fast loop reports to itself
TRUNCATIONS = ("right", "left", "drop")  # keep the start, keep the end, or drop the record
LOSS_WARNING = 0.01  # warn when more than this share of records is dropped or truncated
log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    learning_rate: float = 1e-3
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs when set
    stop_step: int | None = None  # end this call here, mid-schedule; the next call resumes
    batch_size: int = 32
    grad_accum: int = 1
    warmup_ratio: float = 0.05
    lr_scheduler: str = "cosine"
    decay_ratio: float = 0.2  # warmup_stable_decay: the share of steps that anneal the rate
    weight_decay: float = 0.0
    max_length: int = 512
    seed: int = 0
    save_steps: int = 500
    logging_steps: int = 10
    precision: str = "auto"  # "auto" | "bf16" | "fp32"
    report_to: str = "none"  # none | tensorboard | wandb | trackio
    run_name: str | None = None  # the tracked run's name, e.g. "<experiment>/<arm>/seed<k>"
    truncation: str = "right"  # records over max_length: "right" | "left" | "drop"
    loop: str = "auto"  # "fast" (training/loop.py), "trl" (SFTTrainer), "auto": fast where it can


@dataclass
class RecordCounts:
    """What became of the records handed to training, so nothing is lost silently."""

    records_in: int = 0
    records_trained: int = 0
    dropped: int = 0  # too long for --truncation drop, or no loss token left after the cut
    truncated: int = 0  # trained, but cut to max_length
    unknown_tokens: int = 0  # characters the tokenizer mapped to its unknown token

    def warnings(self, max_length: int, truncation: str) -> list[str]:
        """One sentence per kind of silent loss worth telling the user about."""
        out = []
        lost = self.dropped + self.truncated
        if self.records_in and lost / self.records_in > LOSS_WARNING:
            out.append(f"{lost} of {self.records_in} records are longer than max_length "
                       f"{max_length} tokens: {self.dropped} dropped, {self.truncated} "
                       f"truncated (truncation={truncation})")
        if self.unknown_tokens:
            out.append(f"{self.unknown_tokens} characters are unknown to the tokenizer and "
                       "were mapped to its unknown token")
        return out


@dataclass
class TrainResult:
    steps: int
    tokens: int  # non-pad tokens processed (prompt + completion), over the whole run
    loss_tokens: int  # tokens that carried loss
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    wall_s: float = 0.0  # this call only
    tokens_per_s: float = 0.0  # tokens processed by this call / wall_s
    records: RecordCounts = field(default_factory=RecordCounts)


class _Trainer(SFTTrainer):
    """SFTTrainer with our own autocast and token counts that survive a resume."""

    def __init__(self, *args, autocast: torch.dtype | None, **kwargs):
        super().__init__(*args, **kwargs)
        self._autocast = autocast
        self.counts = {"tokens": 0, "loss_tokens": 0}

    def compute_loss_context_manager(self) -> contextlib.AbstractContextManager:
        if self._autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.args.device.type, dtype=self._autocast)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            self.counts["tokens"] += int(inputs["attention_mask"].sum())
            self.counts["loss_tokens"] += int((inputs["labels"][:, 1:] != -100).sum())
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _set_signature_columns_if_needed(self) -> None:
        # Keep "length" through column pruning, so the length-grouped sampler need not recount.
        if self._signature_columns is None:
            super()._set_signature_columns_if_needed()
            self._signature_columns.append("length")

    def _save_checkpoint(self, model, trial):
        # Written before the checkpoint's trainer_state.json, which marks a checkpoint complete.
        folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
        atomic_write_json(folder / COUNTS_FILE, self.counts)
        super()._save_checkpoint(model, trial)

    def create_model_card(self, *args, **kwargs) -> None:
        """No README.md in checkpoints."""


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def prepare_dataset(tokenizer: PreTrainedTokenizerBase, records: list[dict], max_length: int,
                    truncation: str = "right") -> tuple[datasets.Dataset, RecordCounts]:
    """Tokenize records into input_ids/labels exactly as SFTTrainer would, but batched (~3x faster).

    EOS is appended; prompt tokens get label -100. A sequence over max_length keeps its start
    ("right"), its end ("left") or is dropped ("drop"); one left without any loss token is
    dropped. The counts say how many records were kept, cut, dropped, and how many unknown
    characters were seen.
    """
    if truncation not in TRUNCATIONS:
        raise UsageError(f"unknown truncation '{truncation}': expected one of "
                         f"{', '.join(TRUNCATIONS)}")
    if not records:
        raise UsageError("no training records")
    eos = tokenizer.eos_token
    if all("prompt" in r and "completion" in r for r in records):
        prompts = [str(r["prompt"]) for r in records]
        full = [p + _with_eos(str(r["completion"]), eos) for p, r in zip(prompts, records,
                                                                           strict=True)]
        prompt_ids = tokenizer(prompts)["input_ids"]
    elif all("text" in r for r in records):
        full = [_with_eos(str(r["text"]), eos) for r in records]
        prompt_ids = [[] for _ in full]
    else:
        raise UsageError("training records must all have 'prompt' and 'completion', or all 'text'")
    counts = RecordCounts(records_in=len(records))
    unk = tokenizer.unk_token_id
    input_ids, labels = [], []
    for p_ids, ids in zip(prompt_ids, tokenizer(full)["input_ids"], strict=True):
        if unk is not None:
            counts.unknown_tokens += ids.count(unk)
        n = _common_prefix(p_ids, ids)  # where the completion starts, as TRL computes it
        lab = [-100] * n + ids[n:]
        cut = len(ids) > max_length
        if cut and truncation == "drop":
            counts.dropped += 1
            continue
        keep = slice(-max_length, None) if truncation == "left" else slice(None, max_length)
        if all(t == -100 for t in lab[keep]):
            counts.dropped += 1
            continue
        counts.truncated += cut
        input_ids.append(ids[keep])
        labels.append(lab[keep])
    counts.records_trained = len(input_ids)
    if not input_ids:
        raise UsageError(f"no training record fits in max_length {max_length} tokens with "
                         f"truncation '{truncation}'")
    dataset = datasets.Dataset.from_dict({"input_ids": input_ids, "labels": labels,
                                          "length": [len(ids) for ids in input_ids]})
    return dataset, counts


def _with_eos(text: str, eos: str) -> str:
    return text if text.endswith(eos) else text + eos


def _sft_config(config: TrainConfig, output_dir: Path, device: torch.device, progress: bool,
                records: int) -> SFTConfig:
    total = update_steps(records, config.batch_size, config.grad_accum, config.epochs,
                         config.max_steps)
    return SFTConfig(
        output_dir=str(output_dir),
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps
        lr_scheduler_type=config.lr_scheduler,
        lr_scheduler_kwargs=scheduler_kwargs(config.lr_scheduler, total, config.decay_ratio),
        weight_decay=config.weight_decay,
        max_length=config.max_length,
        dataset_kwargs={"skip_prepare_dataset": True},  # prepare_dataset did it, faster
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,  # the older one survives a kill in the middle of a save
        logging_steps=config.logging_steps,
        # CPU speed: we autocast ourselves; checkpointing and packing do not pay off here.
        bf16=False,
        fp16=False,
        use_cpu=device.type == "cpu",
        activation_checkpointing=False,
        packing=False,
        pad_to_multiple_of=PAD_MULTIPLE,  # few distinct shapes: less memory, fewer kernels
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        report_to=config.report_to,
        run_name=config.run_name,
        disable_tqdm=not progress,
        log_level="passive" if progress else "error",  # passive: as --verbose set it
    )


def train(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, records: list[dict],
          config: TrainConfig, output_dir: Path, progress: bool = False,
          peft_config: PeftConfig | None = None) -> TrainResult:
    """Train `model` in place on `records`; resumes from a checkpoint in output_dir if present.
    With a `peft_config` (training/lora.py) only adapters train; they are merged into `model`
    at the end (under ZeRO-3/FSDP they stay in the checkpoints, see training/finetune.py)."""
    if config.precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{config.precision}': expected one of "
                         f"{', '.join(PRECISIONS)}")
    if config.loop not in LOOPS:
        raise UsageError(f"unknown training loop '{config.loop}': expected one of "
                         f"{', '.join(LOOPS)}")
    check_tracker(config.report_to)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with quiet(not progress):
        dataset, record_counts = prepare_dataset(tokenizer, records, config.max_length,
                                                 config.truncation)
        for warning in record_counts.warnings(config.max_length, config.truncation):
            log.warning("warning: %s", warning)
        fast = uses_fast_loop(config, peft_config)
        run = _train_fast if fast else _train_trl
        result = run(model, tokenizer, dataset, config, output_dir, progress, peft_config)
    result.records = record_counts
    return result


def uses_fast_loop(config: TrainConfig, peft_config: PeftConfig | None = None) -> bool:
    """Whether `train` runs the fast loop: asked for, or "auto" on single-process full
    fine-tuning tracked by nothing or TensorBoard (TRL serves LoRA, accelerate and the rest)."""
    if config.loop != "auto":
        return config.loop == "fast"
    return (peft_config is None and int(os.environ.get("WORLD_SIZE", "1")) == 1
            and config.report_to in FAST_TRACKERS)


def _train_fast(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                dataset: datasets.Dataset, config: TrainConfig, output_dir: Path,
                progress: bool, peft_config: PeftConfig | None) -> TrainResult:
    if peft_config is not None or config.report_to not in FAST_TRACKERS:
        raise UsageError("the fast training loop trains full models reporting to "
                         f"{' or '.join(FAST_TRACKERS)}; use loop 'trl' for the rest")
    data = Examples(dataset["input_ids"], dataset["labels"], tokenizer.pad_token_id)
    settings = LoopSettings(
        learning_rate=config.learning_rate, batch_size=config.batch_size,
        grad_accum=config.grad_accum,
        total_steps=update_steps(len(data), config.batch_size, config.grad_accum, config.epochs,
                                 config.max_steps),
        warmup_ratio=config.warmup_ratio, lr_scheduler=config.lr_scheduler,
        decay_ratio=config.decay_ratio, weight_decay=config.weight_decay, seed=config.seed,
        save_steps=config.save_steps,
        logging_steps=config.logging_steps, pad_multiple=PAD_MULTIPLE,
        autocast=autocast_dtype(model.device, config.precision), report_to=config.report_to,
        run_name=config.run_name, stop_step=config.stop_step)
    before = _counts_at(last_checkpoint(output_dir))
    start = time.perf_counter()
    out = run_loop(model, tokenizer, data, settings, output_dir, progress)
    wall = time.perf_counter() - start
    done = out.counts["tokens"] - before["tokens"]
    return TrainResult(steps=out.steps, tokens=out.counts["tokens"],
                       loss_tokens=out.counts["loss_tokens"], loss_curve=out.loss_curve,
                       wall_s=wall, tokens_per_s=done / wall if wall > 0 else 0.0)


def _counts_at(checkpoint: Path | None) -> dict[str, int]:
    """Tokens and loss tokens a checkpoint had processed (zero without one)."""
    if checkpoint is not None and (checkpoint / COUNTS_FILE).is_file():
        return json.loads((checkpoint / COUNTS_FILE).read_text())
    return {"tokens": 0, "loss_tokens": 0}


def _train_trl(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
               dataset: datasets.Dataset, config: TrainConfig, output_dir: Path,
               progress: bool, peft_config: PeftConfig | None) -> TrainResult:
    args = _sft_config(config, output_dir, model.device, progress, len(dataset))
    trainer = _Trainer(model=model, args=args, train_dataset=dataset,
                       processing_class=tokenizer, peft_config=peft_config,
                       autocast=autocast_dtype(args.device, config.precision))
    if not progress:
        trainer.remove_callback(PrinterCallback)
    if config.stop_step is not None:
        trainer.add_callback(StopAt(config.stop_step))
    resume = last_checkpoint(output_dir)
    before = _counts_at(resume)
    trainer.counts = dict(before)
    start = time.perf_counter()
    train_or_restore(trainer, resume, config.stop_step)
    wall = time.perf_counter() - start  # the last step is always checkpointed
    if peft_config is not None and not (trainer.is_deepspeed_enabled
                                        or trainer.is_fsdp_enabled):
        trainer.model.merge_and_unload()  # folds the adapters into `model`'s own layers
    curve = [(int(e["step"]), float(e["loss"])) for e in trainer.state.log_history if "loss" in e]
    done = trainer.counts["tokens"] - before["tokens"]
    return TrainResult(steps=trainer.state.global_step, tokens=trainer.counts["tokens"],
                       loss_tokens=trainer.counts["loss_tokens"], loss_curve=curve, wall_s=wall,
                       tokens_per_s=done / wall if wall > 0 else 0.0)


class StopAt(TrainerCallback):
    """Ends training, with a checkpoint, at `step` of a longer schedule: checkpoints along one
    decaying run, each call resuming where the last stopped."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
            control.should_save = True
        return control


def train_or_restore(trainer: Trainer, checkpoint: Path | None, stop: int | None = None
                     ) -> None:
    """Train, resuming from `checkpoint`; a checkpoint that already holds every step this run
    would take (to `stop`, if given) is loaded instead (Trainer itself would run one more
    step)."""
    if checkpoint is not None:
        state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
        args = trainer.args
        total = trainer.set_initial_training_values(args, trainer.get_train_dataloader())[-1]
        if state.global_step >= min(total, stop or total):
            trainer._load_from_checkpoint(str(checkpoint))
            trainer.state = state
            return
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
