"""A causal LM behind the server: chat and text completions, with per-token logprobs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

import torch

from critiquelab.serving.requests import ChatRequest, CompletionRequest, RequestError


@dataclass(frozen=True)
class ChatResult:
    texts: list[str]
    prompt_tokens: int
    completion_tokens: list[int]
    max_tokens: int


@dataclass(frozen=True)
class Choice:
    """One text completion; `logprobs` in the OpenAI completions form, or None."""

    text: str
    completion_tokens: int
    finished: bool  # stopped by EOS or a stop string before max_tokens
    logprobs: dict | None = field(default=None)


class ChatBackend(Protocol):
    name: str

    def chat(self, request: ChatRequest) -> ChatResult: ...


class ModelBackend:
    """Chat over a causal LM: the tokenizer's chat template if it has one, else
    `role: content` lines ending `assistant: `."""

    def __init__(self, model, tokenizer, name: str):
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.context = int(getattr(model.config, "max_position_embeddings", 2048))
        self.lock = threading.Lock()

    def render(self, messages: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=True)
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _fits(self, prompt_tokens: int, max_tokens: int) -> None:
        if prompt_tokens + max_tokens > self.context:
            raise RequestError(f"prompt ({prompt_tokens} tokens) plus max_tokens "
                               f"({max_tokens}) exceeds the context of {self.context}")

    def _generate(self, prompt: str, request: ChatRequest | CompletionRequest) -> list[str]:
        from critiquelab.models.generate import generate

        if request.max_tokens == 0:
            return [""] * request.n
        with self.lock:
            return generate(self.model, self.tokenizer, [prompt], request.max_tokens,
                            n=request.n, temperature=request.temperature, top_p=request.top_p,
                            stop=request.stop or None, seed=request.seed)[0]

    def chat(self, request: ChatRequest) -> ChatResult:
        prompt = self.render(request.messages)
        prompt_tokens = len(self.tokenizer(prompt)["input_ids"])
        self._fits(prompt_tokens, request.max_tokens)
        texts = self._generate(prompt, request)
        return ChatResult(texts, prompt_tokens, [self.count(t) for t in texts],
                          request.max_tokens)

    def complete(self, request: CompletionRequest) -> tuple[list[Choice], int]:
        """n choices per prompt, in prompt order, and the prompt tokens over all prompts."""
        choices, prompt_total = [], 0
        vocab = len(self.tokenizer)
        for prompt in request.prompts:
            if isinstance(prompt, list):
                if max(prompt) >= vocab:
                    raise RequestError(f"token id {max(prompt)} is outside the vocabulary "
                                       f"({vocab})")
                ids, text = prompt, self.tokenizer.decode(prompt)
            else:
                ids, text = self.tokenizer(prompt)["input_ids"], prompt
            self._fits(len(ids), request.max_tokens)
            prompt_total += len(ids)
            for out in self._generate(text, request):
                out_ids = self.tokenizer(out, add_special_tokens=False)["input_ids"]
                finished = len(out_ids) < request.max_tokens
                logprobs = None
                if request.logprobs is not None:
                    logprobs = self._logprobs(ids, out_ids, request.logprobs,
                                              start=0 if request.echo else len(ids))
                choices.append(Choice(text + out if request.echo else out, len(out_ids),
                                      finished, logprobs))
        return choices, prompt_total

    def _logprobs(self, prompt_ids: list[int], out_ids: list[int], top: int, start: int) -> dict:
        """OpenAI-style logprobs of every token from `start` of prompt + output: the first
        token of all has none (nothing precedes it)."""
        ids = prompt_ids + out_ids
        with self.lock, torch.inference_mode():
            logits = self.model(torch.tensor([ids], device=self.model.device)).logits[0]
        logp = torch.log_softmax(logits.float(), dim=-1)
        tokens, token_logprobs, top_logprobs, offsets, pos = [], [], [], [], 0
        for i in range(start, len(ids)):
            piece = self.tokenizer.decode([ids[i]])
            tokens.append(piece)
            offsets.append(pos)
            pos += len(piece)
            if i == 0:
                token_logprobs.append(None)
                top_logprobs.append(None)
                continue
            row = logp[i - 1]
            token_logprobs.append(float(row[ids[i]]))
            best = torch.topk(row, max(top, 1))
            top_logprobs.append({self.tokenizer.decode([int(t)]): float(v)
                                 for v, t in zip(best.values, best.indices, strict=True)})
        return {"tokens": tokens, "token_logprobs": token_logprobs,
                "top_logprobs": top_logprobs, "text_offset": offsets}
