"""Datasets: prompt formats, splits, and builders of SFT / CFT / pretraining records."""
