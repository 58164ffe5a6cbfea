"""`hicra eval`, `hicra sft` and `hicra to-verl` on malformed options, models, data files and
output directories."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from badinput_harness import (
    BINARY,
    Case,
    cases,
    check,
    copy_model,
    edit_json,
    foreign_dir,
    hicra_run,
    jsonl,
    truncate,
    write,
)

BENCH = [
    {"problem": "What is 1 + 1 ?", "answer": "2"},
    {"problem": "What is 2 + 3 ?", "answer": "5"},
]
EVAL = [
    "eval",
    "--model",
    "{model}",
    "--data",
    "{tmp}/bench.jsonl",
    "--out",
    "{tmp}/eval",
    "--n",
    "2",
    "--max-new-tokens",
    "4",
    "--backend",
    "hf",
]


def bench(tmp: Path, model: Path) -> None:
    jsonl(tmp / "bench.jsonl", BENCH)


def also(*steps):
    def setup(tmp: Path, model: Path) -> None:
        bench(tmp, model)
        for step in steps:
            step(tmp, model)

    return setup


def ev(case_id: str, args: list[str], culprit: str, setup=bench) -> Case:
    return Case(f"eval-{case_id}", EVAL + args, culprit, setup)


def data(case_id: str, name: str, content, culprit: str) -> Case:
    def write_data(tmp: Path, model: Path) -> None:
        if isinstance(content, list):
            jsonl(tmp / name, content)
        else:
            write(tmp / name, content)

    return ev(case_id, ["--data", f"{{tmp}}/{name}"], culprit, also(write_data))


def on_model(case_id: str, corrupt, culprit: str) -> Case:
    return ev(
        f"model-{case_id}",
        ["--model", "{tmp}/m"],
        culprit,
        also(lambda t, m: copy_model(m, t / "m", corrupt)),
    )


def earlier_eval(
    tmp: Path, model: Path, results: bool = False, data_hash: str | None = None, **changes
) -> None:
    """An evaluation directory as `hicra eval` leaves it (config.json with the marker, samples)."""
    from hicra.evaluation import data_hashes, parse_args

    argv = [a.replace("{tmp}", str(tmp)).replace("{model}", str(model)) for a in EVAL[1:]]
    config = asdict(parse_args(argv)) | changes
    hashes = data_hashes([str(tmp / "bench.jsonl")]) if data_hash is None else {"bench": data_hash}
    write(
        tmp / "eval" / "config.json",
        json.dumps(
            {**config, "data_sha256": hashes, "hicra_run": {"format": 1, "writer": "hicra eval"}}
        ),
    )
    jsonl(
        tmp / "eval" / "samples" / "bench.jsonl",
        [{"id": "bench-0", "responses": ["2"], "correct": [True]}],
    )
    if results:
        write(tmp / "eval" / "results.json", "{}")


SFT = ["sft", "--cache-dir", "{tmp}/cache", "--steps", "2", "--eval-samples", "0", "--no-progress"]


def sft(case_id: str, args: list[str], culprit: str, setup=None) -> Case:
    return Case(f"sft-{case_id}", SFT + args, culprit, setup)


def verl(
    case_id: str, inputs: list[str], culprit: str, setup, args: list[str] | None = None
) -> Case:
    return Case(
        f"to-verl-{case_id}",
        ["to-verl", *inputs, "--out", "{tmp}/train.parquet", *(args or [])],
        culprit,
        setup,
    )


def verl_data(name: str, content):
    def setup(tmp: Path, model: Path) -> None:
        if isinstance(content, list):
            jsonl(tmp / name, content)
        else:
            write(tmp / name, content)

    return setup


DEMO = ["demo", "--quick", "--out", "{tmp}/demo"]


def demo(case_id: str, args: list[str], culprit: str, setup=None) -> Case:
    return Case(f"demo-{case_id}", DEMO + args, culprit, setup)


CASES = cases(
    # -- eval: options
    ev("temperature-negative", ["--temperature", "-1"], "--temperature"),
    ev("temperature-nan", ["--temperature", "nan"], "--temperature"),
    ev("top-p-zero", ["--top-p", "0"], "--top-p"),
    ev("top-p-above-one", ["--top-p", "1.5"], "--top-p"),
    ev("n-zero", ["--n", "0"], "--n"),
    ev("n-text", ["--n", "many"], "--n"),
    ev("limit-zero", ["--limit", "0"], "--limit"),
    ev("batch-size-zero", ["--batch-size", "0"], "--batch-size"),
    ev("max-new-tokens-zero", ["--max-new-tokens", "0"], "--max-new-tokens"),
    ev("timeout-zero", ["--timeout-s", "0"], "--timeout-s"),
    ev("seed-negative", ["--seed", "-1"], "--seed"),
    ev("backend-vllm-absent", ["--backend", "vllm"], "vllm"),
    ev("backend-unknown", ["--backend", "onnx"], "--backend"),
    ev("stop-strings-empty", ["--stop-strings", ""], "--stop-strings"),
    ev(
        "task-stop-strings-empty",
        ["--task", "word-arith", "--task-options", '{"stop_strings": [""]}'],
        "stop_strings",
    ),
    # -- eval: the model
    ev("model-missing", ["--model", "{tmp}/no-model"], "{tmp}/no-model"),
    ev("model-hub-id-unknown", ["--model", "hicra-test/no-such-model"], "hicra-test/no-such-model"),
    Case(
        "eval-model-relative-path-missing",
        EVAL + ["--model", "models/sft"],
        "models/sft",
        also(lambda t, m: (t / "models").mkdir()),
        chdir=True,
    ),
    on_model("config-corrupt", lambda m: write(m / "config.json", "{"), "{tmp}/m/config.json"),
    on_model("weights-missing", lambda m: (m / "model.safetensors").unlink(), "{tmp}/m"),
    on_model(
        "weights-truncated", lambda m: truncate(m / "model.safetensors", 0.7), "model.safetensors"
    ),
    on_model(
        "config-wrong-type",
        lambda m: edit_json(m / "config.json", num_hidden_layers="two"),
        "{tmp}/m",
    ),
    # -- eval: data files
    ev("data-missing", ["--data", "{tmp}/none.jsonl"], "{tmp}/none.jsonl"),
    data("data-binary", "b.jsonl", BINARY, "{tmp}/b.jsonl"),
    data(
        "data-broken-line",
        "b.jsonl",
        '{"problem": "a", "answer": "1"}\n{"problem": \n',
        "{tmp}/b.jsonl:2",
    ),
    data("data-no-prompt-field", "b.jsonl", [{"q": "x", "answer": "1"}], "--prompt-field"),
    data("data-no-answer-field", "b.jsonl", [{"problem": "x"}], "--answer-field"),
    data("data-empty-answer", "b.jsonl", [{"problem": "x", "answer": ""}], "{tmp}/b.jsonl row 0"),
    data("data-csv", "b.csv", "problem,answer\nx,1\n", "{tmp}/b.csv"),
    data("data-parquet-corrupt", "b.parquet", b"PAR1" + BINARY, "{tmp}/b.parquet"),
    data("data-json-not-list", "b.json", '{"problem": "x"}', "{tmp}/b.json"),
    data("data-empty", "b.jsonl", "", "no rows"),
    ev(
        "data-same-name",
        ["--data", "{tmp}/bench.jsonl", "{tmp}/x/bench.jsonl"],
        "bench",
        also(lambda t, m: jsonl(t / "x" / "bench.jsonl", BENCH)),
    ),
    ev("prompt-field-absent", ["--prompt-field", "question.text"], "question.text"),
    # -- eval: the output directory
    ev("out-foreign", [], "not a hicra run", also(lambda t, m: foreign_dir(t / "eval"))),
    ev(
        "out-foreign-force",
        ["--force"],
        "not a hicra run",
        also(lambda t, m: foreign_dir(t / "eval")),
    ),
    ev("out-is-model", ["--out", "{model}"], "model directory"),
    ev("out-inside-model", ["--out", "{model}/eval"], "model directory"),
    ev("out-is-file", ["--out", "{tmp}/bench.jsonl"], "is a file"),
    ev(
        "out-is-a-training-run",
        ["--force"],
        "hicra train",
        also(lambda t, m: hicra_run(t / "eval", {"lr": 0.1})),
    ),
    ev("out-finished", [], "--force", also(lambda t, m: earlier_eval(t, m, results=True))),
    ev(
        "out-other-options",
        ["--temperature", "1.0"],
        "temperature",
        also(lambda t, m: earlier_eval(t, m)),
    ),
    ev(
        "out-other-data-same-name",
        [],
        "other data",
        also(lambda t, m: earlier_eval(t, m, data_hash="0" * 64)),
    ),
    ev(
        "out-samples-corrupt",
        [],
        "samples/bench.jsonl:1",
        also(
            lambda t, m: earlier_eval(t, m),
            lambda t, m: write(t / "eval" / "samples" / "bench.jsonl", "garbage\n{}\n"),
        ),
    ),
    # -- sft
    sft("steps-zero", ["--steps", "0"], "steps (--steps)"),
    sft("steps-text", ["--steps", "ten"], "--steps"),
    sft("lr-inf", ["--lr", "inf"], "lr (--lr)"),
    sft("lr-negative", ["--lr", "-3e-3"], "lr (--lr)"),
    sft("batch-size-zero", ["--batch-size", "0"], "batch_size (--batch-size)"),
    sft("heads-not-dividing", ["--hidden", "30", "--heads", "4"], "heads"),
    sft("max-length-one", ["--max-length", "1"], "max_length (--max-length)"),
    sft("min-lr-ratio-above-one", ["--min-lr-ratio", "2"], "min_lr_ratio (--min-lr-ratio)"),
    sft(
        "eval-temperature-negative",
        ["--eval-temperature", "-1"],
        "eval_temperature (--eval-temperature)",
    ),
    sft("seed-negative", ["--seed", "-1"], "seed (--seed)"),
    sft("threads-negative", ["--num-threads", "-1"], "num_threads (--num-threads)"),
    sft("init-from-missing", ["--init-from", "{tmp}/none"], "--init-from"),
    sft(
        "init-from-truncated",
        ["--init-from", "{tmp}/m"],
        "model.safetensors",
        lambda t, m: copy_model(m, t / "m", lambda d: truncate(d / "model.safetensors")),
    ),
    sft(
        "cache-dir-is-file",
        ["--cache-dir", "{tmp}/f"],
        "--cache-dir",
        lambda t, m: write(t / "f", "x"),
    ),
    sft("task-modulus-one", ["--task.modulus", "1"], "modulus"),
    sft("task-numbers-huge", ["--task.n-numbers", "40"], "n_numbers"),
    sft("task-rate-above-one", ["--task.add-error-rate", "1.5"], "add_error_rate"),
    sft("task-ops-unknown", ["--task.ops", "%"], "ops"),
    # -- to-verl
    verl("input-missing", ["{tmp}/none.jsonl"], "{tmp}/none.jsonl", None),
    verl("input-binary", ["{tmp}/d.jsonl"], "{tmp}/d.jsonl", verl_data("d.jsonl", BINARY)),
    verl(
        "input-broken-line", ["{tmp}/d.jsonl"], "{tmp}/d.jsonl:1", verl_data("d.jsonl", "{oops\n")
    ),
    verl(
        "input-line-not-object", ["{tmp}/d.jsonl"], "{tmp}/d.jsonl:1", verl_data("d.jsonl", "[1]\n")
    ),
    verl(
        "input-parquet-corrupt",
        ["{tmp}/d.parquet"],
        "{tmp}/d.parquet",
        verl_data("d.parquet", b"PAR1xx"),
    ),
    verl("input-unsupported", ["{tmp}/d.txt"], "{tmp}/d.txt", verl_data("d.txt", "1 + 1 = 2\n")),
    verl(
        "input-no-prompt",
        ["{tmp}/d.jsonl"],
        "--prompt-field",
        verl_data("d.jsonl", [{"q": "x", "answer": "1"}]),
    ),
    verl(
        "input-no-answer",
        ["{tmp}/d.jsonl"],
        "--answer-field",
        verl_data("d.jsonl", [{"problem": "x"}]),
    ),
    verl("input-empty", ["{tmp}/d.jsonl"], "no rows", verl_data("d.jsonl", "")),
    verl(
        "input-solution-without-box",
        ["{tmp}/d.jsonl"],
        "{tmp}/d.jsonl row 0",
        verl_data("d.jsonl", [{"problem": "x", "solution": "it is two"}]),
    ),
    verl(
        "out-exists",
        ["{tmp}/d.jsonl"],
        "--force",
        lambda t, m: (jsonl(t / "d.jsonl", BENCH), write(t / "train.parquet", b"mine")),
    ),
    verl(
        "out-is-directory",
        ["{tmp}/d.jsonl"],
        "is a directory",
        lambda t, m: jsonl(t / "d.jsonl", BENCH),
        args=["--out", "{tmp}"],
    ),
    verl(
        "out-under-file",
        ["{tmp}/d.jsonl"],
        "{tmp}/d.jsonl",
        lambda t, m: jsonl(t / "d.jsonl", BENCH),
        args=["--out", "{tmp}/d.jsonl/train.parquet"],
    ),
    verl(
        "out-is-input",
        ["{tmp}/d.parquet"],
        "also an input",
        lambda t, m: write(t / "d.parquet", b"PAR1"),
        args=["--out", "{tmp}/d.parquet", "--force"],
    ),
    Case(
        "to-verl-no-out",
        ["to-verl", "{tmp}/d.jsonl"],
        "--out",
        lambda t, m: jsonl(t / "d.jsonl", BENCH),
    ),
    # -- demo (checked before its folder is made or the SFT stage starts)
    demo("alpha-out-of-range", ["--alpha", "5"], "--alpha"),
    demo("steps-negative", ["--steps", "-1"], "--steps"),
    demo("sft-steps-zero", ["--sft-steps", "0"], "--sft-steps"),
    demo("recipe-missing", ["--recipe", "{tmp}/none.yaml"], "{tmp}/none.yaml"),
    demo(
        "recipe-bad-field",
        ["--recipe", "{tmp}/r.yaml"],
        "lr (--lr)",
        lambda t, m: write(t / "r.yaml", "lr: .nan\n"),
    ),
    demo("checkpoint-missing", ["--checkpoint", "{tmp}/none"], "--checkpoint"),
    demo(
        "checkpoint-truncated",
        ["--checkpoint", "{tmp}/m"],
        "model.safetensors",
        lambda t, m: copy_model(m, t / "m", lambda d: truncate(d / "model.safetensors")),
    ),
)


@pytest.mark.parametrize("case", CASES)
def test_bad_eval_sft_to_verl_input(case, tmp_path, tiny_model_dir, capsys):
    check(case, tmp_path, tiny_model_dir, capsys)
