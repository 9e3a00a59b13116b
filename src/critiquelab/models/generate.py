"""Batched generation behind a small backend interface (transformers now; vLLM can join later)."""

from __future__ import annotations

from typing import Protocol

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from critiquelab.models.greedy import greedy_decode
from critiquelab.models.precision import autocast_context
from critiquelab.models.quiet import quiet


class GenerationBackend(Protocol):
    def generate(self, prompts: list[str], max_new_tokens: int, *, n: int = 1,
                 temperature: float = 0.0, top_p: float = 1.0, stop: list[str] | None = None,
                 batch_size: int = 64, seed: int = 0) -> list[list[str]]: ...


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    """`text` up to (not including) the earliest stop string."""
    cut = min((i for s in stop or () if s and (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


class HFBackend:
    """`model.generate` with a KV cache; prompts are length-sorted and left-padded per batch."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 precision: str = "fp32", static_cache: bool = True, greedy_loop: bool = True):
        self.model, self.tokenizer, self.precision = model, tokenizer, precision
        self.static_cache = static_cache  # when sampling on a CPU
        self.greedy_loop = greedy_loop  # greedy through models/greedy.py, not model.generate

    def generate(self, prompts: list[str], max_new_tokens: int, *, n: int = 1,
                 temperature: float = 0.0, top_p: float = 1.0, stop: list[str] | None = None,
                 batch_size: int = 64, seed: int = 0) -> list[list[str]]:
        sample = temperature > 0
        copies = n if sample else 1  # greedy copies would all be the same
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        per_batch = max(1, batch_size // copies)
        results: list[list[str]] = [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        with torch.random.fork_rng(devices=_devices(self.model)), quiet():
            torch.manual_seed(seed)
            for start in range(0, len(order), per_batch):
                idx = order[start:start + per_batch]
                texts = self._batch([prompts[i] for i in idx], max_new_tokens, copies,
                                    temperature, top_p, stop)
                for j, i in enumerate(idx):
                    outs = [cut_at_stop(t, stop) for t in texts[j * copies:(j + 1) * copies]]
                    results[i] = outs if sample else outs * n
        self.model.train(was_training)
        return results

    def _batch(self, prompts: list[str], max_new_tokens: int, copies: int, temperature: float,
               top_p: float, stop: list[str] | None) -> list[str]:
        tok = self.tokenizer
        if temperature <= 0 and self.greedy_loop and not stop:
            # (with stop strings, transformers' generate: its stop check also spans the prompt)
            return self._greedy(prompts, max_new_tokens)
        enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left").to(
            self.model.device)
        sample = temperature > 0
        kwargs = {"do_sample": True, "temperature": temperature, "top_p": top_p,
                  "top_k": None} if sample else {"do_sample": False}
        if sample and self.static_cache and self.model.device.type == "cpu":
            # Samples run long; growing a dynamic cache (torch.cat per step) then dominates on
            # a CPU. A static cache samples faster (docs/PERFORMANCE.md, Generation).
            kwargs["cache_implementation"] = "static"
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=tok)
        with torch.inference_mode(), autocast_context(self.model.device, self.precision):
            out = self.model.generate(
                **enc, max_new_tokens=max_new_tokens, num_return_sequences=copies,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, use_cache=True,
                **kwargs)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        return [tok.decode(_until(ids, tok.eos_token_id), skip_special_tokens=True)
                for ids in new]


    def _greedy(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        tok = self.tokenizer
        with autocast_context(self.model.device, self.precision):
            new = greedy_decode(self.model, tok(prompts)["input_ids"], max_new_tokens,
                                tok.eos_token_id, tok.pad_token_id)
        return [tok.decode(ids, skip_special_tokens=True) for ids in new]


def _until(ids: list[int], eos: int) -> list[int]:
    return ids[:ids.index(eos)] if eos in ids else ids


def _devices(model: PreTrainedModel) -> list[int]:
    return [model.device.index or 0] if model.device.type == "cuda" else []


def generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str],
             max_new_tokens: int, *, n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
             stop: list[str] | None = None, batch_size: int = 64, seed: int = 0
             ) -> list[list[str]]:
    """n completions per prompt (greedy when temperature == 0), cut at EOS and stop strings."""
    return HFBackend(model, tokenizer).generate(
        prompts, max_new_tokens, n=n, temperature=temperature, top_p=top_p, stop=stop,
        batch_size=batch_size, seed=seed)
