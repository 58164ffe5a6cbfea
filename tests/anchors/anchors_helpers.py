"""Fixtures and helpers of the anchors tests: a random tiny Llama on the countdown vocabulary,
the cached SFT warm start when this machine has one, one torch thread per test, and a backend
wrapper that counts generate calls. Test modules import the fixtures they use from here (a
conftest.py in this folder would be collected as a doctest module named `conftest` before
tests/conftest.py, which then fails to import)."""

from __future__ import annotations

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
    """The demo's countdown SFT warm start (the RL runs' starting policy) when it is cached.

    Only that one: the cache also holds quick or test warm starts of other configs, which
    are not the policy the known truth was measured with."""
    from hicra.demo import sft_config
    from hicra.trainer.sft import is_complete, sft_dir

    path = sft_dir(sft_config(False, 0), CountdownTask())
    return path if is_complete(path) else None


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
