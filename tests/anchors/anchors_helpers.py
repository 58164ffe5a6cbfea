"""Fixtures and helpers of the anchors tests: a random tiny Llama on the countdown vocabulary,
the cached SFT warm start when this machine has one, one torch thread per test, and a backend
wrapper that counts generate calls. Test modules import the fixtures they use from here (a
conftest.py in this folder would be collected as a doctest module named `conftest` before
tests/conftest.py, which then fails to import)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hicra.tasks.countdown import CountdownTask

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


class CountingBackend:
    """Wraps a backend and counts its sample() calls and rows."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.calls, self.rows = inner, inner.name, 0, 0

    def sample(self, contexts, n, seed):
        self.calls += 1
        self.rows += len(contexts) * n
        return self.inner.sample(contexts, n, seed)


@pytest.fixture(scope="session")
def tiny_countdown_model(tmp_path_factory) -> Path:
    from hicra.models import build_tiny_model, build_tokenizer

    out = tmp_path_factory.mktemp("anchors_tiny_model")
    tokenizer = build_tokenizer(CountdownTask(), out_dir=out)
    build_tiny_model(
        tokenizer, hidden=32, layers=2, heads=2, max_positions=256, seed=0, out_dir=out
    )
    return out


def cached_sft_checkpoint() -> Path | None:
    """A complete countdown SFT checkpoint of the default world in the SFT cache, if any."""
    root = Path(os.environ.get("HICRA_CACHE", "~/.cache/hicra")).expanduser() / "sft"
    for path in sorted(root.glob("sft-*")):
        config = path / "sft_config.json"
        if (
            path.name.count(".tmp") == 0
            and config.is_file()
            and (path / "model.safetensors").is_file()
        ):
            meta = json.loads(config.read_text())
            if meta.get("task") == "countdown" and meta.get("task_config", {}).get("modulus") == 7:
                return path
    return None


@pytest.fixture(scope="session")
def sft_checkpoint() -> Path:
    path = cached_sft_checkpoint()
    if path is None:
        pytest.skip("no cached countdown SFT checkpoint (run `hicra sft` or `hicra demo` once)")
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run faster on one thread, and the machine is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
