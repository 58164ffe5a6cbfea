"""The hicra run directory: what trainers write and `hicra analyze` reads.

    RUN/
      config.json                  the run's configuration (any JSON object)
      metrics.jsonl                one JSON object per logged step: {"step": int, "time": float, ...}
      rollouts/step_000010.parquet the responses sampled at step 10 (one file per step)

Format details (columns, types, resume rules): docs/run-directory.md. pyarrow is imported
only by the functions that read or write parquet.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hicra.errors import InputError, first_line

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
ROLLOUT_DIR = "rollouts"
_ROLLOUT_RE = re.compile(r"^step_(\d+)\.parquet$")

REQUIRED_COLUMNS = ("prompt_id", "prompt", "response", "reward", "correct")
TOKEN_COLUMNS = ("token_ids", "offsets", "logp", "entropy", "planning_mask")


MAX_STEP = 2**53
"""Steps are integers in [0, MAX_STEP): exact as float64, and far beyond any real run."""


class InputFormatError(InputError):
    """Unreadable or malformed run data (the message names the file, line and field)."""


def check_step(value: Any, where: str) -> int:
    """A record's step as an int: an integer (or integral float) in [0, MAX_STEP);
    InputFormatError naming `where` otherwise."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InputFormatError(f"{where}: step {value!r:.40} is not an integer") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputFormatError(f"{where}: step {value!r:.40} is not an integer")
    if not 0 <= value < MAX_STEP:
        raise InputFormatError(
            f"{where}: step {value} is out of range (expected 0 <= step < 2**53)"
        )
    return value


def rollout_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / ROLLOUT_DIR / f"step_{step:06d}.parquet"


def _json_value(v: Any) -> Any:
    """A metric value as JSON: numbers (numpy/torch scalars too) as float, NaN/inf as null."""
    if hasattr(v, "item") and callable(v.item):
        v = v.item()
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        v = float(v) if not isinstance(v, int) else v
        return v if not (isinstance(v, float) and not math.isfinite(v)) else None
    raise TypeError(f"metric value {v!r} ({type(v).__name__}) is not a number")


class RunWriter:
    """Writes config.json, metrics.jsonl and rollouts/ of one run.

    run_dir: the directory (created if needed). A directory that holds anything but a hicra
        run is refused (`hicra.runs.ownership`); a command decides first, with
        `claim_run_dir`, whether it may resume or replace the run there.
    config: JSON-able configuration (non-JSON values are written with str(), non-finite
        numbers as null); written with the "hicra_run" marker naming `writer`.
    resume_from_step: when resuming from a checkpoint taken at this step, keep the metrics
        of steps <= it, drop later lines and delete later rollout files (earlier files are
        never touched). None: start a new run; an existing non-empty metrics.jsonl is an
        error unless overwrite=True (then metrics and rollouts are cleared).
    writer: the command that writes the run, recorded in the marker ("hicra train").
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        config: dict,
        resume_from_step: int | None = None,
        *,
        overwrite: bool = False,
        writer: str = "hicra",
    ) -> None:
        from hicra.runs.ownership import RunDirError, inspect_dir, write_run_config

        self.run_dir = Path(run_dir)
        state = inspect_dir(self.run_dir)
        if state.kind == "file":
            raise RunDirError(f"{self.run_dir}: is a file, expected a run directory")
        if state.kind == "foreign":
            raise RunDirError(
                f"{self.run_dir}: not a hicra run directory; hicra never writes into a directory "
                "it did not create: choose a new one"
            )
        metrics = self.run_dir / METRICS_FILE
        if resume_from_step is None and metrics.exists() and metrics.stat().st_size > 0:
            if not overwrite:
                raise RunDirError(
                    f"{metrics} already holds metrics: pass resume_from_step to continue that run, "
                    "overwrite=True to replace it, or choose a new run directory"
                )
            metrics.unlink()
            for path in self._rollout_files():
                path.unlink()
        # config.json first: a directory holding anything of a run is recognisable as one
        write_run_config(self.run_dir, config, writer)
        (self.run_dir / ROLLOUT_DIR).mkdir(exist_ok=True)
        if resume_from_step is not None:
            self._truncate(resume_from_step)
        self._metrics = open(metrics, "a", encoding="utf-8")

    def _rollout_files(self) -> list[Path]:
        folder = self.run_dir / ROLLOUT_DIR
        return [p for p in folder.iterdir() if _ROLLOUT_RE.match(p.name)] if folder.is_dir() else []

    def _truncate(self, last_step: int) -> None:
        metrics = self.run_dir / METRICS_FILE
        if metrics.exists():
            kept = []
            with open(metrics, encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    try:
                        step = json.loads(line)["step"]
                    except (json.JSONDecodeError, KeyError):
                        continue  # a line cut by a crash: dropped
                    if step <= last_step:
                        kept.append(line if line.endswith("\n") else line + "\n")
            tmp = metrics.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(kept), encoding="utf-8")
            os.replace(tmp, metrics)
        for path in self._rollout_files():
            if int(_ROLLOUT_RE.match(path.name).group(1)) > last_step:
                path.unlink()

    def log_metrics(self, step: int, metrics: dict[str, Any]) -> None:
        """Append {"step": step, "time": unix seconds, **metrics} to metrics.jsonl and flush."""
        record = {"step": int(step), "time": time.time()}
        for k, v in metrics.items():
            if k in ("step", "time"):
                continue
            record[str(k)] = _json_value(v)
        self._metrics.write(json.dumps(record, allow_nan=False) + "\n")
        self._metrics.flush()

    def log_rollouts(self, step: int, records: Sequence[dict[str, Any]]) -> Path:
        """Write the step's responses to rollouts/step_XXXXXX.parquet (once per step).

        Each record needs prompt_id, prompt, response, reward, correct; token_ids, offsets
        ((start, end) per token), logp, entropy, planning_mask are optional per-token lists;
        any other scalar keys become extra columns.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = rollout_path(self.run_dir, step)
        if path.exists():
            raise FileExistsError(f"{path} exists: log_rollouts is called once per step")
        if not records:
            return path
        columns: dict[str, list] = {"step": [int(step)] * len(records)}
        keys: list[str] = []
        for rec in records:
            for k in rec:
                if k not in keys and k != "step":
                    keys.append(k)
        for i, rec in enumerate(records):
            missing = [k for k in REQUIRED_COLUMNS if k not in rec]
            if missing:
                raise ValueError(f"rollout record {i} of step {step} lacks {', '.join(missing)}")
        for k in keys:
            columns[k] = [_plain(rec.get(k)) for rec in records]
        columns["prompt_id"] = [None if v is None else str(v) for v in columns["prompt_id"]]
        types = {
            "step": pa.int64(),
            "prompt_id": pa.string(),
            "prompt": pa.string(),
            "response": pa.string(),
            "reward": pa.float64(),
            "correct": pa.bool_(),
            "token_ids": pa.list_(pa.int32()),
            "offsets": pa.list_(pa.list_(pa.int32())),
            "logp": pa.list_(pa.float32()),
            "entropy": pa.list_(pa.float32()),
            "planning_mask": pa.list_(pa.bool_()),
        }
        arrays = {}
        for k, v in columns.items():
            try:
                arrays[k] = pa.array(v, type=types.get(k))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
                raise ValueError(f"rollout column {k!r} of step {step}: {e}") from None
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(pa.table(arrays), tmp, row_group_size=1024)
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        if not self._metrics.closed:
            self._metrics.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _plain(v: Any) -> Any:
    """Tensors / numpy arrays / numpy scalars to Python lists and numbers for pyarrow."""
    if hasattr(v, "detach"):
        v = v.detach().to("cpu")
        if str(v.dtype) == "torch.bfloat16":
            v = v.float()
        v = v.numpy()
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


class RunReader:
    """Reads a run directory written by RunWriter (or by hand in the same format)."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            what = "is a file" if self.run_dir.exists() else "does not exist"
            raise InputFormatError(f"{self.run_dir}: {what}; expected a hicra run directory")
        if not (self.run_dir / METRICS_FILE).exists() and not (self.run_dir / ROLLOUT_DIR).is_dir():
            raise InputFormatError(
                f"{self.run_dir} is not a hicra run directory (no {METRICS_FILE}, no {ROLLOUT_DIR}/)"
            )

    @staticmethod
    def is_run_dir(path: str | os.PathLike) -> bool:
        p = Path(path)
        return p.is_dir() and ((p / METRICS_FILE).exists() or (p / CONFIG_FILE).exists())

    @property
    def name(self) -> str:
        return self.run_dir.name

    def config(self) -> dict:
        """The run's recorded configuration (config.json without its "hicra_run" marker)."""
        path = self.run_dir / CONFIG_FILE
        if not path.exists():
            return {}
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (
            ValueError,
            RecursionError,
        ) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise InputFormatError(f"{path}: not valid JSON ({first_line(e)})") from None
        if not isinstance(config, dict):
            raise InputFormatError(f"{path}: expected a JSON object, got {type(config).__name__}")
        config.pop("hicra_run", None)
        return config

    def metrics(self) -> list[dict[str, Any]]:
        """One dict per step, sorted by step; a step logged twice keeps its last line;
        null values read back as NaN; a final line cut by a crash is skipped."""
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return []
        by_step: dict[int, dict] = {}
        with open(path, "rb") as f:
            lines = f.readlines()
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError) as e:  # not JSON, or not UTF-8
                if i == len(lines):
                    continue
                raise InputFormatError(f"{path}:{i}: not valid JSON ({first_line(e)})") from None
            if not isinstance(rec, dict) or "step" not in rec:
                raise InputFormatError(f"{path}:{i}: expected an object with an integer 'step'")
            step = check_step(rec["step"], f"{path}:{i}")
            by_step[step] = {k: (float("nan") if v is None else v) for k, v in rec.items()} | {
                "step": step
            }
        return [by_step[s] for s in sorted(by_step)]

    def rollout_steps(self) -> list[int]:
        d = self.run_dir / ROLLOUT_DIR
        if not d.is_dir():
            return []
        return sorted(int(m.group(1)) for p in d.iterdir() if (m := _ROLLOUT_RE.match(p.name)))

    def iter_rollouts(
        self, steps: Sequence[int] | None = None, columns: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Rollout records (dicts), step by step, one parquet row group in memory at a time.

        columns: read only these (missing ones are skipped); default all.
        """
        import pyarrow.parquet as pq

        for step in self.rollout_steps() if steps is None else steps:
            path = rollout_path(self.run_dir, step)
            try:
                pf = pq.ParquetFile(path)
                cols = (
                    None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
                )
                batches = pf.iter_batches(batch_size=1024, columns=cols)
                for batch in batches:
                    yield from batch.to_pylist()
            except (
                OSError
            ) as e:  # pyarrow's ArrowInvalid / ArrowIOError are OSErrors or ValueErrors
                raise InputFormatError(
                    f"{path}: not a readable parquet file ({first_line(e)})"
                ) from None
            except ValueError as e:
                if isinstance(e, InputError):
                    raise
                raise InputFormatError(
                    f"{path}: not a readable parquet file ({first_line(e)})"
                ) from None

    def rollouts(self, step: int) -> list[dict[str, Any]]:
        return list(self.iter_rollouts([step]))
