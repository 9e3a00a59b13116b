"""Serving: an OpenAI-compatible HTTP endpoint over any local critiquelab model."""

from critiquelab.serving.server import ChatServer, Faults, ModelBackend

__all__ = ["ChatServer", "Faults", "ModelBackend"]
