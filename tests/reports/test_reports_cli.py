"""`hicra analyze` end to end: synthetic run directories, a verl dump, checkpoints."""

import json

import pytest
from dynamics_synthetic import write_run, write_verl

from hicra.cli import main
from hicra.lexicon import StrategicLexicon


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    lexicon = StrategicLexicon.default()
    return write_run(base / "hicra", lexicon, seed=0), write_run(
        base / "grpo", lexicon, seed=1, explore=False
    )


@pytest.mark.integration
def test_analyze_two_runs_json_and_report(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["analyze", str(runs[0]), str(runs[1]), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert [r["name"] for r in summary["runs"]] == ["hicra", "grpo"]
    hicra = summary["runs"][0]
    assert hicra["phases"]["kind"] == "two_phase"
    # the execution NLL falls linearly to step 20, so its relative perplexity exp(nll - nll_0)
    # has done three quarters of its fall (the end of consolidation) at step 14
    assert abs(hicra["phases"]["transition_step"] - 14) <= 5
    assert abs(hicra["phases"]["evidence"]["consolidation_corner"]["step"] - 20) <= 6
    assert hicra["phases"]["evidence"]["share_of_drop_before_turn"] > 0.8
    assert hicra["final"]["accuracy"] > summary["runs"][1]["final"]["accuracy"]
    assert "rel_perplexity/execution" in hicra["final"] and hicra["missing"] == {}
    assert summary["runs"][1]["phases"]["kind"] != "two_phase"
    assert "phases: two_phase" in captured.err and "report:" in captured.err
    page = (out / "report.html").read_text()
    assert (
        page.count("data:image/png;base64,") >= 2
        and "<mark" in page
        and "task/exec_error_rate" in page
    )
    for png in ("dynamics", "perplexity", "entropy", "semantic", "length_accuracy", "extras"):
        assert (out / f"{png}.png").stat().st_size > 10_000
    assert json.loads((out / "summary.json").read_text()) == summary


@pytest.mark.integration
def test_analyze_verl_dump_text_summary(tmp_path, capsys):
    dump = write_verl(tmp_path / "verl", steps=range(1, 13))
    assert main(["analyze", str(dump), "--out", str(tmp_path / "o"), "--name", "verl-run"]) == 0
    text = capsys.readouterr().out
    assert "verl-run [verl] steps 1..12" in text
    assert "missing relative perplexity by class" in text and "text-only" in text


@pytest.mark.integration
def test_analyze_too_short_run_is_inconclusive_saying_why(tmp_path, capsys):
    run = write_run(tmp_path / "short", StrategicLexicon.default(), steps=6, turn=3)
    assert main(["analyze", str(run), "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "phases: inconclusive, transition step -" in text
    notes = [line for line in text.splitlines() if "note:" in line]
    assert notes == [
        "  note: too few logged steps for a turn: 6 seen in the execution/exploration series, "
        "at least 10 needed"
    ]
    assert "consolidation ends" not in text and "exploration starts" not in text


def test_analyze_bad_input_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"completion": "a"}\n')
    assert main(["analyze", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hicra analyze:") and "x.jsonl:1" in err and "\n" not in err


@pytest.mark.slow  # imports transformers and samples two tiny models: ~20 s on a busy machine
@pytest.mark.integration
def test_analyze_checkpoints(tmp_path, capsys):
    from hicra.models import build_tiny_model, build_tokenizer

    texts = ["wait let me check 2 + 3 = 5 so the answer is 5", "alternatively 4 * 2 = 8 but wait"]
    for step in (0, 50):
        tok = build_tokenizer(texts, out_dir=tmp_path / f"checkpoint-{step}")
        build_tiny_model(
            tok, hidden=16, layers=1, heads=2, seed=step, out_dir=tmp_path / f"checkpoint-{step}"
        )
    (tmp_path / "prompts.jsonl").write_text(
        '{"prompt": "2 + 3 =", "answer": "5"}\n{"question": "4 * 2 ="}\n'
    )
    args = [
        "analyze",
        str(tmp_path / "checkpoint-50"),
        str(tmp_path / "checkpoint-0"),
        "--prompts",
        str(tmp_path / "prompts.jsonl"),
        "--out",
        str(tmp_path / "o"),
        "--samples",
        "2",
        "--max-new-tokens",
        "6",
        "--json",
    ]
    assert main(args) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    assert run["steps"] == [0, 50]
    final = run["final"]
    for key in (
        "rel_perplexity/execution",
        "entropy/execution",
        "entropy/planning",
        "semantic/entropy",
        "length/mean",
        "length/truncated_frac",
    ):
        assert key in final
    assert final["entropy/execution"] > 0


def test_progress_bar_on_stderr_when_asked(tmp_path, capsys):
    from hicra.dynamics.analysis import analyze_run

    path = tmp_path / "d.jsonl"
    path.write_text(
        "".join(f'{{"step": {i // 300}, "completion": "but wait {i}"}}\n' for i in range(3000))
    )
    analyze_run(path, progress=True)
    err = capsys.readouterr().err
    assert "d.jsonl" in err and "B/s" in err
