"""Greedy decoding that drops finished rows gives the tokens transformers' generate gives."""

from __future__ import annotations

import random

import torch

from critiquelab.models import load_model
from critiquelab.models.generate import HFBackend
from critiquelab.models.greedy import greedy_decode


def test_greedy_decode_matches_generate_when_rows_finish_at_different_steps():
    model, tok = load_model("tiny-xs", seed=5)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # large random weights: varied outputs rather than one repeated token
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    rng = random.Random(0)
    prompts = [tok("Q: " + "".join(rng.choice("0123456789+*= ") for _ in range(rng.randint(2, 40))))
               ["input_ids"] for _ in range(12)]
    free = greedy_decode(model, prompts, 24, eos_id=-1, pad_id=tok.pad_token_id)
    def ends(token: int) -> set[int]:  # the steps at which rows would stop at this token
        return {row.index(token) if token in row else -1 for row in free}

    eos = max(sorted({t for row in free for t in row}), key=lambda t: len(ends(t)))
    ours = greedy_decode(model, prompts, 24, eos_id=eos, pad_id=tok.pad_token_id)
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts])
    starts = torch.tensor([width - len(p) for p in prompts])
    mask = torch.arange(width)[None, :] >= starts[:, None]
    with torch.inference_mode():
        ref = model.generate(input_ids=ids, attention_mask=mask.long(), max_new_tokens=24,
                             do_sample=False, eos_token_id=eos, pad_token_id=tok.pad_token_id)
    want = [row[width:] for row in ref.tolist()]
    want = [row[:row.index(eos)] if eos in row else row for row in want]
    assert ours == want
    assert len({len(o) for o in ours}) > 2  # rows did finish at different steps


def test_backend_greedy_paths_agree():
    model, tok = load_model("tiny-xs", seed=2)
    prompts = ["Q: 1+1?\n", "a much longer prompt than the others\n", "x"]
    old = HFBackend(model, tok, greedy_loop=False).generate(prompts, 16, n=2)
    assert HFBackend(model, tok).generate(prompts, 16, n=2) == old
