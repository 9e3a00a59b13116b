"""Serving: an OpenAI-compatible HTTP endpoint over any local critiquelab model."""

from critiquelab.serving.backend import ModelBackend
from critiquelab.serving.server import ChatServer, Faults

__all__ = ["ChatServer", "Faults", "ModelBackend"]
