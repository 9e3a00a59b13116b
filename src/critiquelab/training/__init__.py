"""Training: SFT / CFT / pretraining on prompt-completion or text records."""

from critiquelab.models.precision import autocast_context, describe_precision
from critiquelab.training.likelihood import record_logprobs
from critiquelab.training.sft import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "autocast_context", "describe_precision",
           "record_logprobs", "train"]
