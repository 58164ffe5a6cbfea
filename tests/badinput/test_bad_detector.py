"""`hicra detector list | eval | train` on malformed labelled files, weights and options: one
line, exit 2, and the package's own weights never touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from badinput_harness import BINARY, Case, cases, check, cut_gzip, write

CHUNK = {
    "chunk": "Let me check the sum.",
    "function_tags": ["self_checking"],
    "counterfactual_importance_kl": 0.1,
}
TRACE = {
    "problem_id": 1,
    "chunks": [CHUNK, {**CHUNK, "chunk": "So it is 4.", "function_tags": ["final"]}],
}


def labelled(content=None):
    """tmp/l.jsonl: a well-formed labelled trace, or `content` (rows, text or bytes)."""

    def setup(tmp: Path, model: Path) -> None:
        if content is None or isinstance(content, list):
            rows = [TRACE] if content is None else content
            write(tmp / "l.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        else:
            write(tmp / "l.jsonl", content)

    return setup


def ev(case_id: str, args: list[str], culprit: str, setup=None) -> Case:
    return Case(
        f"detector-eval-{case_id}",
        ["detector", "eval", "{tmp}/l.jsonl", *args],
        culprit,
        setup or labelled(),
    )


def tr(case_id: str, args: list[str], culprit: str, setup=None) -> Case:
    return Case(
        f"detector-train-{case_id}",
        ["detector", "train", "{tmp}/l.jsonl", *args],
        culprit,
        setup or labelled(),
    )


def chunk(**changes):
    return [{"chunks": [{**CHUNK, **changes}]}]


CASES = cases(
    # -- the labelled file
    ev("labelled-missing", [], "{tmp}/l.jsonl", lambda t, m: None),
    ev("labelled-binary", [], "{tmp}/l.jsonl", labelled(BINARY)),
    Case(
        "detector-eval-labelled-gz-cut",
        ["detector", "eval", "{tmp}/l.jsonl.gz"],
        "{tmp}/l.jsonl.gz",
        lambda t, m: cut_gzip(t / "l.jsonl.gz", [TRACE] * 400),
    ),
    ev("labelled-empty", [], "no labelled traces", labelled("")),
    ev("labelled-not-json", [], "{tmp}/l.jsonl:1", labelled("{chunks: []}\n")),
    ev("labelled-nested-deep", [], "{tmp}/l.jsonl:1", labelled("[" * 50000 + "]" * 50000 + "\n")),
    ev("labelled-line-not-object", [], "{tmp}/l.jsonl:1", labelled([[1, 2]])),
    ev("labelled-no-chunks", [], "chunks missing", labelled([{"problem_id": 1}])),
    ev("labelled-chunks-empty", [], "chunks must be", labelled([{"chunks": []}])),
    ev(
        "labelled-chunk-field-missing",
        [],
        "chunks[0].chunk",
        labelled([{"chunks": [{"function_tags": []}]}]),
    ),
    ev("labelled-tags-not-list", [], "function_tags", labelled(chunk(function_tags=5))),
    ev("labelled-directory", [], "{tmp}/l.jsonl", lambda t, m: (t / "l.jsonl").mkdir()),
    # -- eval options
    ev("detector-unknown", ["--detector", "nope"], "--detector"),
    ev(
        "detector-weights-corrupt",
        ["--detector", "{tmp}/w.npz"],
        "{tmp}/w.npz",
        lambda t, m: (labelled()(t, m), write(t / "w.npz", BINARY)),
    ),
    ev(
        "detector-lexicon-bad",
        ["--detector", "{tmp}/lex.txt"],
        "{tmp}/lex.txt:1",
        lambda t, m: (labelled()(t, m), write(t / "lex.txt", "a\tb\tc\n")),
    ),
    ev("cv-one", ["--cv", "1", "--detector", "sentence"], "--cv"),
    ev("cv-negative", ["--cv", "-2"], "--cv"),
    ev("cv-on-lexicon", ["--cv", "3", "--detector", "lexicon"], "--cv"),
    ev("target-recall-zero", ["--cv", "3", "--target-recall", "0"], "--target-recall"),
    ev("target-recall-above-one", ["--target-recall", "1.5"], "--target-recall"),
    # -- train
    tr("package-weights-exist", [], "--force"),
    tr(
        "out-exists",
        ["--out", "{tmp}/w.npz"],
        "--force",
        lambda t, m: (labelled()(t, m), write(t / "w.npz", b"mine")),
    ),
    tr("out-is-directory", ["--out", "{tmp}"], "is a directory"),
    tr("out-not-npz", ["--out", "{tmp}/w.txt"], ".npz"),
    tr("out-under-file", ["--out", "{tmp}/l.jsonl/w.npz"], "{tmp}/l.jsonl"),
    tr("folds-one", ["--out", "{tmp}/w.npz", "--folds", "1"], "--folds"),
    tr("inner-folds-one", ["--out", "{tmp}/w.npz", "--inner-folds", "1"], "--inner-folds"),
    tr(
        "target-recall-negative",
        ["--out", "{tmp}/w.npz", "--target-recall", "-0.5"],
        "--target-recall",
    ),
    tr("labelled-binary", ["--out", "{tmp}/w.npz"], "{tmp}/l.jsonl", labelled(BINARY)),
    Case("detector-subcommand-unknown", ["detector", "tune"], "tune"),
)


@pytest.mark.parametrize("case", CASES)
def test_bad_detector_input(case, tmp_path, tiny_model_dir, capsys):
    check(case, tmp_path, tiny_model_dir, capsys)
