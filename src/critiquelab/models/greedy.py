"""Greedy decoding in which finished rows and padding cost nothing: a row leaves the batch (and
the KV cache) at its EOS, and left-padding columns no live row needs are cut from the cache.
Same tokens as transformers' `generate(do_sample=False)`."""

from __future__ import annotations

import torch
from transformers import DynamicCache, PreTrainedModel


def _left_padded(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p):] = 1
    return ids, mask


def _trim_padding(cache: DynamicCache, mask: torch.Tensor) -> torch.Tensor:
    """Cut the leading cache columns that every live row masks out; returns the new mask."""
    first = int((mask.sum(0) > 0).int().argmax())
    if first == 0:
        return mask
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]
    return mask[:, first:]


@torch.inference_mode()
def greedy_decode(model: PreTrainedModel, prompts: list[list[int]], max_new_tokens: int,
                  eos_id: int, pad_id: int) -> list[list[int]]:
    """New token ids per prompt (EOS not included), greedy, with a KV cache."""
    device = model.device
    ids, mask = _left_padded(prompts, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                   cache=cache, use_cache=True).logits[:, -1]
    rows = list(range(len(prompts)))  # the prompt each live row answers
    out: list[list[int]] = [[] for _ in prompts]
    nxt_pos = positions[:, -1] + 1
    for _ in range(max_new_tokens):
        nxt = logits.argmax(-1)
        keep = []
        for j, token in enumerate(nxt.tolist()):
            if token == eos_id:
                continue
            got = out[rows[j]]
            got.append(token)
            if len(got) < max_new_tokens:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(rows):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, nxt, nxt_pos = mask[index], nxt[index], nxt_pos[index]
            rows = [rows[j] for j in keep]
            mask = _trim_padding(cache, mask)
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        logits = model(input_ids=nxt[:, None], position_ids=nxt_pos[:, None],
                       attention_mask=None if bool(mask.all()) else mask,
                       cache=cache, use_cache=True).logits[:, -1]
        nxt_pos = nxt_pos + 1
    return out
