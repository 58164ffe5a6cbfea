"""The bad-input suite (docs/errors.md): every case runs `hicra ...` in-process on one malformed
input and checks the exit status, the one-line message and that no file moved
(badinput_harness.py). The random tiny checkpoint `tiny_model_dir` is tests/conftest.py's."""

from __future__ import annotations

import pytest


@pytest.fixture
def model(tiny_model_dir):
    return tiny_model_dir
