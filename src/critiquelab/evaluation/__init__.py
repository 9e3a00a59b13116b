"""Evaluation: metrics computed from model generations, and bootstrap statistics."""
