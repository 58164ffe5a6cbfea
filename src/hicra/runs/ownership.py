"""Which directories hicra may write into: the one rule behind every command that writes a run.

A directory is a *hicra run* when its config.json carries the marker that `RunWriter` writes,
``"hicra_run": {"format": 1, "writer": "hicra train"}`` (runs written before the marker are
recognised by the fields their trainer recorded, see `is_hicra_run`). Then, for a command
about to write to DIR (`claim_run_dir`):

| DIR                                        | without --force        | with --force           |
|--------------------------------------------|------------------------|------------------------|
| absent, or an empty directory              | created / used         | created / used         |
| a hicra run with the same recorded options | resumed                | resumed                |
| the same, with --no-resume                 | refused                | cleared, started again |
| a hicra run with other options             | refused (names them)   | cleared, started again |
| the output of another hicra command        | refused                | refused                |
| anything else (someone's files), a file    | refused                | refused                |
| equal to, inside or containing a model     | refused                | refused                |
| not writable                               | refused                | refused                |

The options compared are the ones that decide the result (the trainer leaves out run-control
fields such as `steps` or `device`); they are compared whether or not a checkpoint exists.
Clearing deletes only the files a run consists of (`RUN_FILES`); anything else a user put in
the directory stays. Every refusal is an `InputError`: one line, exit status 2. Nothing is
written by `claim_run_dir`: the caller writes (through `RunWriter`) once its inputs have
loaded. docs/run-directory.md has the rule with its reasons.

    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> claim_run_dir(run, {"lr": 1e-4}, writer="hicra train").action
    'create'
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hicra.errors import InputError, short_repr

MARKER = "hicra_run"
FORMAT = 1
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
# What a hicra run consists of: clearing deletes these, and keeps config.json (the marker) for
# the command that replaces the run to overwrite, so that a directory holding a user's own
# files as well stays recognisable as a hicra run, even if the clearing is interrupted.
RUN_FILES = (METRICS_FILE, "rollouts", "checkpoints", "tensorboard")
# Left by a first write that was interrupted (config.json is written to a .tmp, then renamed).
_LEFTOVERS = (CONFIG_FILE + ".tmp",)
# Fields by which runs recorded before the marker are recognised (built-in trainer, TRL
# adapter, eval, anchors).
_LEGACY_KEYS = (  # (fields, the command that wrote them)
    ({"run_dir", "credit_mode", "samples_per_prompt"}, "hicra train"),
    ({"run_dir", "lexicon", "samples_per_prompt"}, "hicra train"),
    ({"write_run_dir", "output_dir"}, "hicra train --backend trl"),
    ({"model", "data", "n", "top_p", "timeout_s"}, "hicra eval"),
    ({"model", "source", "samples", "similarity_threshold", "kl_smoothing"}, "hicra anchors"),
)


class RunDirError(InputError, FileExistsError):
    """A directory hicra refuses to write into (an InputError, and a FileExistsError for
    callers of `RunWriter` that catch that)."""


def marker(writer: str) -> dict[str, Any]:
    """The value of config.json's "hicra_run" key for a run written by `writer`."""
    return {"format": FORMAT, "writer": writer}


def is_hicra_run(config: Any) -> bool:
    """Whether a parsed config.json is that of a hicra run (the marker, or a run recorded
    before the marker existed by the built-in trainer or the TRL adapter)."""
    if not isinstance(config, dict):
        return False
    if isinstance(config.get(MARKER), dict):
        return True
    return legacy_writer(config) is not None


def legacy_writer(config: Mapping[str, Any]) -> str | None:
    """The command that wrote a config.json recorded before the marker (None: not a run)."""
    return next((w for keys, w in _LEGACY_KEYS if keys <= set(config)), None)


@dataclass(frozen=True)
class DirState:
    """What is at a path: kind is "absent", "empty", "run" (a hicra run), "foreign" (a
    non-empty directory that is not a hicra run) or "file"; config: a run's config.json;
    entries: the names in the directory."""

    path: Path
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    entries: tuple[str, ...] = ()

    def holds_data(self) -> bool:
        """Whether the run logged anything (metrics, rollouts or checkpoints)."""
        metrics = self.path / METRICS_FILE
        if metrics.is_file() and metrics.stat().st_size > 0:
            return True
        return any(
            (self.path / name).is_dir() and any((self.path / name).iterdir())
            for name in ("rollouts", "checkpoints")
        )

    def describe(self) -> str:
        """A few words on what the run holds: "metrics up to step 40, checkpoints 20, 40"."""
        parts = []
        last = _last_step(self.path / METRICS_FILE)
        if last is not None:
            parts.append(f"metrics up to step {last}")
        ckpt = self.path / "checkpoints"
        steps = (
            sorted(
                p.name.removeprefix("step_").lstrip("0") or "0"
                for p in ckpt.iterdir()
                if p.name.startswith("step_") and p.is_dir()
            )
            if ckpt.is_dir()
            else []
        )
        if steps:
            parts.append(f"checkpoint(s) at step {', '.join(steps[-3:])}")
        return ", ".join(parts) or "a config.json only"


def inspect_dir(path: str | os.PathLike) -> DirState:
    """The `DirState` of `path` (reads config.json; never writes)."""
    path = Path(path)
    if not path.exists():
        return DirState(path, "absent")
    if not path.is_dir():
        return DirState(path, "file")
    try:
        entries = tuple(sorted(p.name for p in path.iterdir() if p.name not in _LEFTOVERS))
    except PermissionError as err:
        raise InputError(f"{path}: cannot list the directory ({err.strerror})") from None
    if not entries:
        return DirState(path, "empty")
    config = _read_config(path / CONFIG_FILE)
    if config is not None and is_hicra_run(config):
        return DirState(path, "run", config, entries)
    return DirState(path, "foreign", {}, entries)


def _read_config(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # absent, unreadable, not JSON, not UTF-8
        return None
    return data if isinstance(data, dict) else None


def _last_step(metrics: Path) -> int | None:
    last = None
    try:
        with open(metrics, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    step = json.loads(line).get("step")
                except (ValueError, AttributeError, RecursionError):
                    continue
                if isinstance(step, int):
                    last = step if last is None else max(last, step)
    except OSError:
        return None
    return last


@dataclass(frozen=True)
class Claim:
    """What a command may do with its directory: "create" (absent or empty: start there),
    "resume" (the same run: continue it) or "replace" (--force: clear the run, start again).
    saved: the run's recorded config.json ({} unless resuming or replacing)."""

    path: Path
    action: str
    saved: dict[str, Any] = field(default_factory=dict)


def check_apart(
    path: str | os.PathLike, protected: Mapping[str, str | os.PathLike | None], what: str
) -> None:
    """InputError when `path` is, is inside, or contains one of the protected directories
    (name -> path; e.g. {"--model": "runs/sft"}): hicra never writes into a model directory."""
    target = Path(path).expanduser().resolve()
    for name, other in protected.items():
        if other is None or str(other) == "":
            continue
        other_path = Path(other).expanduser()
        if not other_path.exists():
            continue
        other_path = other_path.resolve()
        if target == other_path:
            relation = "is"
        elif target.is_relative_to(other_path):
            relation = "is inside"
        elif other_path.is_relative_to(target):
            relation = "contains"
        else:
            continue
        raise RunDirError(
            f"{what} {path}: {relation} the model directory {other} ({name}); "
            "hicra never writes into a model directory: choose another"
        )


def check_writable(path: str | os.PathLike, what: str) -> None:
    """InputError unless `path` (or, when absent, its nearest existing parent) is a directory
    this process may write to."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        if probe == path:
            raise RunDirError(f"{what} {path}: is a file, expected a directory")
        raise RunDirError(f"{what} {path}: cannot be created: {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunDirError(f"{what} {path}: not writable ({probe}: permission denied)")


def differences(
    saved: Mapping[str, Any], options: Mapping[str, Any], ignore: Iterable[str] = ()
) -> list[str]:
    """ "name: saved -> now" for each option recorded in both with different values."""
    skip = set(ignore) | {MARKER}
    now = json.loads(json.dumps(dict(options), default=str))
    return [
        f"{k}: {short_repr(saved[k], 40)} -> {short_repr(now[k], 40)}"
        for k in sorted(now)
        if k not in skip and k in saved and saved[k] != now[k]
    ]


def claim_run_dir(
    path: str | os.PathLike,
    options: Mapping[str, Any],
    *,
    writer: str,
    resume: bool = True,
    force: bool = False,
    ignore: Iterable[str] = (),
    protect: Mapping[str, str | os.PathLike | None] | None = None,
    what: str = "--run-dir",
) -> Claim:
    """Decide what a command writing a run to `path` may do (the table of the module
    docstring); an InputError naming the directory and the way out when it may not.

    options: the options that decide the run's result, as its config.json records them
    (compared with the recorded ones except `ignore`); writer: the command ("hicra train");
    resume: continue a matching run (False: start it again, which needs `force` when it
    logged anything); protect: directories never written to ({"--model": path}).
    """
    path = Path(path)
    check_apart(path, protect or {}, what)
    check_writable(path, what)
    state = inspect_dir(path)
    if state.kind in ("absent", "empty"):
        return Claim(path, "create")
    if state.kind == "foreign":
        shown = ", ".join(state.entries[:4]) + (", ..." if len(state.entries) > 4 else "")
        raise RunDirError(
            f"{what} {path}: not a hicra run directory (it holds {shown}); hicra never writes into "
            "or clears a directory it did not create, even with --force: choose a new one"
        )
    saved = state.config
    saved_writer = (
        saved[MARKER].get("writer", writer)
        if isinstance(saved.get(MARKER), dict)
        else legacy_writer(saved)
    )
    if saved_writer != writer:
        raise RunDirError(
            f"{what} {path}: holds the output of {saved_writer!r}, not of {writer!r}; use a new "
            f"{what} (--force never replaces another command's directory)"
        )
    changed = differences(saved, options, ignore)
    if changed:
        if force:
            return Claim(path, "replace", saved)
        raise RunDirError(
            f"{what} {path}: holds another hicra run ({'; '.join(changed[:6])}"
            f"{'; ...' if len(changed) > 6 else ''}); use a new {what}, or --force to replace it"
        )
    if resume:
        return Claim(path, "resume", saved)
    if not state.holds_data():
        return Claim(path, "replace", saved)
    if force:
        return Claim(path, "replace", saved)
    raise RunDirError(
        f"{what} {path}: holds this run already ({state.describe()}); --no-resume would delete it: "
        "pass --force to start it again, or leave out --no-resume to continue it"
    )


def write_run_config(path: str | os.PathLike, config: Mapping[str, Any], writer: str) -> Path:
    """Write DIR/config.json atomically (a .tmp file renamed into place), with the marker
    naming `writer`; strict JSON: a non-finite number is written as null. Creates DIR."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    record = {**finite_json(dict(config)), MARKER: marker(writer)}
    tmp = path / (CONFIG_FILE + ".tmp")
    tmp.write_text(
        json.dumps(record, indent=2, sort_keys=True, default=str, allow_nan=False) + "\n"
    )
    os.replace(tmp, path / CONFIG_FILE)
    return path / CONFIG_FILE


def finite_json(value: Any) -> Any:
    """`value` with every non-finite float replaced by None, so that it is strict JSON (json.dumps
    would write a bare NaN, which JSON does not allow)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def clear_run(path: str | os.PathLike, extra: Iterable[str] = ()) -> None:
    """Delete the files of the hicra run at `path` (`RUN_FILES`, and the names in `extra`
    that the writing command adds, e.g. eval's samples/), nothing else; config.json stays
    until the replacing run writes its own. Refuses a directory that is not a hicra run."""
    path = Path(path)
    state = inspect_dir(path)
    if state.kind in ("absent", "empty"):
        return
    if state.kind != "run":
        raise RunDirError(f"{path}: not a hicra run directory; not cleared")
    for name in (*extra, *RUN_FILES):
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
