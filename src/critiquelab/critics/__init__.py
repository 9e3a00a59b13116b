"""Critics that write step-level critiques: exact, noisy, and (elsewhere) model teachers."""

from critiquelab.critics.base import Critic, Critique, ExactCritic, NoisyCritic
from critiquelab.critics.format import parse_first_error, parse_verdict, render_critique

__all__ = ["Critic", "Critique", "ExactCritic", "NoisyCritic", "parse_first_error",
           "parse_verdict", "render_critique"]
