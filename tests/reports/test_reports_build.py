"""build_report: self-contained page, overlaid runs, missing-metric notes, highlighting."""

import re

import pytest
from dynamics_synthetic import write_run

from hicra.dynamics.analysis import analyze_run
from hicra.lexicon import StrategicLexicon
from hicra.reports import build_report
from hicra.reports.figures import extra_keys
from hicra.reports.html import highlight


@pytest.fixture(scope="module")
def lexicon():
    return StrategicLexicon.from_phrases(
        ["wait", "but wait", "let me check"], ["backtracing", "backtracing", "check"]
    )


def test_report_from_paths_and_analyses(tmp_path, lexicon):
    a = write_run(tmp_path / "run", lexicon, seed=0, steps=30, turn=10)
    b = write_run(tmp_path / "other" / "run", lexicon, seed=1, steps=30, turn=10, explore=False)
    analysed = analyze_run(b, lexicon=lexicon)
    page = build_report(
        [a, analysed], tmp_path / "out", "GRPO vs HICRA", lexicon=lexicon, separate_panels=False
    )
    html = page.read_text()
    assert "<title>GRPO vs HICRA</title>" in html
    # self-contained: every image is inline, nothing is fetched
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)
    assert "run (2)" in html  # two runs named `run` are told apart
    assert "backtrack/rate" in html and "Example responses" in html
    assert {p.name for p in (tmp_path / "out").glob("*.png")} >= {"dynamics.png", "extras.png"}


def test_text_only_report_states_missing_metrics(tmp_path, lexicon):
    path = tmp_path / "d.jsonl"
    path.write_text(
        "".join(f'{{"step": {s}, "completion": "but wait <b>{s}</b>"}}\n' for s in range(3))
    )
    html = build_report(
        [path], tmp_path / "out", lexicon=lexicon, separate_panels=False
    ).read_text()
    assert "Missing metrics" in html and "no per-token log-probs" in html
    assert "&lt;b&gt;2&lt;/b&gt;" in html  # response text is escaped


def test_highlight_marks_grams_and_escapes(lexicon):
    out = highlight("x<y, but wait & let me check", lexicon)
    assert (
        out.startswith("x&lt;y, ") and '<mark title="but wait (backtracing)">but wait</mark>' in out
    )
    assert "&amp;" in out and out.count("<mark") == 2


def test_extra_keys_pick_diagnostics(tmp_path, lexicon):
    run = analyze_run(write_run(tmp_path / "r", lexicon, steps=12, turn=4), lexicon=lexicon)
    keys = extra_keys([run])
    assert "task/exec_error_rate" in keys and "backtrack/rate" in keys and "accuracy" not in keys
