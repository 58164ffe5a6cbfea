"""What the trainers need from a task: problems with prompts, and a verifier.

Every task (the synthetic countdown world, a math dataset with a math-verify reward) exposes
this protocol, so the built-in trainer, `hicra eval` and the demo never special-case one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
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

    def sample_problems(self, n: int, rng: np.random.Generator) -> list[Problem]:
        """n problems drawn with rng (same rng state -> same problems)."""

    def score(self, problem: Problem, response: str) -> Score:
        """Verify one response (the generated text after the prompt)."""

    def planning_lexicon(self) -> StrategicLexicon:
        """The lexicon whose phrases are this task's planning moves."""

    # Optional: ``summarize_diagnostics(diagnostics) -> dict[str, float]``, the batch summary of
    # ``score(...).diagnostics`` (e.g. pooled conditional rates); `summarize_diagnostics` below
    # falls back to `mean_diagnostics` for a task without one.


def mean_diagnostics(diagnostics: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Batch means of per-response diagnostics, key by key, NaN and absent values skipped
    (NaN where a key has no value at all).

    >>> mean_diagnostics([{"boxed_rate": 1.0}, {"boxed_rate": 0.0, "timeouts": float("nan")}])
    {'boxed_rate': 0.5, 'timeouts': nan}
    """
    rows = list(diagnostics)
    out: dict[str, float] = {}
    for key in dict.fromkeys(k for row in rows for k in row):
        values = [row[key] for row in rows if key in row and not math.isnan(row[key])]
        out[key] = float(np.mean(values)) if values else math.nan
    return out


def summarize_diagnostics(
    task: Any, diagnostics: Iterable[Mapping[str, float]]
) -> dict[str, float]:
    """The task's own ``summarize_diagnostics`` when it has one, else `mean_diagnostics`."""
    summarize = getattr(task, "summarize_diagnostics", None)
    return summarize(diagnostics) if summarize is not None else mean_diagnostics(diagnostics)


TASK_NAMES = ("countdown", "word-arith")


def load_task(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The task called `name`, constructed with `options` (a run's ``task_options``).

    >>> load_task("countdown").name
    'countdown'
    """
    if name == "countdown":
        from hicra.tasks.countdown import CountdownConfig, CountdownTask

        try:
            return CountdownTask(CountdownConfig.from_dict(dict(options or {})))
        except (TypeError, ValueError) as err:
            raise ValueError(f"task_options for task 'countdown': {err}") from None
    if name == "word-arith":
        from hicra.tasks.word_arith import WordArithConfig, WordArithTask

        try:
            return WordArithTask(WordArithConfig.from_dict(dict(options or {})))
        except (TypeError, ValueError) as err:
            raise ValueError(f"task_options for task 'word-arith': {err}") from None
    raise ValueError(f"task: unknown task {name!r}; known: {', '.join(TASK_NAMES)}")
