"""`hicra demo --quick`: the README's first command on a smoke-test budget, end to end."""

import json

import pytest

from hicra.demo import main, new_demo_dir


def test_demo_dirs_are_never_reused(tmp_path):
    first = new_demo_dir(tmp_path, quick=True)
    second = new_demo_dir(tmp_path, quick=True)
    assert first != second and first.is_dir() and second.is_dir()
    assert (tmp_path / "latest").resolve() == second.resolve()


@pytest.mark.integration
def test_demo_quick_writes_report_runs_and_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HICRA_CACHE", str(tmp_path / "cache"))
    assert main(["--quick", "--out", str(tmp_path / "demo")]) == 0
    out = (tmp_path / "demo" / "latest").resolve()
    assert (out / "report" / "report.html").is_file()
    assert list((out / "report").glob("*.png"))
    for arm in ("grpo", "hicra"):
        assert (out / f"{arm}.log").is_file()  # beside the run directory, never inside it
        lines = (out / arm / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
        assert json.loads((out / arm / "config.json").read_text())["credit_mode"] == arm
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["runs"]] == ["grpo", "hicra"]
    printed = capsys.readouterr().out
    assert "report:" in printed and str(out / "report" / "report.html") in printed


@pytest.mark.slow
@pytest.mark.integration
def test_demo_real_quick_on_smollm2(smollm2_dir, tmp_path, capsys):
    """`make demo-real`'s pipeline (real model, word-arith, LoRA) on a smoke budget."""
    assert (
        main(
            [
                "--quick",
                "--model",
                "smollm2-135m",
                "--task",
                "word-arith",
                "--out",
                str(tmp_path / "demo"),
            ]
        )
        == 0
    )
    out = (tmp_path / "demo" / "latest").resolve()
    assert (out / "report" / "report.html").is_file()
    for arm in ("grpo", "hicra"):
        config = json.loads((out / arm / "config.json").read_text())
        assert (
            config["model"] == "smollm2-135m"
            and config["task"] == "word-arith"
            and config["lora_rank"] == 16
        )
        assert [
            json.loads(line)["step"]
            for line in (out / arm / "metrics.jsonl").read_text().splitlines()
        ] == [1, 2]
    assert "word-arith" in capsys.readouterr().out


def test_demo_refuses_word_arith_without_a_model(tmp_path, capsys):
    assert main(["--task", "word-arith", "--out", str(tmp_path)]) == 2
    assert "needs a pretrained --model" in capsys.readouterr().err
