"""What the trainers need from a task: problems with prompts, and a verifier.

Every task (the synthetic countdown world, a math dataset with a math-verify reward) exposes
this protocol, so the built-in trainer, `hicra eval` and the demo never special-case one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from hicra.lexicon import StrategicLexicon


@dataclass(frozen=True)
class Problem:
    """One prompt with what the verifier needs to score answers to it.

    id: stable identifier (the same problem always gets the same id).
    prompt: the text given to the model (before any chat template).
    answer: the reference the verifier compares against (task-specific, JSON-able).
    """

    id: str
    prompt: str
    answer: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    """The verifier's verdict on one response.

    reward: the scalar the RL update uses.
    correct: whether the final answer is right (accuracy counts this, not reward).
    diagnostics: per-response numbers averaged into the step metrics, e.g.
        {"exec_error_rate": 0.25, "attempts": 2, "backtracks": 1}.
    """

    reward: float
    correct: bool
    diagnostics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    name: str

    def sample_problems(self, n: int, rng: "np.random.Generator") -> list[Problem]:
        """n problems drawn with rng (same rng state -> same problems)."""

    def score(self, problem: Problem, response: str) -> Score:
        """Verify one response (the generated text after the prompt)."""

    def planning_lexicon(self) -> "StrategicLexicon":
        """The lexicon whose phrases are this task's planning moves."""
