"""`hicra train` through the real dispatcher on the real countdown world (random tiny model)."""

import json

from hicra.cli import main


def test_hicra_train_builtin_on_countdown(tiny_model_dir, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--backend",
            "builtin",
            "--model",
            str(tiny_model_dir),
            "--steps",
            "1",
            "--prompts-per-step",
            "2",
            "--samples-per-prompt",
            "2",
            "--max-new-tokens",
            "8",
            "--run-dir",
            str(run),
            "--no-progress",
        ]
    )
    assert code == 0
    metrics = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert metrics["step"] == 1 and "task/exec_error_rate" in metrics and "accuracy" in metrics
    assert str(run) in capsys.readouterr().out


def test_hicra_train_reports_bad_input_in_one_line(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: m\nsteps: many\n")
    code = main(["train", "--config", str(recipe)])
    err = capsys.readouterr().err
    assert code == 2 and "r.yaml" in err and "steps" in err
