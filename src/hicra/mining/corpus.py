"""Reading a corpus of solutions for mining and quality checks.

A corpus is one or more files of records: JSONL (optionally ``.gz``), a JSON list, or
parquet. Each record gives a text field and, optionally, a correctness field; where the
correctness field is present only successful solutions are kept (the paper mines
*successful* solutions). Field names may be dotted paths into nested records (``a.b``), and a
list value stands for its first element, so the shared traces read with
``text_field="code", correct_field="score"`` (``code`` = [trace], ``score`` = [bool]).
Plain ``.txt`` files hold one document per non-empty line.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hicra.errors import InputError, first_line


class CorpusError(InputError):
    """Bad corpus input; the message names the file, line and field."""


@dataclass
class CorpusStats:
    """What reading kept and dropped."""

    n_records: int = 0
    """Records read across all files."""
    n_kept: int = 0
    """Records kept (texts returned)."""
    n_incorrect: int = 0
    """Records dropped because their correctness field was false."""
    n_with_correct_field: int = 0
    """Records in which the correctness field was present."""
    n_empty: int = 0
    """Records dropped because their text was empty."""
    files: list[str] = field(default_factory=list)
    """The files read, in order."""


def _lookup(record: dict, path: str):
    """Value at a dotted path; lists stand for their first element. KeyError when absent."""
    value = record
    for key in path.split("."):
        while isinstance(value, list):
            if not value:
                raise KeyError(path)
            value = value[0]
        if not isinstance(value, dict) or key not in value:
            raise KeyError(path)
        value = value[key]
    while isinstance(value, list):
        if not value:
            raise KeyError(path)
        value = value[0]
    return value


def _records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number or row index starting at 1, record) of one file; a file that is not what
    its name says (binary, cut .gz, not parquet, not JSON) is a CorpusError naming it."""
    if path.is_dir():
        raise CorpusError(
            f"{path}: is a directory; expected a corpus file (.jsonl, .jsonl.gz, .json, .parquet, .txt)"
        )
    try:
        yield from _raw_records(path)
    except UnicodeDecodeError:
        raise CorpusError(
            f"{path}: not UTF-8 text (a binary file?); expected .jsonl, .jsonl.gz, .json, "
            ".parquet or .txt"
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise CorpusError(f"{path}: gzip data cut short or corrupt ({first_line(e)})") from None
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise CorpusError(f"{path}: JSON nested too deeply") from None
    except (OSError, ValueError) as e:  # pyarrow's errors on a file that is not parquet
        if isinstance(e, InputError):
            raise
        raise CorpusError(f"{path}: not readable ({first_line(e)})") from None


def _raw_records(path: Path) -> Iterator[tuple[int, dict]]:
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), 1):
            yield i, row
        return
    opener = gzip.open if name.endswith(".gz") else open
    stem = name[:-3] if name.endswith(".gz") else name
    with opener(path, "rt", encoding="utf-8") as f:
        if stem.endswith(".json"):
            data = json.load(f)
            if not isinstance(data, list):
                raise CorpusError(f"{path}: expected a JSON list of records")
            yield from enumerate(data, 1)
        elif stem.endswith(".txt"):
            for i, line in enumerate(f, 1):
                if line.strip():
                    yield i, {"text": line}
        else:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield i, json.loads(line)
                except json.JSONDecodeError as e:
                    raise CorpusError(f"{path}:{i}: not valid JSON ({e.msg})") from None


def _is_correct(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    if value is None:
        return False
    raise CorpusError(f"{where}: expected a bool, a number or a list of one, got {value!r:.60}")


def iter_texts(
    paths: list[str | Path],
    text_field: str = "text",
    correct_field: str | None = "correct",
    stats: CorpusStats | None = None,
    group_field: str | None = None,
) -> Iterator[tuple[str, object]]:
    """(text, group) of every kept record; group is the value of ``group_field`` (or None).

    Same rules as `read_texts`; a record without ``group_field`` is an error.
    """
    stats = stats if stats is not None else CorpusStats()
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise CorpusError(f"{path}: no such file")
        stats.files.append(str(path))
        for line, record in _records(path):
            where = f"{path}:{line}"
            stats.n_records += 1
            if not isinstance(record, dict):
                raise CorpusError(f"{where}: expected a JSON object per record")
            try:
                text = _lookup(record, text_field)
            except KeyError:
                raise CorpusError(
                    f"{where}: field {text_field!r} missing (fields: {sorted(record)[:12]})"
                ) from None
            if not isinstance(text, str):
                raise CorpusError(f"{where}: field {text_field!r} is not a string")
            if correct_field:
                try:
                    correct = _lookup(record, correct_field)
                except KeyError:
                    pass
                else:
                    stats.n_with_correct_field += 1
                    if not _is_correct(correct, f"{where}: field {correct_field!r}"):
                        stats.n_incorrect += 1
                        continue
            if not text.strip():
                stats.n_empty += 1
                continue
            group = None
            if group_field:
                try:
                    group = _lookup(record, group_field)
                except KeyError:
                    raise CorpusError(f"{where}: field {group_field!r} missing") from None
            stats.n_kept += 1
            yield text, group


def read_texts(
    paths: list[str | Path],
    text_field: str = "text",
    correct_field: str | None = "correct",
    stats: CorpusStats | None = None,
) -> list[str]:
    """Texts of every record, successful ones only where ``correct_field`` is present.

    ``correct_field=None`` keeps every record. A record without ``text_field`` (or whose text
    is not a string) is an error naming the file, line and field.
    """
    return [text for text, _ in iter_texts(paths, text_field, correct_field, stats)]
