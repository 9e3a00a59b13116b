"""Tiny Llama presets for character-level experiments on a CPU."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase


@dataclass(frozen=True)
class TinyPreset:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int = 512


TINY_PRESETS: dict[str, TinyPreset] = {
    "tiny-xs": TinyPreset(hidden=96, layers=3, heads=3, intermediate=256),  # ~0.34M params
    "tiny-s": TinyPreset(hidden=160, layers=5, heads=5, intermediate=432),  # ~1.6M params
    "tiny-m": TinyPreset(hidden=256, layers=6, heads=8, intermediate=688),  # ~4.8M params
}


def tiny_config(preset: str, tokenizer: PreTrainedTokenizerBase) -> LlamaConfig:
    p = TINY_PRESETS[preset]
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=p.hidden, num_hidden_layers=p.layers,
        num_attention_heads=p.heads, num_key_value_heads=p.heads, intermediate_size=p.intermediate,
        max_position_embeddings=p.max_positions, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_tiny_model(preset: str, tokenizer: PreTrainedTokenizerBase, seed: int = 0,
                     attn_implementation: str = "eager") -> LlamaForCausalLM:
    """A freshly initialised tiny Llama; the same seed gives the same weights.

    Eager attention is the default: on CPUs it trains faster than SDPA under bf16 autocast."""
    config = tiny_config(preset, tokenizer)
    config._attn_implementation = attn_implementation
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
