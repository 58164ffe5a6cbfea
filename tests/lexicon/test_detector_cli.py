"""`hicra detector list | eval | train`: output, and one clear line with exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hicra.cli import main
from hicra.lexicon.sentence_detector import package_weights_path

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "thought_anchors_dev.jsonl.gz"


def _labelled(tmp_path, drop: str | None = None) -> Path:
    chunks = [
        {
            "chunk": "Let me try another approach.",
            "function_tags": ["plan_generation"],
            "counterfactual_importance_kl": 2.0,
        },
        {
            "chunk": "So 3 + 4 = 7.",
            "function_tags": ["active_computation"],
            "counterfactual_importance_kl": 0.1,
        },
    ]
    bad = [dict(chunks[0]), dict(chunks[1])]
    if drop:
        bad[1].pop(drop)
    path = tmp_path / "labelled.jsonl"
    path.write_text(
        json.dumps({"problem_id": "a", "chunks": chunks})
        + "\n"
        + json.dumps({"problem_id": "b", "chunks": bad})
        + "\n"
    )
    return path


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_names_every_detector(capsys):
    code, out, _ = _run(["detector", "list"], capsys)
    assert code == 0 and all(name in out for name in ("lexicon-clause", "sentence", "recommended"))


@pytest.mark.parametrize("name", ["lexicon", "lexicon-clause", "sentence", "recommended"])
def test_eval_prints_the_figures(tmp_path, capsys, name):
    code, out, _ = _run(
        ["detector", "eval", str(_labelled(tmp_path)), "--detector", name, "--json"], capsys
    )
    result = json.loads(out)
    assert code == 0 and result["sentences"] == 4 and result["detector"] == name
    assert set(result["share_by_tag"]) == {"plan_generation", "active_computation"}


def test_unknown_detector_lists_the_known_ones(tmp_path, capsys):
    code, _, err = _run(
        ["detector", "eval", str(_labelled(tmp_path)), "--detector", "nope"], capsys
    )
    assert code == 2 and err.count("\n") == 1 and "lexicon-clause" in err and "sentence" in err


def test_missing_field_names_file_line_field(tmp_path, capsys):
    path = _labelled(tmp_path, drop="function_tags")
    code, _, err = _run(["detector", "eval", str(path), "--detector", "lexicon"], capsys)
    assert code == 2 and err.strip().endswith(f"{path}:2: field chunks[1].function_tags missing")


@pytest.mark.parametrize("command", ["eval", "train"])
def test_training_needs_two_problems(tmp_path, capsys, command):
    """Folds group traces by problem: one problem gets one line and exit 2, nothing written."""
    path = _labelled(tmp_path)
    path.write_text(path.read_text().replace('"problem_id": "b"', '"problem_id": "a"'))
    out = tmp_path / "new.npz"
    extra = ["--cv", "2"] if command == "eval" else ["--out", str(out)]
    code, _, err = _run(["detector", command, str(path), *extra], capsys)
    assert code == 2 and err.count("\n") == 1 and "at least 2 problems" in err
    assert not out.exists()


def test_corrupt_weights_name_the_file_and_the_command(tmp_path, capsys):
    weights = tmp_path / "head.npz"
    weights.write_bytes(b"\x00garbage")
    code, _, err = _run(
        ["detector", "eval", str(_labelled(tmp_path)), "--detector", str(weights)], capsys
    )
    assert (
        code == 2 and err.count("\n") == 1 and str(weights) in err and "hicra detector train" in err
    )


def test_train_never_overwrites_without_force(tmp_path, capsys):
    before = package_weights_path().read_bytes()
    code, _, err = _run(["detector", "train", str(_labelled(tmp_path))], capsys)
    assert code == 2 and "--force" in err and package_weights_path().read_bytes() == before
    existing = tmp_path / "mine.npz"
    existing.write_bytes(b"keep me")
    code, _, err = _run(
        ["detector", "train", str(_labelled(tmp_path)), "--out", str(existing)], capsys
    )
    assert code == 2 and existing.read_bytes() == b"keep me"


@pytest.mark.slow
@pytest.mark.skipif(not DEV.exists(), reason="../shared/data/thought_anchors_dev.jsonl.gz absent")
def test_train_then_eval_a_new_head(tmp_path, capsys):
    """The real recipe end to end (distils the static MiniLM on first use: ~1 min of one core)."""
    out = tmp_path / "head.npz"
    code, text, _ = _run(
        ["detector", "train", str(DEV), "--out", str(out), "--folds", "2", "--inner-folds", "2"],
        capsys,
    )
    assert code == 0 and out.exists() and "precision" in text
    code, text, _ = _run(["detector", "eval", str(DEV), "--detector", str(out), "--json"], capsys)
    assert code == 0 and json.loads(text)["precision"] > 0.6
