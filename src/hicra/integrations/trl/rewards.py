"""Reward functions in TRL's signature, backed by hicra's verifiers.

TRL calls ``reward_func(prompts=..., completions=..., completion_ids=..., **columns)`` with every
dataset column as a keyword list, and logs each function under its ``__name__``.

- ``math_reward_func``: the last ``\\boxed{}`` of the completion against the ``answer`` column,
  by ``hicra.tasks.math_reward.score_response`` (math-verify in a worker pool, so it is safe in
  TRL's threads; a timeout counts as wrong).
- ``task_reward_func(task)``: any ``hicra.tasks.Task`` (e.g. countdown), reading the problem back
  from the ``problem`` column that ``hicra.integrations.trl.data.task_dataset`` writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hicra.tasks.base import Problem


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string as is, a conversation as its last message's text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = (
            completion[-1].get("content", "")
            if isinstance(completion[-1], dict)
            else completion[-1]
        )
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    return ""


def make_math_reward(
    format_reward: float = 0.0, timeout_s: float = 5.0
) -> Callable[..., list[float]]:
    """A TRL reward function scoring completions against the ``answer`` column.

    format_reward: added when the completion holds exactly one non-empty box (0 = off).
    timeout_s: deadline of one equivalence check.
    """
    from hicra.tasks.math_reward import score_response

    def math_reward(completions: list[Any], answer: list[str], **kwargs: Any) -> list[float]:
        return [
            score_response(
                completion_text(c), str(a), format_reward=format_reward, timeout_s=timeout_s
            ).reward
            for c, a in zip(completions, answer)
        ]

    return math_reward


math_reward_func = make_math_reward()


def problem_from_json(blob: str) -> Problem:
    """The ``problem`` column back into a ``Problem`` (see ``data.problem_to_json``)."""
    data = json.loads(blob)
    return Problem(
        id=data["id"], prompt=data["prompt"], answer=data.get("answer"), meta=data.get("meta") or {}
    )


def task_reward_func(task: Any) -> Callable[..., list[float]]:
    """A TRL reward function calling ``task.score(problem, response).reward``; named after the task."""

    def reward(completions: list[Any], problem: list[str], **kwargs: Any) -> list[float]:
        return [
            task.score(problem_from_json(p), completion_text(c)).reward
            for c, p in zip(completions, problem)
        ]

    reward.__name__ = f"{task.name}_reward"
    return reward
