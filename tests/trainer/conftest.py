"""Fixtures of the trainer tests: a random tiny Llama on the countdown vocabulary, and a
task with a dense reward so that a random model gets non-zero advantages."""

from __future__ import annotations

from pathlib import Path

import pytest

from hicra.lexicon import StrategicLexicon
from hicra.tasks.base import Score
from hicra.tasks.countdown import CountdownTask


class DenseCountdownTask(CountdownTask):
    """The countdown world's problems and diagnostics with a dense reward: the share of
    response words that are digits (so a random policy's responses differ in reward)."""

    name = "countdown_dense"

    def score(self, problem, response):
        verdict = super().score(problem, response)
        words = response.split()
        reward = sum(w.isdigit() for w in words) / max(len(words), 1)
        return Score(reward=reward, correct=reward > 0.2, diagnostics=verdict.diagnostics)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from hicra.models import build_tiny_model, build_tokenizer

    out = tmp_path_factory.mktemp("tiny_model")
    tokenizer = build_tokenizer(CountdownTask(), out_dir=out)
    build_tiny_model(tokenizer, hidden=32, layers=2, heads=2, max_positions=128, seed=0, out_dir=out)
    return out


@pytest.fixture
def dense_task() -> DenseCountdownTask:
    return DenseCountdownTask()


@pytest.fixture
def digit_lexicon() -> StrategicLexicon:
    """Digits as 'planning phrases', so a random model's responses have planning tokens."""
    return StrategicLexicon.from_phrases(["1", "2", "3"])
