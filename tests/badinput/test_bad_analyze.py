"""`hicra analyze` on malformed dumps, run directories, options and outputs: one line, exit 2,
no report written."""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput_harness import (
    BINARY,
    TRACES,
    Case,
    cases,
    check,
    copy_model,
    cut_gzip,
    hicra_run,
    jsonl,
    write,
)


def dump(
    case_id: str,
    rows_or_text,
    culprit: str,
    name: str = "dump.jsonl",
    extra: list[str] | None = None,
) -> Case:
    """A dump file whose content is `rows_or_text` (rows: JSON lines; str/bytes: verbatim)."""

    def setup(tmp: Path, model: Path) -> None:
        if isinstance(rows_or_text, list):
            jsonl(tmp / name, rows_or_text)
        else:
            write(tmp / name, rows_or_text)

    return Case(
        f"analyze-{case_id}",
        ["analyze", f"{{tmp}}/{name}", "--out", "{tmp}/report", *(extra or [])],
        culprit,
        setup,
    )


def row(**changes):
    return [TRACES[0], {**TRACES[1], **changes}]


def run_dir(case_id: str, build, culprit: str, extra: list[str] | None = None) -> Case:
    return Case(
        f"analyze-{case_id}",
        ["analyze", "{tmp}/run", "--out", "{tmp}/report", *(extra or [])],
        culprit,
        lambda t, m: build(t / "run"),
    )


def good_dump(tmp: Path, model: Path) -> None:
    jsonl(tmp / "dump.jsonl", TRACES)


def opt(case_id: str, args: list[str], culprit: str, setup=good_dump) -> Case:
    return Case(
        f"analyze-{case_id}",
        ["analyze", "{tmp}/dump.jsonl", "--out", "{tmp}/report", *args],
        culprit,
        setup,
    )


def with_report(tmp: Path, model: Path) -> None:
    good_dump(tmp, model)
    write(tmp / "report" / "report.html", "<html>an earlier report</html>")


def checkpoints(tmp: Path, model: Path) -> None:
    copy_model(model, tmp / "ckpt" / "step_10")
    jsonl(tmp / "prompts.jsonl", [{"prompt": "3 5 1 -> 2", "answer": "2"}])


def ckpt(case_id: str, args: list[str], culprit: str, setup=checkpoints) -> Case:
    return Case(
        f"analyze-{case_id}",
        [
            "analyze",
            "{tmp}/ckpt/step_10",
            "--prompts",
            "{tmp}/prompts.jsonl",
            "--out",
            "{tmp}/report",
            "--max-new-tokens",
            "4",
            *args,
        ],
        culprit,
        setup,
    )


def run_with(
    config: str | bytes | None = None,
    metrics: str | bytes | None = None,
    rollout: bytes | None = None,
):
    def build(path: Path) -> None:
        hicra_run(path, {"credit_mode": "hicra"})
        if config is not None:
            write(path / "config.json", config)
        if metrics is not None:
            write(path / "metrics.jsonl", metrics)
        if rollout is not None:
            write(path / "rollouts" / "step_000001.parquet", rollout)

    return build


CASES = cases(
    # -- what a dump file can get wrong
    Case(
        "analyze-missing",
        ["analyze", "{tmp}/nothing.jsonl", "--out", "{tmp}/report"],
        "{tmp}/nothing.jsonl",
    ),
    Case(
        "analyze-gz-cut",
        ["analyze", "{tmp}/d.jsonl.gz", "--out", "{tmp}/report"],
        "{tmp}/d.jsonl.gz",
        lambda t, m: cut_gzip(t / "d.jsonl.gz", TRACES * 200),
    ),
    dump("gz-not-gzip", b"plain text, not gzip\n", "{tmp}/d.jsonl.gz", name="d.jsonl.gz"),
    dump("binary", BINARY, "{tmp}/dump.jsonl"),
    dump("not-utf8", b'{"step": 1, "completion": "caf\xe9"}\n', "{tmp}/dump.jsonl:1"),
    dump(
        "json-broken-line-2",
        '{"step": 1, "completion": "a"}\n{"step": 2, "compl\n',
        "{tmp}/dump.jsonl:2",
    ),
    dump("json-array-file", '[\n  {"step": 1, "completion": "a"}\n]\n', "{tmp}/dump.jsonl:1"),
    dump(
        "json-nested-deep",
        '{"step": 1, "completion": ' + "[" * 50000 + "]" * 50000 + "}\n",
        "{tmp}/dump.jsonl:1",
    ),
    dump("line-not-object", "[1, 2, 3]\n", "{tmp}/dump.jsonl:1"),
    dump("empty-file", "", "no steps found"),
    dump("step-huge", row(step=1e30), "{tmp}/dump.jsonl:2"),
    dump("step-negative", row(step=-4), "{tmp}/dump.jsonl:2"),
    dump("step-fraction", row(step=2.5), "{tmp}/dump.jsonl:2"),
    dump("step-text", row(step="two"), "{tmp}/dump.jsonl:2"),
    dump("step-bool", row(step=True), "{tmp}/dump.jsonl:2"),
    dump("step-missing", [TRACES[0], {"completion": "x"}], "--field-step"),
    dump("response-missing", [TRACES[0], {"step": 2}], "--field-response"),
    dump("response-number", row(completion=42), "{tmp}/dump.jsonl:2"),
    dump("reward-text", row(reward="high"), "{tmp}/dump.jsonl:2"),
    dump("reward-object", row(reward={"value": 1}), "{tmp}/dump.jsonl:2"),
    dump("logp-scalar", row(logp=-0.5), "'logp'"),
    dump("logp-strings", row(logp=["a", "b"]), "'logp'"),
    dump("token-lengths-differ", row(logp=[-0.1, -0.2], entropy=[1.0]), "'entropy'"),
    dump("planning-mask-not-bool", row(logp=[-0.1, -0.2], planning_mask=[0, 7]), "'planning_mask'"),
    dump("offsets-not-pairs", row(logp=[-0.1], offsets=[1, 2, 3]), "'offsets'"),
    dump(
        "steps-out-of-order",
        [dict(TRACES[0], step=s) for s in [1, 2, 3, 1]],
        "--max-open-steps",
        extra=["--max-open-steps", "2"],
    ),
    Case(
        "analyze-parquet-corrupt",
        ["analyze", "{tmp}/d.parquet", "--out", "{tmp}/report"],
        "{tmp}/d.parquet",
        lambda t, m: write(t / "d.parquet", b"PAR1" + BINARY),
    ),
    Case(
        "analyze-directory-without-data",
        ["analyze", "{tmp}/empty", "--out", "{tmp}/report"],
        "{tmp}/empty",
        lambda t, m: write(t / "empty" / "notes.txt", "nothing to read"),
    ),
    # -- formats forced on the wrong input
    opt("format-verl-on-file", ["--format", "verl"], "--format verl"),
    opt("format-hicra-on-file", ["--format", "hicra"], "{tmp}/dump.jsonl"),
    Case(
        "analyze-format-hicra-on-dir",
        ["analyze", "{tmp}/d", "--format", "hicra", "--out", "{tmp}/report"],
        "not a hicra run directory",
        lambda t, m: jsonl(t / "d" / "x.jsonl", TRACES),
    ),
    Case(
        "analyze-verl-bad-step-file",
        ["analyze", "{tmp}/verl", "--out", "{tmp}/report"],
        "{tmp}/verl/1.jsonl:1",
        lambda t, m: write(t / "verl" / "1.jsonl", "{broken\n"),
    ),
    opt("format-unknown", ["--format", "csv"], "--format"),
    # -- hicra run directories
    run_dir("run-config-corrupt", run_with(config="{not json"), "{tmp}/run/config.json"),
    run_dir("run-config-list", run_with(config="[1]"), "{tmp}/run/config.json"),
    run_dir(
        "run-metrics-garbage",
        run_with(metrics='{"step": 1}\nnot json\n{"step": 3}\n'),
        "{tmp}/run/metrics.jsonl:2",
    ),
    run_dir(
        "run-metrics-step-text",
        run_with(metrics='{"step": "one"}\n{"step": 2}\n'),
        "{tmp}/run/metrics.jsonl:1",
    ),
    run_dir(
        "run-metrics-binary",
        run_with(metrics=BINARY + b"\n" + BINARY + b"\n"),
        "{tmp}/run/metrics.jsonl",
    ),
    run_dir("run-rollout-corrupt", run_with(rollout=b"PAR1 cut"), "step_000001.parquet"),
    # -- options
    opt("max-open-steps-negative", ["--max-open-steps", "-1"], "--max-open-steps"),
    opt("max-open-steps-text", ["--max-open-steps", "many"], "--max-open-steps"),
    opt("name-count", ["--name", "a", "--name", "b"], "--name"),
    opt("detector-unknown", ["--detector", "nope"], "--detector"),
    opt(
        "detector-bad-file",
        ["--detector", "{tmp}/lex.txt"],
        "{tmp}/lex.txt:1",
        lambda t, m: (good_dump(t, m), write(t / "lex.txt", "a\tb\tc\n")),
    ),
    opt("unknown-option", ["--colour", "red"], "--colour"),
    # -- the output directory
    opt("out-holds-report", [], "--force", with_report),
    Case(
        "analyze-out-is-file",
        ["analyze", "{tmp}/dump.jsonl", "--out", "{tmp}/dump.jsonl"],
        "is a file",
        good_dump,
    ),
    Case(
        "analyze-out-under-file",
        ["analyze", "{tmp}/dump.jsonl", "--out", "{tmp}/dump.jsonl/r"],
        "{tmp}/dump.jsonl",
        good_dump,
    ),
    # -- checkpoints (--prompts)
    ckpt("prompts-missing", ["--prompts", "{tmp}/none.jsonl"], "--prompts"),
    ckpt(
        "prompts-binary",
        [],
        "{tmp}/prompts.jsonl",
        lambda t, m: (checkpoints(t, m), write(t / "prompts.jsonl", BINARY)),
    ),
    ckpt(
        "prompts-no-prompt-field",
        [],
        "{tmp}/prompts.jsonl:1",
        lambda t, m: (checkpoints(t, m), jsonl(t / "prompts.jsonl", [{"text": "x"}])),
    ),
    ckpt("temperature-negative", ["--temperature", "-1"], "--temperature"),
    ckpt("samples-zero", ["--samples", "0"], "--samples"),
    ckpt("max-prompts-zero", ["--max-prompts", "0"], "--max-prompts"),
    ckpt("device-cuda-absent", ["--device", "cuda"], "--device"),
    ckpt(
        "run-not-checkpoint",
        [],
        "{tmp}/ckpt/step_10",
        lambda t, m: (checkpoints(t, m), (t / "ckpt" / "step_10" / "model.safetensors").unlink()),
    ),
    ckpt("out-inside-checkpoint", ["--out", "{tmp}/ckpt/step_10/report"], "model directory"),
    ckpt(
        "checkpoint-run-exists",
        [],
        "checkpoint run",
        lambda t, m: (
            checkpoints(t, m),
            hicra_run(
                t / "report" / "checkpoint_run",
                {"source": "checkpoints"},
                writer="hicra analyze --prompts",
            ),
        ),
    ),
)


@pytest.mark.parametrize("case", CASES)
def test_bad_analyze_input(case, tmp_path, tiny_model_dir, capsys):
    check(case, tmp_path, tiny_model_dir, capsys)
