"""Fixtures shared by several test folders."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random tiny Llama (2 layers, width 32) on the countdown vocabulary, saved once."""
    from hicra.models import build_tiny_model, build_tokenizer
    from hicra.tasks.countdown import CountdownTask

    out = tmp_path_factory.mktemp("tiny_model")
    tokenizer = build_tokenizer(CountdownTask(), out_dir=out)
    build_tiny_model(
        tokenizer, hidden=32, layers=2, heads=2, max_positions=128, seed=0, out_dir=out
    )
    return out
