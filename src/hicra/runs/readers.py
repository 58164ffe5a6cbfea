"""Streaming readers for rollout data: hicra run directories, verl dumps, plain JSONL/parquet.

Every reader yields *records*: plain dicts with `step` (int) and `response` (str), and when the
data has them `prompt`, `prompt_id`, `reward`, `correct`, `truncated` and the per-token lists
`logp`, `entropy`, `planning_mask`, `offsets`. Files are read line by line (JSONL, gzip too) or
row group by row group (parquet), so a 10 GB dump is never in memory; `progress=True` shows a
tqdm bar over bytes (or row groups) on stderr.

Formats (docs/analyze.md):
- hicra: RUN/rollouts/step_XXXXXX.parquet (docs/run-directory.md).
- verl: the files `trainer.rollout_data_dir` writes, `<step>.jsonl`, one JSON object per
  response with `input` (decoded prompt), `output` (decoded response), `score`, `step`, and
  whatever the reward function added (`acc` is read as correctness when present).
- jsonl: .jsonl / .jsonl.gz / .parquet files (or a directory of them) with a step field and a
  completion field (names configurable with `FieldMap`).
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hicra.errors import first_line
from hicra.runs.rundir import InputFormatError, RunReader, check_step, rollout_path

FORMATS = ("auto", "hicra", "verl", "jsonl")
_VERL_FILE = re.compile(r"^(\d+)\.jsonl$")
_DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")


@dataclass(frozen=True)
class FieldMap:
    """Field names of a plain JSONL/parquet dump (`hicra analyze --field-<name>`).

    A comma-separated value lists alternatives tried in order.
    """

    step: str = "step,global_step,iteration"
    """The training step (an integer)."""
    response: str = "completion,response,output,text"
    """The generated text."""
    prompt: str = "prompt,input,question"
    """The prompt text (optional; also the pass@k group when prompt_id is absent)."""
    prompt_id: str = "prompt_id,uid,index,group"
    """The prompt's id (optional; groups the G responses of one prompt for pass@k)."""
    reward: str = "reward,score"
    """The scalar reward (optional)."""
    correct: str = "correct,acc,is_correct"
    """Whether the answer is right (optional; bool, or a number > 0 means correct)."""
    truncated: str = "truncated,clipped"
    """Whether the response hit the length limit (optional)."""

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


_TOKEN_KEYS = ("logp", "entropy", "planning_mask", "offsets", "token_ids")


def detect_format(path: Path) -> str:
    """'hicra', 'verl' or 'jsonl' from what is at `path`."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(f"{path}: no such file or directory")
    if path.is_file():
        return "jsonl"
    if RunReader.is_run_dir(path) or (path / "rollouts").is_dir():
        return "hicra"
    names = [p.name for p in path.iterdir()]
    if any(_VERL_FILE.match(n) for n in names):
        return "verl"
    if any(n.endswith(_DATA_SUFFIXES) for n in names):
        return "jsonl"
    raise InputFormatError(
        f"{path}: neither a hicra run directory, a verl rollout_data_dir nor JSONL/parquet files"
    )


def _correct_value(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v > 0 if v == v else None  # NaN: unknown
    if isinstance(v, (list, tuple)) and len(v) == 1:  # e.g. `score: [true]` of some dumps
        return _correct_value(v[0])
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    return None


def _first(obj: dict, names: str) -> tuple[str | None, Any]:
    for name in names.split(","):
        name = name.strip()
        if name in obj:
            return name, obj[name]
    return None, None


def to_record(obj: dict, fields_: FieldMap, where: str) -> dict[str, Any]:
    """One raw row -> a record; `where` ("file:line") names the row in errors."""
    if not isinstance(obj, dict):
        raise InputFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    _, step = _first(obj, fields_.step)
    if step is None:
        raise InputFormatError(f"{where}: no step field (tried {fields_.step}; set --field-step)")
    step = check_step(step, where)
    _, response = _first(obj, fields_.response)
    if isinstance(response, list) and response and isinstance(response[-1], dict):
        response = response[-1].get("content")  # chat-format completions: the last message
    if not isinstance(response, str):
        raise InputFormatError(
            f"{where}: no text response field (tried {fields_.response}; set --field-response)"
        )
    rec: dict[str, Any] = {"step": step, "response": response}
    _, prompt = _first(obj, fields_.prompt)
    if isinstance(prompt, str):
        rec["prompt"] = prompt
    _, pid = _first(obj, fields_.prompt_id)
    if pid is not None:
        rec["prompt_id"] = str(pid)
    elif isinstance(prompt, str):
        rec["prompt_id"] = prompt
    name, reward = _first(obj, fields_.reward)
    if isinstance(reward, (list, tuple)) and len(reward) == 1:
        reward = reward[0]
    if reward is not None:
        if isinstance(reward, bool):
            reward = float(reward)
        try:
            rec["reward"] = float(reward)
        except (TypeError, ValueError, OverflowError):
            raise InputFormatError(f"{where}: {name} {reward!r:.40} is not a number") from None
    _, correct = _first(obj, fields_.correct)
    if _correct_value(correct) is not None:
        rec["correct"] = _correct_value(correct)
    _, truncated = _first(obj, fields_.truncated)
    if _correct_value(truncated) is not None:
        rec["truncated"] = _correct_value(truncated)
    rec.update(token_columns(obj, where))
    return rec


def token_columns(obj: dict, where: str) -> dict[str, Any]:
    """The per-token lists of a row (`_TOKEN_KEYS`) as arrays, checked: logp / entropy numbers,
    planning_mask booleans (or 0/1), offsets (start, end) pairs, token_ids integers, all of one
    length; InputFormatError naming the row and field otherwise."""
    import numpy as np

    out: dict[str, Any] = {}
    length = None
    for key in _TOKEN_KEYS:
        value = obj.get(key)
        if value is None:
            continue
        if hasattr(value, "tolist"):
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            raise InputFormatError(
                f"{where}: field {key!r} must be a list (one entry per token), "
                f"got {type(value).__name__}"
            )
        try:
            array = np.asarray(
                value, dtype=np.int64 if key in ("offsets", "token_ids") else np.float64
            )
        except (TypeError, ValueError, OverflowError):
            array = None
        shape_ok = array is not None and (
            array.shape == (len(value), 2) if key == "offsets" else array.ndim == 1
        )
        if not shape_ok and not (array is not None and len(value) == 0):
            kind = {
                "offsets": "[start, end] pairs",
                "token_ids": "integers",
                "planning_mask": "booleans",
            }.get(key, "numbers")
            raise InputFormatError(f"{where}: field {key!r} must be a list of {kind}")
        if key == "planning_mask":
            if array.size and not np.isin(array, (0.0, 1.0)).all():
                raise InputFormatError(
                    f"{where}: field 'planning_mask' must hold booleans (or 0/1)"
                )
            array = array.astype(bool)
        if length is not None and len(array) != length:
            raise InputFormatError(
                f"{where}: field {key!r} has {len(array)} entries, other per-token fields {length}"
            )
        length = len(array)
        out[key] = array
    return out


def _data_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(_DATA_SUFFIXES))
    if not files:
        raise InputFormatError(f"{path}: no .jsonl, .jsonl.gz or .parquet files")
    return files


class _Progress:
    """One tqdm bar (stderr) over the bytes of all files of an input; a no-op when disabled."""

    def __init__(self, files: list[Path], desc: str, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            total = sum(f.stat().st_size for f in files)
            self.bar = tqdm(
                total=total,
                desc=desc,
                unit="B",
                unit_scale=True,
                file=sys.stderr,
                mininterval=0.5,
                leave=False,
            )

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def iter_jsonl_file(
    path: Path, fields_: FieldMap, progress: _Progress | None = None
) -> Iterator[dict[str, Any]]:
    """Records of one .jsonl / .jsonl.gz / .json (JSON lines) file, one line at a time."""
    with open(path, "rb") as raw:
        f = gzip.open(raw) if path.name.endswith(".gz") else raw
        last = 0
        number = 0
        lines = iter(f)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                break
            except (EOFError, OSError, zlib.error) as e:  # a cut or corrupt .gz
                raise InputFormatError(
                    f"{path}:{number + 1}: gzip data cut short or corrupt ({first_line(e)})"
                ) from None
            number += 1
            if progress is not None and number % 256 == 0:
                pos = raw.tell()
                progress.update(pos - last)
                last = pos
            if not line.strip():
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as e:
                raise InputFormatError(
                    f"{path}:{number}: not UTF-8 text (byte {line[e.start]:#04x} at "
                    f"column {e.start + 1}); expected JSON lines"
                ) from None
            except (ValueError, RecursionError) as e:  # not JSON, nested too deep
                hint = "; expected JSON lines, one object per line" if number == 1 else ""
                raise InputFormatError(
                    f"{path}:{number}: not valid JSON ({first_line(e)}){hint}"
                ) from None
            yield to_record(obj, fields_, f"{path}:{number}")
        if progress is not None:
            progress.update(path.stat().st_size - last)


def iter_parquet_file(
    path: Path, fields_: FieldMap, progress: _Progress | None = None
) -> Iterator[dict[str, Any]]:
    """Records of one parquet file, one batch of rows at a time."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise InputFormatError(f"{path}: not a readable parquet file ({e})") from None
    rows, size = max(pf.metadata.num_rows, 1), path.stat().st_size
    row = 0
    batches = pf.iter_batches(batch_size=2048)
    while True:
        try:
            batch = next(batches)
            objs = batch.to_pylist()
        except StopIteration:
            break
        except (OSError, ValueError) as e:  # pyarrow's errors on a cut or corrupt file
            raise InputFormatError(
                f"{path}: unreadable after row {row} ({first_line(e)})"
            ) from None
        for obj in objs:
            row += 1
            yield to_record(obj, fields_, f"{path}:row {row}")
        if progress is not None:
            progress.update(int(size * batch.num_rows / rows))


def _iter_files(
    files: list[Path], fields_: FieldMap, desc: str, progress: bool
) -> Iterator[dict[str, Any]]:
    bar = _Progress(files, desc, progress)
    try:
        for file in files:
            reader = iter_parquet_file if file.suffix == ".parquet" else iter_jsonl_file
            yield from reader(file, fields_, bar)
    finally:
        bar.close()


def iter_plain(
    path: Path, fields_: FieldMap = FieldMap(), progress: bool = False
) -> Iterator[dict[str, Any]]:
    """Records of a plain JSONL/parquet file or of every such file in a directory."""
    path = Path(path)
    return _iter_files(_data_files(path), fields_, path.name, progress)


VERL_FIELDS = FieldMap(
    step="step",
    response="output",
    prompt="input",
    prompt_id="uid,index",
    reward="score",
    correct="acc,correct",
)
"""How verl 0.9's `_dump_generations` names its fields (plus common reward extras)."""


def iter_verl(path: Path, progress: bool = False) -> Iterator[dict[str, Any]]:
    """Records of a verl `trainer.rollout_data_dir`: files `<step>.jsonl`, in step order."""
    path = Path(path)
    if not path.is_dir():
        raise InputFormatError(
            f"{path}: --format verl reads a directory (verl's trainer.rollout_data_dir "
            "of <step>.jsonl files), not a file"
        )
    files = sorted((int(m.group(1)), p) for p in path.iterdir() if (m := _VERL_FILE.match(p.name)))
    if not files:
        raise InputFormatError(f"{path}: no <step>.jsonl files (verl trainer.rollout_data_dir)")
    yield from _iter_files([f for _, f in files], VERL_FIELDS, path.name, progress)


def iter_hicra(path: Path, progress: bool = False) -> Iterator[dict[str, Any]]:
    """Records of a hicra run directory's rollouts/ (none when it logged no rollouts)."""
    reader = RunReader(path)
    steps = reader.rollout_steps()
    files = [rollout_path(Path(path), s) for s in steps]
    bar = _Progress(files, f"{Path(path).name} rollouts", progress)
    try:
        for step, file in zip(steps, files):
            for row, rec in enumerate(reader.iter_rollouts([step]), 1):
                yield _hicra_record(rec, step, f"{file}:row {row}")
            bar.update(file.stat().st_size)
    finally:
        bar.close()


def _hicra_record(rec: dict[str, Any], step: int, where: str) -> dict[str, Any]:
    """A row of a run's rollouts/ parquet, checked like the rows of any other dump."""
    if not isinstance(rec.get("response"), str):
        raise InputFormatError(f"{where}: no text 'response' column")
    rec["step"] = check_step(rec["step"], where) if rec.get("step") is not None else step
    reward = rec.get("reward")
    if reward is not None and not isinstance(reward, (int, float)):
        raise InputFormatError(f"{where}: reward {reward!r:.40} is not a number")
    rec.update(token_columns(rec, where))
    return rec


def iter_records(
    path: Path, fmt: str = "auto", fields_: FieldMap = FieldMap(), progress: bool = False
) -> Iterable[dict[str, Any]]:
    """Records of any supported input (fmt: one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if not path.exists():
        raise InputFormatError(f"{path}: no such file or directory")
    if fmt == "hicra":
        return iter_hicra(path, progress)
    if fmt == "verl":
        return iter_verl(path, progress)
    return iter_plain(path, fields_, progress)
