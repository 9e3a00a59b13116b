"""Teacher-forced log-likelihood of held-out records on exactly the tokens training puts loss
on: whether a fine-tune fits its own training distribution better than the model it started
from, whatever that does to the task metrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from critiquelab.training.sft import prepare_dataset


@torch.inference_mode()
def record_logprobs(model, tokenizer, records: Sequence[dict]) -> list[float]:
    """Mean log-probability (nats) per loss-bearing token of each record, one per record,
    tokenized as the trainer does (prompt masked, EOS appended, cut to the model's context)."""
    if not records:
        return []
    limit = getattr(model.config, "max_position_embeddings", None) or 1_000_000
    data, counts = prepare_dataset(tokenizer, list(records), max_length=limit)
    if counts.dropped:
        raise ValueError(f"{counts.dropped} held-out records have no loss-bearing token")
    was_training = model.training
    model.eval()
    out = []
    for ids, labels in zip(data["input_ids"], data["labels"], strict=True):
        x = torch.tensor([ids], device=model.device)
        target = torch.tensor(labels[1:], device=model.device)
        logp = torch.log_softmax(model(x).logits[0, :-1].float(), dim=-1)
        scored = target != -100
        out.append(logp[scored].gather(1, target[scored, None]).mean().item())
    model.train(was_training)
    return out
