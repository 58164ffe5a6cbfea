"""Local math RL datasets (parquet / json / jsonl) as hicra `Problem`s, with field mapping.

The common public sets differ only in column names; auto-detection covers them all:

| set                  | prompt column                 | answer column                         |
|----------------------|-------------------------------|---------------------------------------|
| DAPO-Math-17k, verl  | `prompt` (chat message list)  | `reward_model.ground_truth`           |
| MATH-lighteval       | `problem`                     | `solution` (its last \\boxed{} is used) |
| DeepScaleR, MATH-500 | `problem`                     | `answer`                              |
| AIME24 / AIME25      | `problem` or `question`       | `answer` (int or str)                 |
| AMC23, Minerva       | `question` or `problem`       | `answer` (AMC23 stores floats: 27.0)  |
| OlympiadBench        | `question`                    | `final_answer` (a list of strings)    |

`--prompt-field` / `--answer-field` (dotted paths such as `reward_model.ground_truth`) override
detection. Each `Problem.prompt` is the user message: the bare problem, a blank line and the
instruction (`DEFAULT_INSTRUCTION` unless told otherwise); `render_prompt` wraps it in the
tokenizer's chat template when the tokenizer has one.

    >>> problems = load_math_problems("math500.jsonl")            # doctest: +SKIP
    >>> render_prompt(problems[0].prompt, tokenizer)              # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

from hicra.errors import InputError, first_line
from hicra.tasks.base import Problem
from hicra.tasks.math_reward import extract_boxed

DEFAULT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

PROMPT_FIELDS = ("problem", "question", "prompt", "Problem", "Question", "input", "query")
ANSWER_FIELDS = (
    "answer",
    "final_answer",
    "reward_model.ground_truth",
    "ground_truth",
    "Answer",
    "expected_answer",
    "target",
    "solution",
)
ID_FIELDS = ("id", "unique_id", "ID", "idx", "problem_id", "extra_info.index")

# DAPO-Math-17k wraps each problem in its own "Answer: $Answer" instruction; hicra scores the
# last \boxed{}, so the wrapper is removed and replaced by the boxed instruction.
_DAPO_WRAPPER = re.compile(
    r"^Solve the following math problem step by step\. The last line of your response should be "
    r"of the form Answer: \$Answer \(without quotes\) where \$Answer is the answer to the "
    r"problem\.\s*(?P<problem>.*?)\s*Remember to put your answer on its own line after "
    r"\"Answer:\"\.?\s*$",
    re.DOTALL,
)


class DatasetError(InputError):
    """A dataset file or field that cannot be used; the message is one line naming it."""


def read_records(path: str) -> list[dict[str, Any]]:
    """All rows of a .parquet, .json (a list of objects, or {"data": [...]}) or .jsonl file."""
    if not os.path.isfile(path):
        raise DatasetError(f"dataset file not found: {path}")
    try:
        return _read_records(path)
    except UnicodeDecodeError:
        raise DatasetError(
            f"{path}: not UTF-8 text; expected a .parquet file or a UTF-8 .json / .jsonl file"
        ) from None
    except RecursionError:
        raise DatasetError(f"{path}: JSON nested too deeply") from None


def _read_records(path: str) -> list[dict[str, Any]]:
    suffix = path.lower().rsplit(".", 1)[-1]
    if suffix == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as error:  # pyarrow raises several types for a file that is not parquet
            raise DatasetError(
                f"{path}: not a readable parquet file ({first_line(error)})"
            ) from error
    if suffix == "jsonl":
        records = []
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DatasetError(
                        f"{path}:{line_number}: invalid JSON ({error.msg})"
                    ) from error
                if not isinstance(record, dict):
                    raise DatasetError(f"{path}:{line_number}: expected a JSON object per line")
                records.append(record)
        return records
    if suffix == "json":
        with open(path, encoding="utf-8") as handle:
            try:
                data = json.load(handle)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
        if isinstance(data, dict):
            lists = [value for key, value in data.items() if key in ("data", "rows", "examples")]
            data = lists[0] if lists else None
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise DatasetError(f'{path}: expected a list of objects (or {{"data": [...]}})')
        return data
    raise DatasetError(
        f"{path}: unsupported file type .{suffix} (expected .parquet, .json or .jsonl)"
    )


def get_field(record: dict[str, Any], dotted: str) -> Any:
    """record["a"]["b"] for "a.b"; None when any level is missing."""
    value: Any = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def detect_field(records: list[dict[str, Any]], candidates: Iterable[str]) -> str | None:
    """The first candidate present (non-None) in the first record."""
    first = records[0]
    return next((name for name in candidates if get_field(first, name) is not None), None)


def prompt_text(value: Any) -> str:
    """The problem text from a prompt value: a string, or a chat message list (its last user
    message, with DAPO-Math-17k's answer-format wrapper removed)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        users = [m.get("content", "") for m in value if m.get("role") == "user"]
        text = (users[-1] if users else value[-1].get("content", "")) or ""
        match = _DAPO_WRAPPER.match(text.strip())
        return match.group("problem").strip() if match else text.strip()
    raise TypeError(f"expected a string or a list of chat messages, got {type(value).__name__}")


def answer_text(value: Any, from_solution: bool) -> str:
    """A reference answer as a string: lists joined with ", ", integral floats as integers,
    `$...$` stripped; a worked solution is reduced to its last \\boxed{} content."""
    if isinstance(value, (list, tuple)):
        return ", ".join(answer_text(item, False) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if from_solution:
        boxed = extract_boxed(text)
        if boxed is None:
            raise ValueError("the solution has no \\boxed{} answer")
        return boxed
    if len(text) >= 2 and text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    return text


def load_math_problems(
    path: str,
    prompt_field: str | None = None,
    answer_field: str | None = None,
    instruction: str = DEFAULT_INSTRUCTION,
    limit: int | None = None,
    deduplicate: bool = False,
) -> list[Problem]:
    """Problems from one local file.

    prompt_field / answer_field: column names (dotted for nested); None = auto-detect.
    instruction: appended to each problem after a blank line ("" for none).
    limit: keep only the first `limit` rows.
    deduplicate: keep only the first row of each (problem, answer) pair (DAPO-Math-17k's
        parquet release repeats each problem many times).
    Each Problem has id (from an id column, else "<file stem>-<row>"), prompt (problem +
    instruction), answer (the reference string) and meta {"problem", "data_source", "row"}.
    """
    records = read_records(path)
    if limit is not None:
        records = records[:limit]
    if not records:
        raise DatasetError(f"{path}: no rows")
    columns = sorted(records[0])
    prompt_field = prompt_field or detect_field(records, PROMPT_FIELDS)
    if prompt_field is None:
        raise DatasetError(
            f"{path}: no prompt field found (looked for {', '.join(PROMPT_FIELDS)}; columns: "
            f"{', '.join(columns)}); pass --prompt-field"
        )
    answer_field = answer_field or detect_field(records, ANSWER_FIELDS)
    if answer_field is None:
        raise DatasetError(
            f"{path}: no answer field found (looked for {', '.join(ANSWER_FIELDS)}; columns: "
            f"{', '.join(columns)}); pass --answer-field"
        )
    id_field = detect_field(records, ID_FIELDS)
    stem = os.path.splitext(os.path.basename(path))[0]
    from_solution = answer_field.split(".")[-1] == "solution"
    problems, seen = [], set()
    for row, record in enumerate(records):
        where = f"{path} row {row}"
        raw_prompt, raw_answer = get_field(record, prompt_field), get_field(record, answer_field)
        if raw_prompt is None or raw_prompt == "":
            raise DatasetError(f"{where}: field {prompt_field!r} is missing or empty")
        if raw_answer is None or raw_answer == "":
            raise DatasetError(f"{where}: field {answer_field!r} is missing or empty")
        try:
            problem = prompt_text(raw_prompt)
            answer = answer_text(raw_answer, from_solution)
        except (TypeError, ValueError) as error:
            raise DatasetError(f"{where}: {error}") from error
        if deduplicate:
            if (problem, answer) in seen:
                continue
            seen.add((problem, answer))
        ident = get_field(record, id_field) if id_field else None
        data_source = (
            record.get("data_source") if isinstance(record.get("data_source"), str) else stem
        )
        problems.append(
            Problem(
                id=str(ident) if ident is not None else f"{stem}-{row}",
                prompt=f"{problem}\n\n{instruction}" if instruction else problem,
                answer=answer,
                meta={"problem": problem, "data_source": data_source, "row": row},
            )
        )
    return problems


def render_prompt(prompt: str, tokenizer: Any = None, system_prompt: str | None = None) -> str:
    """The text fed to the model for one user prompt.

    With a tokenizer that has a chat template: `apply_chat_template([system?, user],
    add_generation_prompt=True)`. Otherwise (base models, no tokenizer): the prompt itself
    followed by a newline, with the system prompt and a blank line before it when given.
    """
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages.append({"role": "user", "content": prompt})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prefix = f"{system_prompt}\n\n" if system_prompt else ""
    return f"{prefix}{prompt}\n"
