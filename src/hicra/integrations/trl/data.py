"""hicra problems -> a ``datasets.Dataset`` in TRL's prompt format.

Columns: ``prompt`` (a one-message conversation when the tokenizer has a chat template, so TRL
applies it; else the text of ``render_prompt``), ``answer`` (the reference as a string), ``prompt_id`` (the
problem's stable id, used in the run directory) and ``problem`` (the whole problem as JSON, for
task verifiers such as countdown's).
"""

from __future__ import annotations

import json
from typing import Any

from hicra.tasks.base import Problem
from hicra.tasks.datasets import render_prompt


def problem_to_json(problem: Problem) -> str:
    return json.dumps(
        {"id": problem.id, "prompt": problem.prompt, "answer": problem.answer, "meta": problem.meta},
        default=str,
    )


def task_dataset(problems: list[Problem], tokenizer: Any = None, system_prompt: str | None = None):
    """A TRL training dataset of ``problems`` (see the module docstring for the columns)."""
    from datasets import Dataset

    chat = tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))
    prompts: list[Any] = []
    for problem in problems:
        if chat:
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            prompts.append(messages + [{"role": "user", "content": problem.prompt}])
        else:  # base model: the same text hicra's built-in trainer and `hicra eval` use
            prompts.append(render_prompt(problem.prompt, None, system_prompt))
    answers = [a if isinstance(a, str) else json.dumps(a, default=str) for a in (p.answer for p in problems)]
    return Dataset.from_dict({
        "prompt": prompts,
        "answer": answers,
        "prompt_id": [p.id for p in problems],
        "problem": [problem_to_json(p) for p in problems],
    })
