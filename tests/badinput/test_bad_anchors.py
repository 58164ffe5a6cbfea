"""`hicra anchors` on malformed traces, prompts, models, options and output directories: one
line naming the trace, file or option, exit 2, and nothing written to --out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from badinput_harness import (
    BINARY,
    Case,
    cases,
    check,
    copy_model,
    cut_gzip,
    edit_json,
    foreign_dir,
    hicra_run,
    jsonl,
    write,
)

PROMPT = "numbers 2 3 4 target 6 :"
TRACE = {"id": "a", "prompt": PROMPT, "response": "so the answer is 6 ."}
BASE = ["anchors", "--model", "{model}", "--out", "{tmp}/out", "--no-progress"]
TRACES = [*BASE, "--traces", "{tmp}/t.jsonl"]


def traces(rows=None):
    """tmp/t.jsonl: one well-formed countdown trace, or `rows` (records, text or bytes)."""

    def setup(tmp: Path, model: Path) -> None:
        if rows is None or isinstance(rows, list):
            jsonl(tmp / "t.jsonl", [TRACE] if rows is None else rows)
        else:
            write(tmp / "t.jsonl", rows)

    return setup


def an(case_id: str, args: list[str], culprit: str, setup=None) -> Case:
    return Case(f"anchors-{case_id}", TRACES + args, culprit, setup or traces())


def no_eos(model: Path) -> None:
    """A copy of the model whose tokenizer has no end-of-sequence token."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = model / name
        if path.is_file():
            data = json.loads(path.read_text())
            data.pop("eos_token", None)
            path.write_text(json.dumps(data))
    edit_json(model / "config.json", eos_token_id=None)
    if (model / "generation_config.json").is_file():
        edit_json(model / "generation_config.json", eos_token_id=None)


def other_settings(tmp: Path, model: Path) -> None:
    traces()(tmp, model)
    out = tmp / "out"
    write(
        out / "config.json",
        json.dumps(
            {
                "model": str(model),
                "source": str(tmp / "t.jsonl"),
                "task": "auto",
                "samples": 3,
                "hicra_run": {"format": 1, "writer": "hicra anchors"},
            }
        ),
    )
    write(out / "traces" / "0000-a.json", "{}")


CASES = cases(
    # -- the traces: each refused with the file, line and trace named
    an("traces-missing", [], "{tmp}/t.jsonl", lambda t, m: None),
    an("traces-directory", [], "{tmp}/t.jsonl", lambda t, m: (t / "t.jsonl").mkdir()),
    an("traces-binary", [], "{tmp}/t.jsonl", traces(BINARY)),
    an("traces-empty", [], "{tmp}/t.jsonl", traces("")),
    an("traces-not-json", [], "{tmp}/t.jsonl:1", traces("{prompt: 1}\n")),
    an("traces-line-not-object", [], "{tmp}/t.jsonl:1", traces([[PROMPT]])),
    an(
        "traces-prompt-missing",
        [],
        "{tmp}/t.jsonl:2: trace 'b' has no prompt",
        traces([TRACE, {"id": "b", "response": "so the answer is 6 ."}]),
    ),
    an(
        "traces-prompt-blank",
        [],
        "trace 'a' has no prompt",
        traces([{**TRACE, "prompt": "   "}]),
    ),
    an(
        "traces-prompt-not-text",
        [],
        "trace 'a' has no prompt",
        traces([{**TRACE, "prompt": {"text": PROMPT}}]),
    ),
    an(
        "traces-response-missing",
        [],
        "trace 'a' has no response",
        traces([{"id": "a", "prompt": PROMPT}]),
    ),
    an(
        "traces-math-no-answer",
        ["--task", "math"],
        "has no reference answer",
        traces([{"id": "q", "question": "What is 2+2?", "response": "It is 4."}]),
    ),
    an(
        "traces-countdown-prompt-wrong",
        ["--task", "countdown"],
        "{tmp}/t.jsonl:1",
        traces([{**TRACE, "prompt": "numbers 2 x target 6 :"}]),
    ),
    Case(
        "anchors-traces-gz-cut",
        [*BASE, "--traces", "{tmp}/t.jsonl.gz"],
        "{tmp}/t.jsonl.gz",
        lambda t, m: cut_gzip(t / "t.jsonl.gz", [TRACE] * 400),
    ),
    Case(
        "anchors-prompts-prompt-missing",
        [*BASE, "--prompts", "{tmp}/p.jsonl"],
        "{tmp}/p.jsonl:1",
        lambda t, m: jsonl(t / "p.jsonl", [{"id": "x", "answer": "6"}]),
    ),
    Case("anchors-source-missing", BASE, "--traces"),
    # -- budgets and options
    an("samples-zero", ["--samples", "0"], "--samples"),
    an("samples-negative", ["--samples", "-3"], "--samples"),
    an("samples-not-int", ["--samples", "2.5"], "--samples"),
    Case("anchors-problems-zero", [*BASE, "--problems", "0"], "--problems"),
    an("batch-rows-zero", ["--batch-rows", "0"], "--batch-rows"),
    an("max-new-tokens-zero", ["--max-new-tokens", "0"], "--max-new-tokens"),
    an("max-traces-negative", ["--max-traces", "-1"], "--max-traces"),
    an("temperature-zero", ["--temperature", "0"], "--temperature"),
    an("temperature-nan", ["--temperature", "nan"], "--temperature"),
    an("top-p-above-one", ["--top-p", "1.5"], "--top-p"),
    an("top-fraction-inf", ["--top-fraction", "inf"], "--top-fraction"),
    an("similarity-out-of-range", ["--similarity-threshold", "3"], "--similarity-threshold"),
    an("kl-smoothing-negative", ["--kl-smoothing", "-1e-9"], "--kl-smoothing"),
    an("planning-fraction-above-one", ["--planning-min-fraction", "2"], "--planning-min-fraction"),
    an("seed-negative", ["--seed", "-1"], "--seed"),
    an("sentence-mode-unknown", ["--sentence-mode", "paragraphs"], "--sentence-mode"),
    an("threads-zero", ["--threads", "0"], "--threads"),
    an("detector-unknown", ["--detector", "nope"], "--detector"),
    an("embedder-missing", ["--embedder", "{tmp}/minilm"], "{tmp}/minilm"),
    an("device-cuda-absent", ["--device", "cuda"], "--device"),
    an("device-unknown", ["--device", "tpu9"], "--device"),
    an("backend-vllm-absent", ["--backend", "vllm"], "vllm"),
    # -- the model
    Case(
        "anchors-model-missing",
        ["anchors", "--model", "{tmp}/nope", "--out", "{tmp}/out", "--traces", "{tmp}/t.jsonl"],
        "{tmp}/nope",
        traces(),
    ),
    Case(
        "anchors-model-config-corrupt",
        ["anchors", "--model", "{tmp}/m", "--out", "{tmp}/out", "--traces", "{tmp}/t.jsonl"],
        "{tmp}/m",
        lambda t, m: (
            traces()(t, m),
            copy_model(m, t / "m", lambda d: write(d / "config.json", "{")),
        ),
    ),
    Case(
        "anchors-model-no-eos",
        ["anchors", "--model", "{tmp}/m", "--out", "{tmp}/out", "--traces", "{tmp}/t.jsonl"],
        "end-of-sequence",
        lambda t, m: (traces()(t, m), copy_model(m, t / "m", no_eos)),
    ),
    # -- the output directory
    an("out-is-model", ["--out", "{model}"], "model directory"),
    an("out-inside-model", ["--out", "{model}/anchors"], "model directory"),
    an("out-is-file", ["--out", "{tmp}/t.jsonl"], "{tmp}/t.jsonl"),
    an(
        "out-foreign",
        [],
        "not a hicra run directory",
        lambda t, m: (traces()(t, m), foreign_dir(t / "out")),
    ),
    an(
        "out-train-run",
        [],
        "hicra train",
        lambda t, m: (traces()(t, m), hicra_run(t / "out", {"lr": 1e-4})),
    ),
    an("out-other-settings", [], "--force", other_settings),
)


@pytest.mark.parametrize("case", CASES)
def test_bad_anchors_input(case, tmp_path, tiny_model_dir, capsys):
    check(case, tmp_path, tiny_model_dir, capsys)
