"""Choosing a generation backend: transformers (models/generate.py, always there) or vLLM
(the `vllm` extra, used on a CUDA GPU). Both follow generate.GenerationBackend: n samples,
temperature, top-p, stop strings cut off."""

from __future__ import annotations

import gc
import importlib.util

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from critiquelab.errors import UsageError
from critiquelab.models.generate import GenerationBackend, HFBackend

BACKENDS = ("auto", "transformers", "vllm")


class VLLMBackend:
    """vLLM over a model directory or Hub id (vllm is imported only when one is built)."""

    name = "vllm"

    def __init__(self, model_path: str, seed: int = 0, gpu_memory_utilization: float = 0.85):
        from vllm import LLM

        self.llm = LLM(model=model_path, seed=seed, dtype="auto",
                       gpu_memory_utilization=gpu_memory_utilization)

    def generate(self, prompts: list[str], max_new_tokens: int, *, n: int = 1,
                 temperature: float = 0.0, top_p: float = 1.0, stop: list[str] | None = None,
                 batch_size: int = 64, seed: int = 0) -> list[list[str]]:
        """vLLM batches by itself, so batch_size is not used."""
        from vllm import SamplingParams

        greedy = temperature == 0.0
        params = SamplingParams(n=1 if greedy else n, temperature=temperature,
                                top_p=1.0 if greedy else top_p, max_tokens=max_new_tokens,
                                stop=list(stop) if stop else None, seed=seed)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        texts = [[c.text for c in out.outputs] for out in outputs]
        return [t * n for t in texts] if greedy else texts  # greedy samples are all the same

    def close(self) -> None:
        """Free the GPU memory the engine holds."""
        del self.llm
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def vllm_available() -> bool:
    """True when vLLM is installed and a CUDA GPU is present."""
    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def choose_backend(name: str = "auto") -> str:
    """The backend to use: "auto" is vLLM where it can run, transformers otherwise."""
    if name not in BACKENDS:
        raise UsageError(f"unknown backend '{name}': expected one of {', '.join(BACKENDS)}")
    if name == "auto":
        return "vllm" if vllm_available() else "transformers"
    if name == "vllm" and not vllm_available():
        raise UsageError("the vllm backend needs a CUDA GPU and the vllm extra "
                         "(pip install 'critiquelab[vllm]')")
    return name


def make_backend(name: str, model: PreTrainedModel | None, tokenizer: PreTrainedTokenizerBase,
                 model_path: str | None = None, seed: int = 0) -> GenerationBackend:
    """An HFBackend over `model`, or (name resolving to vllm) a VLLMBackend over model_path,
    a directory holding the same weights."""
    if choose_backend(name) == "transformers":
        if model is None:
            raise UsageError("the transformers backend needs the model in memory")
        return HFBackend(model, tokenizer)
    if model_path is None:
        raise UsageError("the vllm backend needs the model saved in a directory")
    return VLLMBackend(model_path, seed=seed)


def close_backend(backend: GenerationBackend) -> None:
    """Release what a backend holds (vLLM's GPU memory); a no-op for transformers."""
    if isinstance(backend, VLLMBackend):
        backend.close()

