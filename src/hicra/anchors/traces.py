"""The traces `hicra anchors` analyses: read from a file, or sampled from the model.

A `Trace` is a prompt, the exact text the model was given for it (`context`: the prompt, or the
prompt in the tokenizer's chat template), the response that followed, and the reference answer
when the task needs one. Inputs:

- a traces file (.jsonl, .jsonl.gz, .json, .parquet): one object per trace with a prompt field
  (prompt, question, problem, input) and a response field (response, completion, full_text,
  reasoning, output, trace); a reference answer (answer, gt_answer, gt, ground_truth,
  solution) is required by the math task;
- a prompts file (the same prompt and answer fields): one base trace is sampled per prompt;
- for the countdown world, `n` puzzles drawn with a seed.

Bad input raises `AnchorsInputError` with one line naming the file, line and trace.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hicra.errors import InputError, first_line

PROMPT_FIELDS = ("prompt", "question", "problem", "input")
RESPONSE_FIELDS = ("response", "completion", "full_text", "reasoning", "output", "trace")
ANSWER_FIELDS = ("answer", "gt_answer", "gt", "ground_truth", "solution")
ID_FIELDS = ("id", "trace_id", "problem_id", "idx", "prompt_id")


class AnchorsInputError(InputError):
    """Unusable input; the message is one line naming the file, line or trace."""


@dataclass(frozen=True)
class Trace:
    """One trace to analyse. key: a unique, file-safe name (used for its result files)."""

    key: str
    prompt: str
    context: str
    response: str
    gold: str | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "trace"


def trace_key(position: int, name: str) -> str:
    """A unique file-safe key: position first, so keys sort in input order."""
    return f"{position:04d}-{_slug(name)}"


def read_rows(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, record) for every record of a .jsonl(.gz), .json or .parquet file;
    `where` is "file:line" for JSON lines and "file:row N" otherwise."""
    path = Path(path)
    if not path.is_file():
        raise AnchorsInputError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        rows, number = [], 0
        try:
            with opener(path, "rt", encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise AnchorsInputError(
                            f"{path}:{number}: not valid JSON ({err.msg})"
                        ) from None
                    except RecursionError:
                        raise AnchorsInputError(
                            f"{path}:{number}: JSON nested too deeply"
                        ) from None
                    if not isinstance(record, dict):
                        raise AnchorsInputError(f"{path}:{number}: expected a JSON object")
                    rows.append((f"{path}:{number}", record))
        except UnicodeDecodeError:
            raise AnchorsInputError(
                f"{path}:{number + 1}: not UTF-8 text (a binary file?); expected JSON lines"
            ) from None
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise AnchorsInputError(
                f"{path}:{number + 1}: gzip data cut short or corrupt ({first_line(err)})"
            ) from None
        return rows
    from hicra.tasks.datasets import DatasetError, read_records

    try:
        return [(f"{path}:row {i + 1}", r) for i, r in enumerate(read_records(str(path)))]
    except DatasetError as err:
        raise AnchorsInputError(str(err)) from None


def _first(record: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((record[k] for k in names if record.get(k) not in (None, "")), None)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        from hicra.tasks.datasets import prompt_text

        return prompt_text(value)
    return None


def read_prompt_records(
    path: str | Path, need_response: bool, need_answer: bool
) -> list[dict[str, Any]]:
    """[{key, prompt, response?, gold, source}] from a traces or prompts file, checked."""
    out = []
    for position, (where, record) in enumerate(read_rows(path)):
        name = str(_first(record, ID_FIELDS) or position)
        prompt = _text(_first(record, PROMPT_FIELDS))
        if not prompt or not prompt.strip():
            raise AnchorsInputError(
                f"{where}: trace {name!r} has no prompt (expected a non-empty "
                f"field {', '.join(PROMPT_FIELDS)})"
            )
        response = _first(record, RESPONSE_FIELDS)
        if need_response and (not isinstance(response, str) or not response.strip()):
            raise AnchorsInputError(
                f"{where}: trace {name!r} has no response (expected a non-empty "
                f"field {', '.join(RESPONSE_FIELDS)})"
            )
        gold = _first(record, ANSWER_FIELDS)
        if need_answer and gold is None:
            raise AnchorsInputError(
                f"{where}: trace {name!r} has no reference answer (expected a "
                f"field {', '.join(ANSWER_FIELDS)})"
            )
        out.append(
            {
                "key": trace_key(position, name),
                "prompt": prompt,
                "response": response,
                "gold": None if gold is None else str(gold),
                "source": where,
            }
        )
    if not out:
        raise AnchorsInputError(f"{path}: no records")
    return out


def render_context(prompt: str, tokenizer: Any, task_name: str) -> str:
    """The text given to the model for a prompt: countdown prompts as they are (the world's
    models were trained on them raw); otherwise the tokenizer's chat template when it has
    one, else the prompt and a newline (`hicra.tasks.datasets.render_prompt`)."""
    if task_name == "countdown":
        return prompt
    from hicra.tasks.datasets import render_prompt

    return render_prompt(prompt, tokenizer)


def join(context: str, response: str) -> str:
    """context + response, with the one space a word-level world needs between them."""
    if not context or not response or context[-1].isspace() or response[0].isspace():
        return context + response
    return context + " " + response


def sample_base_traces(
    backend: Any,
    records: list[dict[str, Any]],
    seed: int,
    require_ending: bool = True,
    skipped: list[dict[str, Any]] | None = None,
) -> list[Trace]:
    """One sampled response per prompt record (records carry key, prompt, context, gold, source).

    A response that is empty, or (with `require_ending`) that reached the token budget without
    ending, is refused with one line naming its trace: the resampling needs traces the model
    can finish. With a `skipped` list, unended responses are appended there and left out instead.
    """
    rows = backend.sample([r["context"] for r in records], 1, seed)
    traces = []
    for record, row in zip(records, rows):
        text = row.text.strip()
        if not text:
            raise AnchorsInputError(
                f"trace {record['key']} ({record['source']}): the model produced an "
                "empty response; it cannot be analysed"
            )
        if not row.ended and skipped is not None:
            skipped.append(
                {"key": record["key"], "source": record["source"], "tokens": row.n_tokens}
            )
            continue
        if require_ending and not row.ended:
            raise AnchorsInputError(
                f"trace {record['key']} ({record['source']}): the model's response "
                f"reached --max-new-tokens ({row.n_tokens} tokens) without an "
                "end-of-sequence token; raise --max-new-tokens or check the model"
            )
        traces.append(
            Trace(
                record["key"],
                record["prompt"],
                record["context"],
                text,
                record.get("gold"),
                record["source"],
            )
        )
    return traces
