"""Prompts for real models: the tokenizer's chat template where it has one, plain text otherwise.

Training records and evaluation prompts go through the same rendering, so a model is scored
on exactly the prompt layout it was trained on.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase
from trl.data_utils import maybe_apply_chat_template

from critiquelab.errors import UsageError


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_prompt(tokenizer: PreTrainedTokenizerBase, text: str, use_template: bool = True) -> str:
    """`text` as a user turn followed by the assistant's turn opening (or `text` itself)."""
    if not (use_template and has_chat_template(tokenizer)):
        return text
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)


def chat_record(tokenizer: PreTrainedTokenizerBase, record: dict, use_template: bool = True
                ) -> dict:
    """A training record rendered to strings: conversational records (TRL's `messages` or
    prompt/completion turn lists) always, plain prompt/completion ones as a user and an
    assistant turn when the tokenizer has a chat template; `{"text"}` records pass through."""
    if isinstance(record.get("prompt"), list) or isinstance(record.get("messages"), list):
        if not has_chat_template(tokenizer):
            raise UsageError("conversational records need a tokenizer with a chat template")
        return maybe_apply_chat_template(record, tokenizer)
    if "prompt" in record and use_template and has_chat_template(tokenizer):
        turns = {"prompt": [{"role": "user", "content": record["prompt"]}],
                 "completion": [{"role": "assistant", "content": record["completion"]}]}
        return maybe_apply_chat_template(turns, tokenizer)
    return record
