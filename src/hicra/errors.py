"""What a user can get wrong, as one exception type, and how every command reports it.

`InputError` is a bad option, config field, file or directory. Its message is one line that
names the culprit (``--lr``, ``recipe.yaml: field 'steps'``, ``dump.jsonl:12``) and says what
was expected. Every hicra command runs through `run_command`, which prints such an error as

    hicra train: lr (--lr): expected a finite number > 0, got inf

and exits with status 2. An `OSError` that names a file (permission denied, not a directory,
disk full) is reported the same way: the file and the system's reason. Anything else is a bug
and keeps its traceback; ``HICRA_DEBUG=1`` shows the traceback of input errors too.

The readers' own error types (`hicra.tasks.datasets.DatasetError`,
`hicra.runs.InputFormatError`, `hicra.mining.corpus.CorpusError`, the lexicon's
`LexiconFormatError`) are `InputError`s, so a command never catches them one by one.

    >>> check_number("lr", float("inf"), low=0, low_open=True)
    Traceback (most recent call last):
    ...
    hicra.errors.InputError: lr: expected a finite number > 0, got inf
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable
from typing import Any

MAX_MESSAGE = 600
"""Characters of a message shown (a value's repr can be megabytes long)."""


class InputError(ValueError):
    """Bad user input; the message is one line naming the option, field, file or line."""


def one_line(message: object, limit: int = MAX_MESSAGE) -> str:
    """`message` as a single line of at most `limit` characters (whitespace runs collapsed)."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_repr(value: Any, limit: int = 60) -> str:
    """repr(value), cut to `limit` characters: for values quoted in messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when empty), for
    errors of third-party libraries whose messages run over several lines."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> Any:
    """`value` when it is a finite number (an int when `integer`) inside the bounds; otherwise
    an InputError "NAME: expected ..., got VALUE". Bools are not numbers here; None passes
    only when `optional`.

    >>> check_number("steps", 10, integer=True, low=0)
    10
    >>> check_number("alpha", 2.0, low=-1, high=1)
    Traceback (most recent call last):
    ...
    hicra.errors.InputError: alpha: expected a finite number in [-1, 1], got 2.0
    """
    if value is None and optional:
        return value
    kind = "an integer" if integer else "a finite number"
    show = (lambda x: str(x)) if integer else (lambda x: f"{x:g}")
    parts = []
    if low is not None and high is not None:
        parts.append(
            f"in {'(' if low_open else '['}{show(low)}, {show(high)}{')' if high_open else ']'}"
        )
    elif low is not None:
        parts.append(f"{'>' if low_open else '>='} {show(low)}")
    elif high is not None:
        parts.append(f"{'<' if high_open else '<='} {show(high)}")
    expected = " ".join([kind, *parts]) + (" (or none)" if optional else "")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, int)
    if ok and isinstance(value, float):
        ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise InputError(f"{name}: expected {expected}, got {short_repr(value)}")
    return value


def _message(error: BaseException) -> str | None:
    """The one-line report of a user-facing error; None for anything else (a bug)."""
    if isinstance(error, InputError):
        return one_line(error)
    if isinstance(error, OSError) and getattr(error, "filename", None) is not None:
        reason = error.strerror or first_line(error)
        target = (
            f"{error.filename} -> {error.filename2}" if error.filename2 else f"{error.filename}"
        )
        return one_line(f"{target}: {reason}")
    return None


def run_command(prog: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """func(*args, **kwargs) as a command: its exit code, or 2 with one line on stderr for an
    input error.

    >>> def bad(argv):
    ...     raise InputError("--steps: expected an integer >= 0, got -1")
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     code = run_command("hicra train", bad, [])
    >>> code, err.getvalue()
    (2, 'hicra train: --steps: expected an integer >= 0, got -1\\n')
    """
    try:
        return int(func(*args, **kwargs) or 0)
    except (InputError, OSError) as error:
        message = _message(error)
        if message is None or os.environ.get("HICRA_DEBUG"):
            raise
        print(f"{prog}: {message}", file=sys.stderr)
        return 2


def command(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorator: run a command's entry point through `run_command` (so it can be called
    directly, from `python -m`, or from the `hicra` dispatcher, with the same reporting)."""

    def wrap(func: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(func)
        def main(*args: Any, **kwargs: Any) -> int:
            return run_command(prog, func, *args, **kwargs)

        return main

    return wrap
