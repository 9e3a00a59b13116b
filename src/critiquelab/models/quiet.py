"""Silence the chatter of transformers, datasets and TRL (logs, warnings, progress bars)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import datasets
import transformers


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Within the block, only errors get through; restores the previous settings on exit."""
    if not enabled:
        yield
        return
    tf_level = transformers.logging.get_verbosity()
    tf_bars = transformers.utils.logging.is_progress_bar_enabled()
    ds_bars = datasets.utils.logging.is_progress_bar_enabled()
    trl_logger = logging.getLogger("trl")
    trl_level = trl_logger.level
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    trl_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers.logging.set_verbosity(tf_level)
        trl_logger.setLevel(trl_level)
        if tf_bars:
            transformers.utils.logging.enable_progress_bar()
        if ds_bars:
            datasets.enable_progress_bars()
