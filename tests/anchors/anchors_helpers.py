"""Helpers of the anchors tests (a module of its own: no test imports a conftest by name)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


class CountingBackend:
    """Wraps a backend and counts its sample() calls and rows."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.calls, self.rows = inner, inner.name, 0, 0

    def sample(self, contexts, n, seed):
        self.calls += 1
        self.rows += len(contexts) * n
        return self.inner.sample(contexts, n, seed)
