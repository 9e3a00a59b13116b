"""critiquelab."""
