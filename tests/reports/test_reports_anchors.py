"""The thought-anchors panel: in the dynamics report (build_report(anchors=...)) and alone."""

import json
import re

import pytest
from dynamics_synthetic import write_run

from hicra.anchors.estimators import MEASURES
from hicra.anchors.summary import summarize
from hicra.errors import InputError
from hicra.lexicon import StrategicLexicon
from hicra.reports import build_report
from hicra.reports.anchors import load_summaries, write_anchors_report


def sentence(index, cls, value, move):
    return {
        "index": index,
        "class": cls,
        "role": {"move": move},
        "importance": {m: value for m in MEASURES},
    }


@pytest.fixture
def anchors_dir(tmp_path):
    results = [
        {
            "key": f"t{k}",
            "correct": k % 2 == 0,
            "sentences": [
                sentence(0, "planning", 0.8, "choose"),
                sentence(1, "execution", 0.1, "step"),
                sentence(2, "planning", 0.05, "conclude"),
            ],
        }
        for k in range(4)
    ]
    summary = summarize(results) | {"detector": "countdown lexicon", "samples": 8}
    out = tmp_path / "anchors_step100"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def test_panel_in_the_dynamics_report(tmp_path, anchors_dir):
    lexicon = StrategicLexicon.from_phrases(["wait"])
    run = write_run(tmp_path / "run", lexicon, seed=0, steps=20, turn=8)
    html = build_report([run], tmp_path / "out", lexicon=lexicon, anchors=[anchors_dir]).read_text()
    assert "Thought anchors: which sentences decide the answer" in html
    assert "anchors_step100" in html and "countdown lexicon" in html
    # pooled top 10% of 12 sentences = the 2 largest, both planning choices; 8 of 12 sentences are planning
    # mean |imp| planning (0.8 + 0.05) / 2; planning share of |imp| 0.85 / 0.95
    assert "resampling, accuracy</td><td>0.425</td><td>0.1</td><td>89%</td><td>100% [" in html
    assert "67%" in html and "choose" in html
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)


def test_standalone_page_and_missing_summary(tmp_path, anchors_dir):
    page = write_anchors_report(load_summaries([anchors_dir]), tmp_path / "page" / "report.html")
    assert "Thought anchors" in page.read_text() and (tmp_path / "page" / "anchors.png").is_file()
    with pytest.raises(InputError, match="no anchors summary"):
        load_summaries([tmp_path / "nowhere"])
