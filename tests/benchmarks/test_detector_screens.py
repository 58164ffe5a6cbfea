"""detector_screens.py refuses unusable labelled files in one line (the screens themselves take
about 13 minutes and run in benchmarks, not here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import detector_screens  # noqa: E402


def _refused(capsys, argv) -> str:
    with pytest.raises(SystemExit) as stop:
        detector_screens.main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_a_missing_file_is_refused_in_one_line(capsys, tmp_path):
    line = _refused(capsys, ["--data", str(tmp_path / "none.jsonl")])
    assert "none.jsonl: cannot read labelled file" in line


def test_a_missing_field_names_the_line(capsys, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"chunks": [{"chunk": "Let me try."}]}) + "\n")
    assert "bad.jsonl:1: field chunks[0].function_tags missing" in _refused(
        capsys, ["--data", str(path)]
    )


def test_fewer_than_three_problems_are_refused(capsys, tmp_path):
    chunk = {"chunk": "Let me try.", "function_tags": ["plan_generation"]}
    chunk["counterfactual_importance_kl"] = 0.1
    path = tmp_path / "two.jsonl"
    path.write_text(
        "".join(json.dumps({"problem_id": k, "chunks": [chunk]}) + "\n" for k in ("a", "b"))
    )
    assert "needs traces of at least 3 problems, found 2" in _refused(capsys, ["--data", str(path)])
