"""`hicra train --backend trl` end to end on a tiny local model, then `hicra analyze` on its output."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytestmark = pytest.mark.integration

CPU_FLAGS = [
    "--use_cpu",
    "--max_steps",
    "2",
    "--per_device_train_batch_size",
    "4",
    "--num_generations",
    "4",
    "--max_completion_length",
    "8",
    "--report_to",
    "none",
    "--save_strategy",
    "no",
    "--logging_steps",
    "1",
    "--disable_tqdm",
    "true",
    "--seed",
    "0",
]


def test_train_trl_math_end_to_end_then_analyze(tiny_dir, data_file, tmp_path, lexicon_file):
    from hicra.cli import main
    from hicra.runs import RunReader

    recipe = tmp_path / "recipe.yaml"
    # the old names of alpha and detector, as a recipe written before the rename has them
    recipe.write_text(
        f"credit_mode: hicra\nhicra_alpha: 0.3\nlexicon_path: {lexicon_file}\nlearning_rate: 0.01\n"
    )
    out = tmp_path / "out"
    argv = [
        "train",
        "--backend",
        "trl",
        "--model",
        str(tiny_dir),
        "--data",
        data_file,
        "--recipe",
        str(recipe),
        "--output_dir",
        str(out),
        "--instruction",
        "",
        *CPU_FLAGS,
    ]
    assert main(argv) == 0  # the real `hicra` dispatcher
    assert (out / "model.safetensors").exists()
    reader = RunReader(out / "hicra_run")
    config = reader.config()
    assert (
        config["alpha"] == 0.3
        and config["credit_mode"] == "hicra"
        and config["detector"] == lexicon_file
    )
    assert config["detector_name"] == lexicon_file  # which detector made the mask
    metrics = reader.metrics()
    assert [m["step"] for m in metrics] == [1, 2]
    assert {
        "tokens/planning_fraction",
        "entropy/all",
        "nll/all",
        "trl/rewards/math_reward/mean",
    } <= set(metrics[0])
    rows = reader.rollouts(1)
    assert (
        len(rows) == 4
        and rows[0]["prompt_id"] == "train-0"
        and rows[0]["prompt"].startswith("2 + 2 =")
    )
    assert main(argv) == 2, (
        "a second run into the same run directory is refused before loading anything"
    )

    if importlib.util.find_spec("hicra.reports") is None or not hasattr(
        importlib.import_module("hicra.reports"), "build_report"
    ):
        pytest.skip("hicra.reports is not written yet: `hicra analyze` cannot run")
    from hicra.reports.cli import analyze_main

    report = tmp_path / "report"
    assert analyze_main([str(out / "hicra_run"), "--out", str(report)]) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary


def test_train_trl_reports_a_bad_data_file(tiny_dir, tmp_path, capsys):
    from hicra.integrations.trl.cli import train_trl

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question_text": "1 + 1", "answer": "2"}) + "\n")
    code = train_trl(
        [
            "--model",
            str(tiny_dir),
            "--data",
            str(bad),
            "--output_dir",
            str(tmp_path / "o"),
            *CPU_FLAGS,
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("hicra train: ") and "bad.jsonl" in err and "prompt field" in err


def test_train_trl_requires_data_for_math(tiny_dir, tmp_path):
    from hicra.integrations.trl.cli import train_trl

    with pytest.raises(SystemExit):
        train_trl(["--model", str(tiny_dir), "--output_dir", str(tmp_path), *CPU_FLAGS])


@pytest.mark.slow
def test_train_trl_countdown_task(tmp_path):
    """The countdown world's verifier as the reward, on a tiny model with the world's vocabulary."""
    from hicra.integrations.trl.cli import train_trl
    from hicra.models import build_tiny_model, build_tokenizer
    from hicra.runs import RunReader
    from hicra.tasks.countdown import CountdownTask

    model_dir = tmp_path / "model"
    tokenizer = build_tokenizer(CountdownTask(), out_dir=model_dir)
    build_tiny_model(tokenizer, hidden=32, layers=2, heads=2, max_positions=256, out_dir=model_dir)
    out = tmp_path / "out"
    code = train_trl(
        [
            "--model",
            str(model_dir),
            "--task",
            "countdown",
            "--num_problems",
            "8",
            "--output_dir",
            str(out),
            *CPU_FLAGS,
        ]
    )
    assert code == 0
    reader = RunReader(out / "hicra_run")
    assert reader.config()["detector"].endswith("lexicon.tsv")
    assert "trl/rewards/countdown_reward/mean" in reader.metrics()[0]


@pytest.mark.slow
def test_two_processes_gather_the_global_batch(tiny_dir, data_file, tmp_path):
    """torchrun, 2 CPU processes (gloo): hicra's metrics and rollouts cover both processes' responses."""
    import os
    import subprocess
    import sys

    from hicra.runs import RunReader

    out = tmp_path / "out"
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    cmd = [
        torchrun,
        "--nproc_per_node",
        "2",
        "-m",
        "hicra.integrations.trl.cli",
        "--model",
        str(tiny_dir),
        "--data",
        data_file,
        "--output_dir",
        str(out),
        "--instruction",
        "",
        *CPU_FLAGS,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    reader = RunReader(out / "hicra_run")
    assert reader.metrics()[0]["responses"] == 8  # 2 processes x 4 completions
    rows = reader.rollouts(1)
    assert len(rows) == 8
    groups = {}
    for row in rows:
        groups.setdefault(row["group"], set()).add(row["prompt_id"])
    assert len(groups) == 2 and all(
        len(ids) == 1 for ids in groups.values()
    )  # one prompt per group of 4
