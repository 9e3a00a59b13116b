"""Models: tiny character-level Llamas, loading/saving, and generation."""

from critiquelab.models.loading import load_model, resolve_device, save_model
from critiquelab.models.tiny import TINY_PRESETS, build_tiny_model
from critiquelab.models.tokenizer import build_char_tokenizer

__all__ = ["TINY_PRESETS", "build_char_tokenizer", "build_tiny_model", "load_model",
           "resolve_device", "save_model"]
