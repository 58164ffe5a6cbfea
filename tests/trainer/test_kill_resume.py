"""kill -9 at random moments, then `hicra train` again until done: the result is bit-identical
to an uninterrupted run (slow: several real processes)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def argv(model: Path, run: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from hicra.cli import main; sys.exit(main())",
        "train",
        "--model",
        str(model),
        "--run-dir",
        str(run),
        "--steps",
        "8",
        "--prompts-per-step",
        "3",
        "--samples-per-prompt",
        "4",
        "--max-new-tokens",
        "12",
        "--lr",
        "1e-3",
        "--checkpoint-every",
        "2",
        "--rollouts-per-step",
        "4",
        "--threads",
        "1",
        "--no-progress",
    ]


def metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time" and not k.startswith("time/")} for r in rows]


def test_kill_at_random_moments_then_resume_is_bit_identical(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    from hicra.trainer.checkpoint import list_checkpoints

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    start = time.monotonic()
    subprocess.run(
        argv(tiny_model_dir, straight), env=env, check=True, capture_output=True, timeout=900
    )
    duration = time.monotonic() - start  # start-up included: kills land in imports, steps and saves
    rng = random.Random(0)
    kills = 0
    for attempt in range(7):  # six kills at random moments, then a run left to finish
        proc = subprocess.Popen(
            argv(tiny_model_dir, killed), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            code = proc.wait(timeout=rng.uniform(0.3, 0.95) * duration if attempt < 6 else 900)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        assert code == 0, proc.stderr.read().decode()[-2000:]
        break
    assert kills >= 2, "fewer than two kills landed during the run"
    a = load_file(str(list_checkpoints(straight)[-1][1] / "model.safetensors"))
    b = load_file(str(list_checkpoints(killed)[-1][1] / "model.safetensors"))
    assert all(bool((a[k] == b[k]).all()) for k in a)
    assert metrics(straight) == metrics(killed)
