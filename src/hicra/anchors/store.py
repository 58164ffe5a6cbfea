"""The output directory of `hicra anchors`, written so that a stopped run resumes.

    OUT/config.json                      what produced the results (checked on resume)
    OUT/base_traces.jsonl                the traces analysed (sampled or read), in order
    OUT/resamples/<trace>/b<i>.json      the continuations of sentence boundary i
                                         (i = before sentence i; i = n: after the last one)
    OUT/traces/<trace>.json              the trace's sentences with classes and importances
    OUT/summary.json, OUT/report.html    the summary over all traces, and its page

Every file is written to a temporary name and renamed, so an interrupted run leaves whole
files only; a rerun skips every boundary and trace already on disk. A rerun whose settings
differ from OUT/config.json in anything that changes results is refused (`--force` starts
over, deleting the earlier results); --out follows the ownership rule of run directories
(`hicra.runs.ownership`, docs/run-directory.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# settings that do not change results: a rerun may differ in these
NOT_IN_KEY = ("device", "backend")  # resuming on another machine is allowed
WRITER = "hicra anchors"
OUTPUTS = (
    "resamples",
    "traces",
    "base_traces.jsonl",
    "summary.json",
    "report.html",
    "skipped_traces.json",
)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, allow_nan=True)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class AnchorsStore:
    """Paths and resume bookkeeping of one output directory."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def traces_path(self) -> Path:
        return self.root / "base_traces.jsonl"

    def boundary_path(self, key: str, boundary: int) -> Path:
        return self.root / "resamples" / key / f"b{boundary:04d}.json"

    def trace_path(self, key: str) -> Path:
        return self.root / "traces" / f"{key}.json"

    def claim(self, config: dict[str, Any], force: bool, model: str | None = None):
        """What this run may do with the directory (`hicra.runs.ownership.claim_run_dir`, nothing
        written): resume an earlier run of the same settings, replace one with `force`, refuse
        anything else (a directory hicra did not write, another command's, the model's)."""
        from hicra.runs.ownership import claim_run_dir

        mine = {k: v for k, v in config.items() if k not in NOT_IN_KEY}
        return claim_run_dir(
            self.root,
            mine,
            writer=WRITER,
            resume=not force,
            force=force,
            protect={"--model": model},
            what="--out",
        )

    def open(self, config: dict[str, Any], decision) -> None:
        """Start or resume as `claim` decided: clear the earlier results when replacing them,
        then write config.json (with the marker of `hicra.runs.ownership`)."""
        from hicra.runs.ownership import clear_run, write_run_config

        if decision.action == "replace":
            clear_run(self.root, extra=OUTPUTS)
        write_run_config(self.root, config, WRITER)

    def save_traces(self, traces: list[dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".base_traces.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for trace in traces:
                handle.write(json.dumps(trace) + "\n")
        os.replace(tmp, self.traces_path)

    def load_traces(self) -> list[dict[str, Any]] | None:
        if not self.traces_path.exists():
            return None
        with open(self.traces_path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def done_boundaries(self, key: str) -> set[int]:
        folder = self.root / "resamples" / key
        if not folder.is_dir():
            return set()
        return {int(p.stem[1:]) for p in folder.glob("b*.json")}
