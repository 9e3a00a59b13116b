"""The fast training loop for one process and full fine-tuning (stage 0 and every fine-tune):
seeded length-grouped batches padded to a few fixed widths, a fused AdamW, no host sync
between logging steps, and no Trainer machinery on the hot path. It takes the Trainer's steps,
learning-rate schedule, gradient clipping and loss normalisation, and writes checkpoints that
training/sft.py's `last_checkpoint` and the exporters read (a model directory plus
trainer_state.json, written last)."""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, load_model, save_file
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_scheduler
from transformers.trainer_callback import TrainerState

from critiquelab.io import atomic_write_json

COUNTS_FILE = "critiquelab_counts.json"  # tokens and loss tokens so far, per checkpoint
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"  # written last: its presence marks a complete checkpoint
MEGABATCH = 50  # batches sorted by length together, as the Trainer's length-grouped sampler
MAX_GRAD_NORM = 1.0  # the Trainer's default
KEEP_CHECKPOINTS = 2  # the older one survives a kill in the middle of a save


@dataclass
class Examples:
    """Tokenized records: input_ids and labels (-100 where no loss) per record."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    pad_id: int

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class LoopSettings:
    """What the loop needs from TrainConfig, resolved (total steps, autocast dtype, ...)."""

    learning_rate: float
    batch_size: int
    grad_accum: int
    total_steps: int
    warmup_ratio: float
    lr_scheduler: str
    weight_decay: float
    seed: int
    save_steps: int
    logging_steps: int
    pad_multiple: int
    autocast: torch.dtype | None
    report_to: str = "none"
    run_name: str | None = None
    decay_ratio: float = 0.2
    stop_step: int | None = None  # end here, mid-schedule; a later call resumes

    @property
    def end_step(self) -> int:
        return min(self.total_steps, self.stop_step or self.total_steps)


@dataclass
class LoopResult:
    steps: int
    counts: dict[str, int]
    loss_curve: list[tuple[int, float]] = field(default_factory=list)


def scheduler_kwargs(name: str, total_steps: int, decay_ratio: float) -> dict:
    """warmup_stable_decay anneals over the last decay_ratio of the steps, to a rate of 0."""
    if name != "warmup_stable_decay":
        return {}
    return {"num_decay_steps": max(1, math.ceil(total_steps * decay_ratio))}


def update_steps(records: int, batch_size: int, grad_accum: int, epochs: float,
                 max_steps: int | None) -> int:
    """Optimizer steps the Trainer would take (its rounding, so arms match on steps)."""
    if max_steps is not None and max_steps > 0:
        return max_steps
    per_epoch = max(1, math.ceil(math.ceil(records / batch_size) / grad_accum))
    return math.ceil(epochs * per_epoch)


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int
                  ) -> list[list[int]]:
    """One epoch's batches: a seeded shuffle, sorted by length within megabatches so rows of a
    batch have similar lengths, cut into consecutive batches, then the batch order shuffled."""
    rng = random.Random(f"batches:{seed}:{epoch}")
    order = rng.sample(range(len(lengths)), len(lengths))
    mega = MEGABATCH * batch_size
    grouped = [i for s in range(0, len(order), mega)
               for i in sorted(order[s:s + mega], key=lambda i: -lengths[i])]
    batches = [grouped[s:s + batch_size] for s in range(0, len(grouped), batch_size)]
    rng.shuffle(batches)
    return batches


def _batch_stream(data: Examples, batch_size: int, seed: int) -> Iterator[list[int]]:
    lengths = [len(ids) for ids in data.input_ids]
    epoch = 0
    while True:
        yield from epoch_batches(lengths, batch_size, seed, epoch)
        epoch += 1


def collate(data: Examples, rows: list[int], pad_multiple: int
            ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Right-padded input_ids and labels at a width rounded up to pad_multiple (few distinct
    shapes), with the batch's token and loss-token counts, computed on the host."""
    longest = max(len(data.input_ids[i]) for i in rows)
    width = math.ceil(longest / pad_multiple) * pad_multiple
    ids = torch.full((len(rows), width), data.pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    tokens = loss_tokens = 0
    for r, i in enumerate(rows):
        row_ids, row_labels = data.input_ids[i], data.labels[i]
        ids[r, :len(row_ids)] = torch.tensor(row_ids)
        labels[r, :len(row_labels)] = torch.tensor(row_labels)
        tokens += len(row_ids)
        loss_tokens += sum(1 for t in row_labels[1:] if t != -100)
    return ids, labels, tokens, loss_tokens


def _loss_sum(model: PreTrainedModel, ids: torch.Tensor, labels: torch.Tensor,
              autocast: torch.dtype | None) -> torch.Tensor:
    """Summed next-token loss. No attention mask: padding sits to the right of every real
    token, so the causal mask alone keeps real tokens from seeing it."""
    device = model.device
    ctx = (torch.autocast(device.type, dtype=autocast) if autocast is not None
           else contextlib.nullcontext())
    with ctx:
        logits = model(input_ids=ids.to(device)).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(),
                           labels[:, 1:].to(device).flatten(), ignore_index=-100,
                           reduction="sum")


def _optimizer(model: PreTrainedModel, s: LoopSettings) -> torch.optim.Optimizer:
    """AdamW as the Trainer builds it (no decay on biases and norms), fused where supported."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay},
              {"params": rest, "weight_decay": 0.0}]
    fused = model.device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=s.learning_rate, betas=(0.9, 0.999), eps=1e-8,
                             fused=fused)


def run_loop(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, data: Examples,
             s: LoopSettings, output_dir: Path, progress: bool = False) -> LoopResult:
    """Train to s.end_step of an s.total_steps schedule, resuming from the newest complete
    checkpoint in output_dir."""
    optimizer = _optimizer(model, s)
    scheduler = get_scheduler(s.lr_scheduler, optimizer,
                              num_warmup_steps=math.ceil(s.total_steps * s.warmup_ratio)
                              if s.warmup_ratio < 1 else int(s.warmup_ratio),
                              num_training_steps=s.total_steps,
                              scheduler_specific_kwargs=scheduler_kwargs(
                                  s.lr_scheduler, s.total_steps, s.decay_ratio))
    step, history, counts = _resume(model, optimizer, output_dir)
    with warnings.catch_warnings():  # replaying the finished steps' schedule, not skipping one
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        for _ in range(step):
            scheduler.step()
    if step >= s.end_step:
        return LoopResult(step, counts, _curve(history))
    writer = _writer(s, output_dir)
    batches = _batch_stream(data, s.batch_size, s.seed)
    for _ in range(step * s.grad_accum):  # the batches finished steps already used
        next(batches)
    params = [p for p in model.parameters() if p.requires_grad]
    running = torch.zeros((), device=model.device)
    since_log = 0
    model.train()
    bar = tqdm(total=s.end_step, initial=step, disable=not progress, desc="train")
    while step < s.end_step:
        group = [collate(data, next(batches), s.pad_multiple) for _ in range(s.grad_accum)]
        items = max(1, sum(g[3] for g in group))
        for ids, labels, tokens, loss_tokens in group:
            loss = _loss_sum(model, ids, labels, s.autocast) / items
            loss.backward()
            running += loss.detach()
            counts["tokens"] += tokens
            counts["loss_tokens"] += loss_tokens
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM, foreach=True)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        since_log += 1
        bar.update(1)
        if step % s.logging_steps == 0:  # the only host sync: one number per logging step
            loss_value = round(float(running) / since_log, 4)
            lr = scheduler.get_last_lr()[0]
            history.append({"loss": loss_value, "learning_rate": lr, "step": step})
            if writer is not None:
                writer.add_scalar("train/loss", loss_value, step)
                writer.add_scalar("train/learning_rate", lr, step)
            bar.set_postfix(loss=loss_value)
            running.zero_()
            since_log = 0
        if step % s.save_steps == 0 or step == s.end_step:
            _save(model, tokenizer, optimizer, output_dir, step, s.total_steps, history, counts)
    bar.close()
    if writer is not None:
        writer.close()
    model.eval()
    return LoopResult(step, counts, _curve(history))


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint in output_dir (one with trainer_state.json), if any."""
    done = [p for p in output_dir.glob("checkpoint-*") if (p / STATE_FILE).is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _curve(history: list[dict]) -> list[tuple[int, float]]:
    return [(int(e["step"]), float(e["loss"])) for e in history if "loss" in e]


def _writer(s: LoopSettings, output_dir: Path):
    """A TensorBoard writer under output_dir/runs when the run reports there, else None."""
    if s.report_to != "tensorboard":
        return None
    from torch.utils.tensorboard import SummaryWriter

    name = (s.run_name or "train").replace("/", "_")
    return SummaryWriter(log_dir=str(output_dir / "runs" / name))


def _save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
          optimizer: torch.optim.Optimizer, output_dir: Path, step: int, total: int,
          history: list[dict], counts: dict[str, int]) -> None:
    """checkpoint-<step>: a model directory, optimizer state (safetensors), counts, then the
    state file."""
    folder = output_dir / f"checkpoint-{step}"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    state = optimizer.state_dict()["state"]
    save_file({f"{i}.{k}": v.detach().contiguous().cpu() for i, st in state.items()
               for k, v in st.items()}, str(folder / OPTIMIZER_FILE))
    atomic_write_json(folder / COUNTS_FILE, counts)
    TrainerState(global_step=step, max_steps=total, log_history=history).save_to_json(
        str(folder / STATE_FILE))
    done = sorted((p for p in output_dir.glob("checkpoint-*") if (p / STATE_FILE).is_file()),
                  key=lambda p: int(p.name.split("-")[-1]))
    for old in done[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)


def _resume(model: PreTrainedModel, optimizer: torch.optim.Optimizer, output_dir: Path
            ) -> tuple[int, list[dict], dict[str, int]]:
    """(step, log history, counts) of the newest complete checkpoint, loaded into the model and
    optimizer; a fresh start where there is none."""
    ckpt = last_checkpoint(output_dir)
    if ckpt is None or not (ckpt / OPTIMIZER_FILE).is_file():
        return 0, [], {"tokens": 0, "loss_tokens": 0}
    load_model(model, str(ckpt / "model.safetensors"), strict=False)
    flat = load_file(str(ckpt / OPTIMIZER_FILE), device=str(model.device))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state,
                               "param_groups": optimizer.state_dict()["param_groups"]})
    saved = json.loads((ckpt / STATE_FILE).read_text())
    counts = json.loads((ckpt / COUNTS_FILE).read_text())
    return int(saved["global_step"]), saved.get("log_history", []), counts

