"""`hicra lexicon mine | compare | placebo | drop | sensitivity` and `hicra tag` on malformed
corpora, lexicons, tokenizers, options and outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput_harness import BINARY, Case, cases, check, cut_gzip, jsonl, lexicon_file, write

DOCS = [
    {"text": f"first we compute the sum, then let me check the result {i}", "correct": True}
    for i in range(4)
]


def corpus(tmp: Path, model: Path) -> None:
    jsonl(tmp / "corpus.jsonl", DOCS)
    lexicon_file(tmp / "lex.txt", ["let me check", "first we"])


def also(*steps):
    """corpus() and then the given edits."""

    def setup(tmp: Path, model: Path) -> None:
        corpus(tmp, model)
        for step in steps:
            step(tmp)

    return setup


MINE = [
    "lexicon",
    "mine",
    "{tmp}/corpus.jsonl",
    "--out",
    "{tmp}/mined.txt",
    "--quiet",
    "--no-cache",
]


def mine(case_id: str, args: list[str], culprit: str, setup=corpus) -> Case:
    return Case(f"mine-{case_id}", MINE + args, culprit, setup)


def mine_on(case_id: str, name: str, content, culprit: str) -> Case:
    def setup(tmp: Path, model: Path) -> None:
        corpus(tmp, model)
        if callable(content):
            content(tmp / name)
        elif isinstance(content, list):
            jsonl(tmp / name, content)
        else:
            write(tmp / name, content)

    argv = [
        "lexicon",
        "mine",
        f"{{tmp}}/{name}",
        "--out",
        "{tmp}/mined.txt",
        "--quiet",
        "--no-cache",
    ]
    return Case(f"mine-{case_id}", argv, culprit, setup)


def sub(command: str, case_id: str, args: list[str], culprit: str, setup=corpus) -> Case:
    return Case(f"{command}-{case_id}", ["lexicon", command, *args], culprit, setup)


def tag(case_id: str, args: list[str], culprit: str, setup=corpus) -> Case:
    return Case(f"tag-{case_id}", ["tag", *args], culprit, setup)


CASES = cases(
    # -- mine: the corpus
    mine_on("corpus-binary", "c.jsonl", BINARY, "{tmp}/c.jsonl"),
    mine_on("corpus-gz-cut", "c.jsonl.gz", lambda p: cut_gzip(p, DOCS * 300), "{tmp}/c.jsonl.gz"),
    mine_on("corpus-gz-not-gzip", "c.jsonl.gz", "not gzip at all\n", "{tmp}/c.jsonl.gz"),
    mine_on("corpus-json-broken", "c.jsonl", '{"text": "a"}\n{"text": \n', "{tmp}/c.jsonl:2"),
    mine_on("corpus-json-not-list", "c.json", '{"text": "a"}', "{tmp}/c.json"),
    mine_on("corpus-json-invalid", "c.json", '[{"text": "a"},', "{tmp}/c.json"),
    mine_on("corpus-parquet-corrupt", "c.parquet", b"PAR1" + BINARY, "{tmp}/c.parquet"),
    mine_on("corpus-no-text-field", "c.jsonl", [{"body": "x"}], "'text'"),
    mine_on("corpus-text-not-string", "c.jsonl", [{"text": 5}], "'text'"),
    mine_on(
        "corpus-correct-weird", "c.jsonl", [{"text": "a b c", "correct": {"v": 1}}], "'correct'"
    ),
    mine_on("corpus-record-not-object", "c.jsonl", [[1, 2]], "{tmp}/c.jsonl:1"),
    mine_on(
        "corpus-all-incorrect", "c.jsonl", [{"text": "a b c", "correct": False}], "no texts left"
    ),
    mine("corpus-missing", ["{tmp}/none.jsonl"], "{tmp}/none.jsonl"),
    Case(
        "mine-corpus-directory",
        ["lexicon", "mine", "{tmp}", "--out", "{tmp}/mined.txt", "--quiet"],
        "is a directory",
        corpus,
    ),
    # -- mine: outputs
    mine("out-exists", [], "--force", also(lambda t: write(t / "mined.txt", "# mine\n"))),
    mine(
        "report-exists", [], "--force", also(lambda t: write(t / "mined.report.md", "# report\n"))
    ),
    mine("out-is-directory", ["--out", "{tmp}"], "is a directory"),
    mine("out-under-file", ["--out", "{tmp}/corpus.jsonl/x.txt"], "{tmp}/corpus.jsonl"),
    mine("out-is-the-corpus", ["--out", "{tmp}/corpus.jsonl", "--force"], "also an input"),
    # -- mine: options
    mine("min-df-zero", ["--min-df", "0"], "min_df"),
    mine("min-df-nan", ["--min-df", "nan"], "min_df"),
    mine("keep-top-above-one", ["--keep-top", "2"], "keep_top"),
    mine("n-min-zero", ["--n-min", "0"], "n_min"),
    mine("n-min-above-n-max", ["--n-min", "6", "--n-max", "5"], "n_min"),
    mine("closed-ratio-above-one", ["--closed-ratio", "1.5"], "closed_ratio"),
    mine("distance-threshold-negative", ["--distance-threshold", "-0.1"], "distance_threshold"),
    mine("cluster-size-zero", ["--cluster-size", "0"], "cluster_size"),
    mine("seed-negative", ["--seed", "-3"], "seed"),
    mine("method-unknown", ["--method", "dbscan"], "method"),
    mine("batch-size-zero", ["--batch-size", "0"], "--batch-size"),
    mine("device-cuda-absent", ["--device", "cuda"], "--device"),
    mine("model-missing", ["--model", "{tmp}/no-encoder"], "{tmp}/no-encoder"),
    mine(
        "model-not-encoder",
        ["--model", "{tmp}/enc"],
        "{tmp}/enc",
        also(lambda t: write(t / "enc" / "x.txt", "x")),
    ),
    mine(
        "prototypes-bad-line",
        ["--prototypes", "{tmp}/p.tsv"],
        "{tmp}/p.tsv:1",
        also(lambda t: write(t / "p.tsv", "no tab here\n")),
    ),
    mine(
        "prototypes-binary",
        ["--prototypes", "{tmp}/p.tsv"],
        "{tmp}/p.tsv",
        also(lambda t: write(t / "p.tsv", BINARY)),
    ),
    mine("prototypes-missing", ["--prototypes", "{tmp}/none.tsv"], "{tmp}/none.tsv"),
    # -- compare
    sub("compare", "lexicon-unknown", ["nope", "default"], "nope"),
    sub(
        "compare",
        "lexicon-three-fields",
        ["{tmp}/bad.txt", "default"],
        "{tmp}/bad.txt:1",
        also(lambda t: write(t / "bad.txt", "a\tb\tc\n")),
    ),
    sub(
        "compare",
        "lexicon-duplicate",
        ["{tmp}/bad.txt", "default"],
        "duplicates",
        also(lambda t: lexicon_file(t / "bad.txt", ["Let me check", "let  me check"])),
    ),
    sub(
        "compare",
        "lexicon-control-char",
        ["{tmp}/bad.txt", "default"],
        "control character",
        also(lambda t: write(t / "bad.txt", "let me\x00check\n")),
    ),
    sub(
        "compare",
        "lexicon-binary",
        ["{tmp}/bad.txt", "default"],
        "{tmp}/bad.txt",
        also(lambda t: write(t / "bad.txt", BINARY)),
    ),
    sub(
        "compare",
        "corpus-binary",
        ["default", "{tmp}/lex.txt", "--corpus", "{tmp}/c.jsonl"],
        "{tmp}/c.jsonl",
        also(lambda t: write(t / "c.jsonl", BINARY)),
    ),
    sub(
        "compare",
        "tokenizer-garbage",
        ["default", "{tmp}/lex.txt", "--tokenizer", "{tmp}/tok.json"],
        "--tokenizer",
        also(lambda t: write(t / "tok.json", "not a tokenizer")),
    ),
    sub(
        "compare",
        "tokenizer-missing",
        ["default", "{tmp}/lex.txt", "--tokenizer", "{tmp}/none"],
        "--tokenizer",
    ),
    sub(
        "compare",
        "json-exists",
        ["default", "{tmp}/lex.txt", "--json", "{tmp}/cmp.json"],
        "--force",
        also(lambda t: write(t / "cmp.json", "{}")),
    ),
    sub("compare", "limit-negative", ["default", "{tmp}/lex.txt", "--limit", "-1"], "--limit"),
    # -- placebo
    sub(
        "placebo",
        "out-exists",
        ["{tmp}/lex.txt", "--corpus", "{tmp}/corpus.jsonl", "--out", "{tmp}/p.txt"],
        "--force",
        also(lambda t: write(t / "p.txt", "mine")),
    ),
    sub(
        "placebo",
        "pairs-exist",
        ["{tmp}/lex.txt", "--corpus", "{tmp}/corpus.jsonl", "--out", "{tmp}/p.txt"],
        "p.pairs.tsv",
        also(lambda t: write(t / "p.pairs.tsv", "mine")),
    ),
    sub(
        "placebo",
        "out-is-lexicon",
        ["{tmp}/lex.txt", "--corpus", "{tmp}/corpus.jsonl", "--out", "{tmp}/lex.txt", "--force"],
        "also an input",
    ),
    sub(
        "placebo",
        "corpus-missing",
        ["{tmp}/lex.txt", "--corpus", "{tmp}/none.jsonl", "--out", "{tmp}/p.txt"],
        "{tmp}/none.jsonl",
    ),
    sub(
        "placebo",
        "seed-negative",
        ["{tmp}/lex.txt", "--corpus", "{tmp}/corpus.jsonl", "--out", "{tmp}/p.txt", "--seed", "-1"],
        "--seed",
    ),
    # -- drop
    sub("drop", "frac-one", ["{tmp}/lex.txt", "--frac", "1", "--out", "{tmp}/d.txt"], "--frac"),
    sub(
        "drop",
        "frac-negative",
        ["{tmp}/lex.txt", "--frac", "-0.2", "--out", "{tmp}/d.txt"],
        "--frac",
    ),
    sub("drop", "frac-nan", ["{tmp}/lex.txt", "--frac", "nan", "--out", "{tmp}/d.txt"], "--frac"),
    sub("drop", "out-exists", ["{tmp}/lex.txt", "--out", "{tmp}/corpus.jsonl"], "--force"),
    sub(
        "drop",
        "out-is-input",
        ["{tmp}/lex.txt", "--out", "{tmp}/lex.txt", "--force"],
        "also an input",
    ),
    sub("drop", "out-is-directory", ["{tmp}/lex.txt", "--out", "{tmp}"], "is a directory"),
    sub("drop", "lexicon-directory", ["{tmp}", "--out", "{tmp}/d.txt"], "is a directory"),
    # -- sensitivity
    sub("sensitivity", "run-not-a-run", ["default", "--run", "{tmp}"], "{tmp}"),
    sub("sensitivity", "run-missing", ["default", "--run", "{tmp}/none"], "{tmp}/none"),
    sub("sensitivity", "neither-run-nor-corpus", ["default"], "--run"),
    sub(
        "sensitivity",
        "draws-zero",
        ["default", "--corpus", "{tmp}/corpus.jsonl", "--draws", "0"],
        "--draws",
    ),
    sub(
        "sensitivity",
        "step-field-text",
        ["default", "--corpus", "{tmp}/c.jsonl", "--step-field", "level"],
        "--step-field",
        also(lambda t: jsonl(t / "c.jsonl", [{"text": "a b", "level": "hard"}])),
    ),
    sub(
        "sensitivity",
        "out-exists",
        ["default", "--corpus", "{tmp}/corpus.jsonl", "--out", "{tmp}/lex.txt"],
        "--force",
    ),
    Case("lexicon-subcommand-unknown", ["lexicon", "grow"], "grow"),
    # -- tag
    tag("no-text", [], "required"),
    tag("file-missing", ["--file", "{tmp}/none.txt"], "{tmp}/none.txt"),
    tag(
        "file-binary",
        ["--file", "{tmp}/b.txt"],
        "{tmp}/b.txt",
        also(lambda t: write(t / "b.txt", BINARY)),
    ),
    tag("file-directory", ["--file", "{tmp}"], "--file"),
    tag("detector-unknown", ["--detector", "nope", "so"], "--detector"),
    tag(
        "detector-three-fields",
        ["--detector", "{tmp}/bad.txt", "so"],
        "{tmp}/bad.txt:1",
        also(lambda t: write(t / "bad.txt", "a\tb\tc\n")),
    ),
    tag(
        "detector-comment-phrase",
        ["--detector", "{tmp}/bad.txt", "so"],
        "{tmp}/bad.txt",
        also(lambda t: write(t / "bad.txt", "ok phrase\t\n#\tdeduction\n")),
    ),
    tag(
        "detector-bad-category",
        ["--detector", "{tmp}/bad.txt", "so"],
        "{tmp}/bad.txt:1",
        also(lambda t: write(t / "bad.txt", "let me check\tnot a category!\n")),
    ),
    tag(
        "detector-binary",
        ["--detector", "{tmp}/bad.txt", "so"],
        "{tmp}/bad.txt",
        also(lambda t: write(t / "bad.txt", BINARY)),
    ),
    tag("detector-directory", ["--detector", "{tmp}", "so"], "is a directory"),
    tag("tokenizer-missing", ["--tokenizer", "{tmp}/none", "so"], "--tokenizer"),
    tag(
        "tokenizer-empty-dir",
        ["--tokenizer", "{tmp}/tok", "so"],
        "--tokenizer",
        also(lambda t: (t / "tok").mkdir()),
    ),
    tag(
        "tokenizer-garbage",
        ["--tokenizer", "{tmp}/tok", "so"],
        "--tokenizer",
        also(lambda t: write(t / "tok" / "tokenizer.json", "garbage")),
    ),
    tag("color-unknown", ["--color", "pink", "so"], "--color"),
)


@pytest.mark.parametrize("case", CASES)
def test_bad_lexicon_and_tag_input(case, tmp_path, tiny_model_dir, capsys):
    check(case, tmp_path, tiny_model_dir, capsys)
