"""hicra problems -> a ``datasets.Dataset`` in TRL's prompt format.

Columns: ``prompt`` (a one-message conversation when the tokenizer has a chat template, so TRL
applies it; else the text of ``render_prompt``), ``answer`` (the reference as a string), ``prompt_id`` (the
problem's stable id, used in the run directory), ``problem`` (the whole problem as JSON, for
task verifiers such as countdown's) and, for vision-language models, ``images`` (TRL's column).
"""

from __future__ import annotations

import json
import os
from typing import Any

from hicra.tasks.base import Problem
from hicra.tasks.datasets import render_prompt


def problem_to_json(problem: Problem) -> str:
    return json.dumps(
        {
            "id": problem.id,
            "prompt": problem.prompt,
            "answer": problem.answer,
            "meta": problem.meta,
        },
        default=str,
    )


def load_image(value: Any, base_dir: str = ".", where: str = "image") -> Any:
    """A PIL image (RGB) from a path (relative to ``base_dir``), raw bytes, or a datasets image
    dict (``{"bytes": ..., "path": ...}``, as HF image columns are stored in parquet)."""
    import io

    from PIL import Image

    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    try:
        if isinstance(value, (bytes, bytearray)):
            return Image.open(io.BytesIO(value)).convert("RGB")
        if isinstance(value, str):
            return Image.open(
                value if os.path.isabs(value) else os.path.join(base_dir, value)
            ).convert("RGB")
    except OSError as error:
        raise ValueError(f"{where}: cannot read image {str(value)[:80]!r}: {error}") from None
    raise ValueError(
        f"{where}: expected an image path, bytes or {{'bytes', 'path'}} dict, got {type(value).__name__}"
    )


def task_dataset(
    problems: list[Problem],
    tokenizer: Any = None,
    system_prompt: str | None = None,
    images: list[list[Any]] | None = None,
):
    """A TRL training dataset of ``problems`` (see the module docstring for the columns).

    images: per problem, its PIL images (vision-language models): adds TRL's ``images`` column;
    the prompts are then conversations, which TRL turns into image+text messages itself.
    """
    from datasets import Dataset

    chat = images is not None or (
        tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))
    )
    prompts: list[Any] = []
    for problem in problems:
        if chat:
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            prompts.append(messages + [{"role": "user", "content": problem.prompt}])
        else:  # base model: the same text hicra's built-in trainer and `hicra eval` use
            prompts.append(render_prompt(problem.prompt, None, system_prompt))
    answers = [
        a if isinstance(a, str) else json.dumps(a, default=str)
        for a in (p.answer for p in problems)
    ]
    columns = {
        "prompt": prompts,
        "answer": answers,
        "prompt_id": [p.id for p in problems],
        "problem": [problem_to_json(p) for p in problems],
    }
    if images is not None:
        columns["images"] = images
    return Dataset.from_dict(columns)
