"""The bad-input harness: run `hicra ...` in-process on a malformed input, then check what a
user sees and that nothing on disk moved.

A `Case` is an argv (with ``{tmp}`` for the case's own directory and ``{model}`` for a pristine
tiny checkpoint), a `setup(tmp, model)` that writes the malformed inputs, and the culprit: a
text the one-line message must contain (the option, field, file or line). `check` asserts:

1. exit status 2 (SystemExit from argparse counts);
2. stderr is exactly one non-empty line, starting with ``hicra `` and containing the culprit;
   no traceback anywhere;
3. every file and directory under ``{tmp}`` and ``{model}`` is unchanged (SHA-256, size and
   mtime), and nothing was added or removed: no run directory, no config.json, no report.

``{model}`` is tests/conftest.py's session checkpoint `tiny_model_dir` (a random tiny Llama).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

Setup = Callable[[Path, Path], None]


@dataclass
class Case:
    id: str
    argv: list[str]
    culprit: str
    setup: Setup | None = None
    code: int = 2
    chdir: bool = False  # run from inside {tmp} (for relative paths)
    marks: list[Any] = field(default_factory=list)

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


def cases(*items: Case) -> list:
    ids = [c.id for c in items]
    assert len(ids) == len(set(ids)), (
        f"duplicate case ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    )
    return [c.param() for c in items]


# ---- snapshot ---------------------------------------------------------------------------------


def snapshot(*roots: Path) -> dict[str, tuple]:
    """path -> (kind, size, mtime_ns, sha256) of everything under the roots."""
    out: dict[str, tuple] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames:
                p = Path(dirpath, name)
                out[str(p)] = ("dir", p.stat().st_mtime_ns)
            for name in filenames:
                p = Path(dirpath, name)
                st = p.lstat()
                digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
                out[str(p)] = ("file", st.st_size, st.st_mtime_ns, digest)
    return out


def diff(before: dict, after: dict) -> list[str]:
    changes = [f"removed {p}" for p in before if p not in after]
    changes += [f"added {p}" for p in after if p not in before]
    changes += [f"changed {p}" for p in before if p in after and before[p] != after[p]]
    return sorted(changes)


# ---- running ----------------------------------------------------------------------------------


def fill(text: str, tmp: Path, model: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{model}", str(model))


def invoke(argv: list[str], capsys) -> tuple[int, str, str]:
    """`hicra.cli.main(argv)` in-process: (exit status, stdout, stderr)."""
    from hicra.cli import main

    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def console_script() -> list[str]:
    """The installed `hicra` script beside this interpreter (else the same entry point run by
    this interpreter, as a pip install would generate it)."""
    script = Path(sys.executable).with_name("hicra")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from hicra.cli import main; sys.exit(main())"]


def invoke_subprocess(argv: list[str]) -> tuple[int, str, str]:
    """`hicra ARGV` in a fresh process (the import path of this one, so it runs this code)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        console_script() + argv, capture_output=True, text=True, env=env, timeout=300
    )
    return done.returncode, done.stdout, done.stderr


def check(case: Case, tmp: Path, model: Path, capsys=None) -> str:
    """Run the case (in-process with `capsys`, else through the console script) and assert
    the three promises of the module docstring; returns the message line."""
    if case.setup is not None:
        case.setup(tmp, model)
    argv = [fill(a, tmp, model) for a in case.argv]
    culprit = fill(case.culprit, tmp, model)
    before = snapshot(tmp, model)
    cwd = os.getcwd()
    if case.chdir:
        tmp.mkdir(parents=True, exist_ok=True)
        os.chdir(tmp)
    try:
        code, out, err = invoke(argv, capsys) if capsys is not None else invoke_subprocess(argv)
    finally:
        os.chdir(cwd)
    shown = f"argv: {argv}\nstdout: {out[-2000:]}\nstderr: {err[-4000:]}"
    assert "Traceback" not in out + err, shown
    assert code == case.code, shown
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr\n{shown}"
    assert lines[0].startswith("hicra "), shown
    assert culprit in lines[0], f"culprit {culprit!r} not named\n{shown}"
    changes = diff(before, snapshot(tmp, model))
    assert not changes, f"files changed: {changes[:10]}\n{shown}"
    return lines[0]


# ---- input builders ---------------------------------------------------------------------------


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[Any]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


def cut_gzip(path: Path, rows: list[Any]) -> Path:
    """A .jsonl.gz cut in the middle (a download or copy that stopped)."""
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    return write(path, data[: len(data) // 2])


BINARY = bytes(range(256)) * 64 + b"\x89PNG\r\n\x1a\n\xff\xfe" * 50
"""Bytes that are no text in any encoding a user would pick: not UTF-8, with NULs."""

TRACES = [
    {
        "step": s,
        "completion": f"Let me try again with a different approach {s}.",
        "reward": 1.0,
        "correct": True,
        "prompt_id": str(s % 2),
    }
    for s in range(1, 4)
]
"""A well-formed dump that the analysis reads (malformed variants change one thing)."""


def copy_model(src: Path, dst: Path, corrupt: Callable[[Path], None] | None = None) -> Path:
    shutil.copytree(src, dst)
    if corrupt is not None:
        corrupt(dst)
    return dst


def edit_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def foreign_dir(path: Path) -> Path:
    """Someone's experiment directory that looks like a run: metrics, config, rollouts."""
    write(path / "metrics.jsonl", '{"step": 1, "loss": 0.5}\n')
    write(path / "config.json", '{"lr": 0.001, "note": "my own experiment"}\n')
    write(path / "rollouts" / "step_000001.parquet", b"PAR1 not hicra's")
    return path


def hicra_run(path: Path, config: dict, writer: str = "hicra train", steps: int = 1) -> Path:
    """A hicra run directory as RunWriter leaves it (config.json with the marker, metrics)."""
    write(
        path / "config.json", json.dumps({**config, "hicra_run": {"format": 1, "writer": writer}})
    )
    write(
        path / "metrics.jsonl",
        "".join(
            json.dumps({"step": s, "time": 0.0, "accuracy": 0.5}) + "\n"
            for s in range(1, steps + 1)
        ),
    )
    (path / "rollouts").mkdir(exist_ok=True)
    return path


def lexicon_file(path: Path, lines: list[str]) -> Path:
    return write(path, "\n".join(lines) + "\n")
