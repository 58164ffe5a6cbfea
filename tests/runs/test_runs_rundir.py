"""RunWriter -> RunReader round trips and resume truncation."""

import json
import math

import numpy as np
import pytest
import torch

from hicra.runs import RunReader, RunWriter
from hicra.runs.rundir import rollout_path


def _records(step, n=3):
    return [
        {
            "prompt_id": f"p{i}",
            "prompt": "2+2?",
            "response": f"step {step}: wait, 4",
            "reward": float(i),
            "correct": i % 2 == 0,
            "token_ids": torch.tensor([1, 2, 3]),
            "offsets": [[0, 4], [4, 5], [5, 7]],
            "logp": np.array([-0.1, -0.2, -0.3]),
            "entropy": [0.5, 0.6, 0.7],
            "planning_mask": [True, False, False],
            "truncated": False,
        }
        for i in range(n)
    ]


def test_round_trip(tmp_path):
    with RunWriter(tmp_path / "run", {"lr": 1e-6, "path": tmp_path}) as w:
        for step in range(3):
            w.log_metrics(step, {"accuracy": np.float32(0.5), "nll/planning": float("nan"), "n": 3})
            w.log_rollouts(step, _records(step))
    r = RunReader(tmp_path / "run")
    assert r.config()["lr"] == 1e-6
    rows = r.metrics()
    assert [m["step"] for m in rows] == [0, 1, 2]
    assert rows[0]["accuracy"] == 0.5 and math.isnan(rows[0]["nll/planning"]) and rows[0]["n"] == 3
    assert r.rollout_steps() == [0, 1, 2]
    recs = r.rollouts(1)
    assert len(recs) == 3 and recs[0]["step"] == 1 and recs[0]["prompt_id"] == "p0"
    assert recs[0]["token_ids"] == [1, 2, 3] and recs[0]["offsets"][1] == [4, 5]
    assert recs[0]["logp"] == pytest.approx([-0.1, -0.2, -0.3])
    assert recs[0]["planning_mask"] == [True, False, False] and recs[1]["truncated"] is False
    only = list(r.iter_rollouts([2], columns=["response", "reward", "absent"]))
    assert set(only[0]) == {"response", "reward"}


def test_resume_truncates_later_steps_only(tmp_path):
    run = tmp_path / "run"
    w = RunWriter(run, {})
    for step in range(5):
        w.log_metrics(step, {"x": step})
        w.log_rollouts(step, _records(step, 1))
    w.close()
    early = rollout_path(run, 1)
    mtime = early.stat().st_mtime_ns
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 9, "x"')  # a line cut by a crash
    w = RunWriter(run, {"resumed": True}, resume_from_step=2)
    w.log_metrics(3, {"x": 30})
    w.close()
    r = RunReader(run)
    assert [(m["step"], m["x"]) for m in r.metrics()] == [(0, 0), (1, 1), (2, 2), (3, 30)]
    assert r.rollout_steps() == [0, 1, 2]
    assert early.stat().st_mtime_ns == mtime
    assert r.config() == {"resumed": True}


def test_new_run_refuses_to_clobber(tmp_path):
    w = RunWriter(tmp_path, {})
    w.log_metrics(0, {"x": 1})
    w.log_rollouts(0, _records(0, 1))
    w.close()
    with pytest.raises(FileExistsError, match="resume_from_step"):
        RunWriter(tmp_path, {})
    RunWriter(tmp_path, {}, overwrite=True).close()
    assert RunReader(tmp_path).metrics() == [] and RunReader(tmp_path).rollout_steps() == []


def test_bad_input_errors(tmp_path):
    w = RunWriter(tmp_path, {})
    with pytest.raises(ValueError, match="lacks correct"):
        w.log_rollouts(0, [{"prompt_id": 1, "prompt": "", "response": "", "reward": 0.0}])
    with pytest.raises(TypeError, match="not a number"):
        w.log_metrics(0, {"x": [1, 2]})
    w.log_rollouts(1, _records(1, 1))
    with pytest.raises(FileExistsError, match="once per step"):
        w.log_rollouts(1, _records(1, 1))
    w.close()
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\nnot json\n{"step": 1}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        RunReader(tmp_path).metrics()


def test_metrics_lines_are_plain_json(tmp_path):
    with RunWriter(tmp_path, {}) as w:
        w.log_metrics(7, {"a": float("inf")})
    line = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert line["step"] == 7 and line["a"] is None and "time" in line


def test_old_import_path_warns_and_still_works():
    import hicra.dynamics

    with pytest.warns(DeprecationWarning, match="hicra.runs.RunWriter"):
        writer_class = hicra.dynamics.RunWriter
    assert writer_class is RunWriter
