"""Fixtures of the trainer tests: a task with a dense reward so that a random model gets
non-zero advantages (the random tiny Llama, `tiny_model_dir`, is in tests/conftest.py)."""

from __future__ import annotations

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


@pytest.fixture
def dense_task() -> DenseCountdownTask:
    return DenseCountdownTask()


@pytest.fixture
def digit_lexicon() -> StrategicLexicon:
    """Digits as 'planning phrases', so a random model's responses have planning tokens."""
    return StrategicLexicon.from_phrases(["1", "2", "3"])
