"""hicra.runs.ownership: the table of docs/run-directory.md, case by case, on real directories."""

from __future__ import annotations

import json

import pytest

from hicra.errors import InputError
from hicra.runs import RunReader, RunWriter
from hicra.runs.ownership import (
    MARKER,
    check_apart,
    claim_run_dir,
    clear_run,
    inspect_dir,
    is_hicra_run,
    write_run_config,
)

OPTIONS = {"lr": 1e-4, "seed": 0, "steps": 10}


def run(path, options=OPTIONS, steps=2, writer="hicra train"):
    with RunWriter(path, dict(options), writer=writer) as w:
        for s in range(1, steps + 1):
            w.log_metrics(s, {"accuracy": 0.5})
        w.log_rollouts(
            1, [{"prompt_id": "0", "prompt": "p", "response": "r", "reward": 1.0, "correct": True}]
        )
    return path


def claim(path, **kw):
    return claim_run_dir(path, OPTIONS, writer="hicra train", ignore={"steps"}, **kw)


def test_absent_and_empty_directories_are_created(tmp_path):
    assert claim(tmp_path / "new").action == "create"
    (tmp_path / "empty").mkdir()
    assert claim(tmp_path / "empty").action == "create"
    (tmp_path / "leftover").mkdir()  # a first write killed between its .tmp and the rename
    (tmp_path / "leftover" / "config.json.tmp").write_text("{")
    assert claim(tmp_path / "leftover").action == "create"
    assert not (tmp_path / "new").exists()  # claiming writes nothing


def test_the_same_run_is_resumed_run_control_options_may_change(tmp_path):
    path = run(tmp_path / "r")
    decision = claim_run_dir(path, OPTIONS | {"steps": 99}, writer="hicra train", ignore={"steps"})
    assert decision.action == "resume" and decision.saved["lr"] == 1e-4


def test_other_options_are_refused_with_or_without_checkpoint_and_replaced_with_force(tmp_path):
    path = run(tmp_path / "r")
    with pytest.raises(InputError, match=r"lr: 0\.0001 -> 0\.5"):
        claim_run_dir(path, OPTIONS | {"lr": 0.5}, writer="hicra train")
    assert (
        claim_run_dir(path, OPTIONS | {"lr": 0.5}, writer="hicra train", force=True).action
        == "replace"
    )


def test_no_resume_clears_only_with_force(tmp_path):
    path = run(tmp_path / "r")
    with pytest.raises(InputError, match="--no-resume would delete it"):
        claim(path, resume=False)
    assert claim(path, resume=False, force=True).action == "replace"
    bare = tmp_path / "bare"  # a run killed before it logged anything: nothing to lose
    write_run_config(bare, OPTIONS, "hicra train")
    assert claim(bare, resume=False).action == "replace"


@pytest.mark.parametrize("force", [False, True])
def test_foreign_directories_and_other_commands_outputs_are_never_taken(tmp_path, force):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "metrics.jsonl").write_text('{"step": 1}\n')
    (foreign / "config.json").write_text('{"lr": 0.1}')
    with pytest.raises(InputError, match="not a hicra run directory"):
        claim(foreign, force=force)
    with pytest.raises(InputError, match="not a hicra run"):
        clear_run(foreign)
    assert (foreign / "metrics.jsonl").exists()
    other = run(tmp_path / "eval", writer="hicra eval")
    with pytest.raises(InputError, match="'hicra eval'"):
        claim(other, force=force)


def test_model_directories_are_never_written(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (tmp_path / "link").symlink_to(model)
    for target, relation in (
        (model, "is the"),
        (model / "rl", "is inside"),
        (tmp_path, "contains"),
        (tmp_path / "link", "is the"),
    ):
        with pytest.raises(InputError, match=relation):
            check_apart(target, {"--model": model}, "--run-dir")
    check_apart(tmp_path / "elsewhere", {"--model": model}, "--run-dir")


def test_clear_run_deletes_the_run_and_keeps_what_a_user_added(tmp_path):
    path = run(tmp_path / "r")
    (path / "checkpoints" / "step_000002").mkdir(parents=True)
    (path / "notes.txt").write_text("mine")
    clear_run(path)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "notes.txt"]
    assert claim(path, force=True).action == "resume"  # still a hicra run, now without data


def test_config_is_written_first_strict_json_with_the_marker(tmp_path):
    path = tmp_path / "r"
    RunWriter(path, {"lr": float("nan"), "betas": (0.9, float("inf"))}).close()
    text = (path / "config.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    saved = json.loads(text)
    assert saved["lr"] is None and saved["betas"] == [0.9, None] and saved[MARKER]["format"] == 1
    assert RunReader(path).config() == {"lr": None, "betas": [0.9, None]}
    assert inspect_dir(path).kind == "run" and is_hicra_run(saved)


def test_runs_recorded_before_the_marker_are_still_recognised():
    assert is_hicra_run({"run_dir": "runs/x", "credit_mode": "hicra", "samples_per_prompt": 8})
    assert is_hicra_run({"write_run_dir": True, "output_dir": "out"})
    assert not is_hicra_run({"lr": 0.1, "run_dir": "x"})


def test_a_run_recorded_before_the_marker_belongs_to_the_command_that_wrote_it(tmp_path):
    anchors = {
        "model": "m",
        "source": "t.jsonl",
        "samples": 20,
        "similarity_threshold": 0.8,
        "kl_smoothing": 1e-9,
    }
    (tmp_path / "config.json").write_text(json.dumps(anchors))
    (tmp_path / "traces").mkdir()
    with pytest.raises(InputError, match="holds the output of 'hicra anchors'"):
        claim_run_dir(tmp_path, OPTIONS, writer="hicra train", force=True)
    mine = {k: anchors[k] for k in ("model", "samples")}
    assert claim_run_dir(tmp_path, mine, writer="hicra anchors").action == "resume"
