"""`hicra train` (built-in backend) on malformed options, recipes, models and run directories:
refused before anything is loaded or written."""

from __future__ import annotations

import importlib.util
import json
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
    truncate,
    write,
)

BASE = [
    "train",
    "--model",
    "{model}",
    "--run-dir",
    "{tmp}/run",
    "--steps",
    "1",
    "--prompts-per-step",
    "2",
    "--samples-per-prompt",
    "2",
    "--max-new-tokens",
    "4",
    "--threads",
    "1",
    "--no-progress",
]


def flag(case_id: str, args: list[str], culprit: str, setup=None, **kw) -> Case:
    return Case(f"train-{case_id}", BASE + args, culprit, setup, **kw)


def recipe(text: str):
    def setup(tmp: Path, model: Path) -> None:
        write(tmp / "recipe.yaml", text)

    return setup


def with_recipe(case_id: str, text: str, culprit: str) -> Case:
    return flag(case_id, ["--config", "{tmp}/recipe.yaml"], culprit, recipe(text))


def bad_model(corrupt):
    def setup(tmp: Path, model: Path) -> None:
        copy_model(model, tmp / "m", corrupt)

    return setup


def on_model(case_id: str, corrupt, culprit: str) -> Case:
    return Case(
        f"train-model-{case_id}", BASE + ["--model", "{tmp}/m"], culprit, bad_model(corrupt)
    )


def recorded(tmp: Path, model: Path, **changes) -> dict:
    """The config.json a run of BASE (with `changes`) records."""
    from hicra.trainer.config import parse_args, run_config

    cfg, _ = parse_args(
        [a.replace("{tmp}", str(tmp)).replace("{model}", str(model)) for a in BASE[1:]]
    )
    return json.loads(json.dumps(run_config(cfg), default=str)) | changes


def other_run(tmp: Path, model: Path) -> None:
    hicra_run(tmp / "run", recorded(tmp, model, lr=0.5, seed=3))


def same_run(tmp: Path, model: Path) -> None:
    hicra_run(tmp / "run", recorded(tmp, model), steps=1)


def remove(name: str):
    return lambda m: (m / name).unlink()


NO_WANDB = importlib.util.find_spec("wandb") is None
TRL = [
    "train",
    "--backend",
    "trl",
    "--model",
    "{model}",
    "--data",
    "{tmp}/d.jsonl",
    "--output_dir",
    "{tmp}/out",
    "--use_cpu",
    "--max_steps",
    "1",
    "--per_device_train_batch_size",
    "2",
    "--num_generations",
    "2",
    "--max_completion_length",
    "4",
    "--report_to",
    "none",
    "--save_strategy",
    "no",
    "--disable_tqdm",
    "true",
]
NEEDS_TRL = [
    pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="TRL is not installed")
]


def trl(case_id: str, args: list[str], culprit: str, setup=None) -> Case:
    def data(tmp: Path, model: Path) -> None:
        write(tmp / "d.jsonl", json.dumps({"problem": "What is 1 + 1 ?", "answer": "2"}) + "\n")
        if setup is not None:
            setup(tmp, model)

    return Case(f"train-trl-{case_id}", TRL + args, culprit, data, marks=NEEDS_TRL)


CASES = cases(
    # -- numbers out of range or not numbers
    flag("lr-inf", ["--lr", "inf"], "lr (--lr)"),
    flag("lr-nan", ["--lr", "nan"], "lr (--lr)"),
    flag("lr-zero", ["--lr", "0"], "lr (--lr)"),
    flag("lr-negative", ["--lr", "-1e-4"], "lr (--lr)"),
    flag("lr-text", ["--lr", "fast"], "lr"),
    flag("temperature-zero", ["--temperature", "0"], "temperature (--temperature)"),
    flag("temperature-negative", ["--temperature", "-1"], "temperature (--temperature)"),
    flag("temperature-nan", ["--temperature", "nan"], "temperature (--temperature)"),
    flag("alpha-above", ["--alpha", "3"], "alpha (--alpha)"),
    flag("alpha-below", ["--alpha", "-1.5"], "alpha (--alpha)"),
    flag("alpha-nan", ["--alpha", "nan"], "alpha (--alpha)"),
    flag("steps-negative", ["--steps", "-1"], "steps (--steps)"),
    flag("steps-fraction", ["--steps", "1.5"], "steps"),
    flag("steps-exponent", ["--steps", "1e30"], "steps"),
    flag("prompts-zero", ["--prompts-per-step", "0"], "prompts_per_step (--prompts-per-step)"),
    flag(
        "group-of-one", ["--samples-per-prompt", "1"], "samples_per_prompt (--samples-per-prompt)"
    ),
    flag("max-new-tokens-zero", ["--max-new-tokens", "0"], "max_new_tokens (--max-new-tokens)"),
    flag("seed-negative", ["--seed", "-1"], "seed (--seed)"),
    flag("threads-negative", ["--threads", "-2"], "threads (--threads)"),
    flag("minibatches-above-batch", ["--minibatches", "100"], "minibatches (--minibatches)"),
    flag("eps-low-one", ["--eps-low", "1"], "eps_low (--eps-low)"),
    flag("dual-clip-below-one", ["--dual-clip", "0.5"], "dual_clip (--dual-clip)"),
    flag("kl-beta-negative", ["--kl-beta", "-0.1"], "kl_beta (--kl-beta)"),
    flag("grad-clip-nan", ["--grad-clip", "nan"], "grad_clip (--grad-clip)"),
    flag("adam-beta-above-one", ["--adam-betas", "0.9", "1.5"], "adam_betas (--adam-betas)"),
    flag(
        "keep-checkpoints-zero",
        ["--keep-checkpoints", "0"],
        "keep_checkpoints (--keep-checkpoints)",
    ),
    flag("log-every-zero", ["--log-every", "0"], "log_every (--log-every)"),
    flag("epochs-zero", ["--epochs-per-batch", "0"], "epochs_per_batch (--epochs-per-batch)"),
    flag("weight-decay-inf", ["--weight-decay", "inf"], "weight_decay (--weight-decay)"),
    # -- choices, device and dtype
    flag("credit-mode-unknown", ["--credit-mode", "ppo_magic"], "credit_mode"),
    flag("optimizer-unknown", ["--optimizer", "lion"], "--optimizer"),
    flag("backend-unknown", ["--backend", "jax"], "--backend"),
    flag("dtype-float16-cpu", ["--dtype", "float16"], "float16"),
    flag("dtype-unknown", ["--dtype", "int8"], "--dtype"),
    flag("rollout-dtype-float16-cpu", ["--rollout-dtype", "float16"], "--rollout-dtype"),
    flag("rollout-dtype-unknown", ["--rollout-dtype", "int8"], "--rollout-dtype"),
    flag("device-cuda-absent", ["--device", "cuda"], "--device"),
    flag("device-gpu-index", ["--device", "cuda:7"], "--device"),
    flag("device-nonsense", ["--device", "quantum"], "--device"),
    flag("unknown-flag", ["--learning-rate", "1e-4"], "--learning-rate"),
    flag(
        "wandb-not-installed",
        ["--wandb"],
        "wandb (--wandb)",
        marks=[pytest.mark.skipif(not NO_WANDB, reason="wandb is installed")],
    ),
    # -- detectors
    flag("detector-unknown", ["--detector", "no-such-detector"], "no-such-detector"),
    flag("detector-directory", ["--detector", "{tmp}"], "is a directory"),
    flag(
        "detector-binary",
        ["--detector", "{tmp}/lex.txt"],
        "{tmp}/lex.txt",
        lambda t, m: write(t / "lex.txt", BINARY),
    ),
    flag("metrics-lexicon-unknown", ["--metrics-lexicon", "nope"], "metrics_lexicon"),
    # -- recipes
    with_recipe("recipe-steps-word", "steps: many\n", "'steps'"),
    with_recipe("recipe-lr-list", "lr: [1, 2]\n", "'lr'"),
    with_recipe("recipe-model-list", "model: [a, b]\n", "'model'"),
    with_recipe("recipe-unknown-field", "learning_rate: 0.1\n", "learning_rate"),
    with_recipe("recipe-not-mapping", "- steps: 1\n", "recipe.yaml"),
    with_recipe("recipe-invalid-yaml", "steps: [1, 2\n", "recipe.yaml line"),
    with_recipe("recipe-huge-warmup", "warmup_steps: 1.0e+30\n", "warmup_steps (--warmup-steps)"),
    with_recipe("recipe-infinite-warmup", "warmup_steps: .inf\n", "'warmup_steps'"),
    with_recipe("recipe-resume-maybe", "resume: maybe\n", "'resume'"),
    with_recipe(
        "recipe-credit-option-unknown",
        "credit_mode: top_entropy\ncredit_options: {bogus: 1}\n",
        "bogus",
    ),
    with_recipe(
        "recipe-credit-option-range", "credit_mode: top_entropy\ncredit_options: {rho: 5}\n", "rho"
    ),
    with_recipe(
        "recipe-credit-option-text", "credit_mode: entropy_adv\ncredit_options: {a: high}\n", "'a'"
    ),
    with_recipe("recipe-alpha-in-options", "credit_options: {alpha: 0.3}\n", "alpha"),
    with_recipe("recipe-credit-options-list", "credit_options: [1]\n", "credit_options"),
    with_recipe("recipe-task-unknown", "task: chess\n", "chess"),
    with_recipe("recipe-task-option-unknown", "task_options: {board: 8}\n", "board"),
    with_recipe("recipe-task-option-huge", "task_options: {n_numbers: 60}\n", "n_numbers"),
    with_recipe("recipe-task-option-rate", "task_options: {add_error_rate: 2}\n", "add_error_rate"),
    flag("recipe-missing", ["--config", "{tmp}/none.yaml"], "{tmp}/none.yaml"),
    flag("recipe-binary", ["--config", "{tmp}/recipe.yaml"], "{tmp}/recipe.yaml", recipe(BINARY)),
    flag("recipe-directory", ["--config", "{tmp}"], "is a directory"),
    # -- the model
    flag("model-missing", ["--model", "{tmp}/no-model"], "{tmp}/no-model"),
    flag(
        "model-is-file",
        ["--model", "{tmp}/f.bin"],
        "{tmp}/f.bin",
        lambda t, m: write(t / "f.bin", BINARY),
    ),
    on_model(
        "config-corrupt", lambda m: write(m / "config.json", "{not json"), "{tmp}/m/config.json"
    ),
    on_model("config-list", lambda m: write(m / "config.json", "[1, 2]"), "{tmp}/m/config.json"),
    on_model(
        "config-wrong-type", lambda m: edit_json(m / "config.json", hidden_size="wide"), "{tmp}/m"
    ),
    on_model(
        "config-unknown-type",
        lambda m: edit_json(m / "config.json", model_type="nonexistent"),
        "{tmp}/m",
    ),
    on_model("weights-missing", remove("model.safetensors"), "{tmp}/m"),
    on_model("weights-truncated", lambda m: truncate(m / "model.safetensors"), "model.safetensors"),
    on_model(
        "weights-binary", lambda m: write(m / "model.safetensors", BINARY), "model.safetensors"
    ),
    on_model(
        "weights-wrong-shape", lambda m: edit_json(m / "config.json", hidden_size=64), "{tmp}/m"
    ),
    on_model(
        "tokenizer-missing",
        lambda m: (remove("tokenizer.json")(m), remove("tokenizer_config.json")(m)),
        "{tmp}/m",
    ),
    on_model("tokenizer-corrupt", lambda m: write(m / "tokenizer.json", "garbage"), "{tmp}/m"),
    # -- run directories
    flag("run-dir-is-model", ["--run-dir", "{model}"], "model directory"),
    flag("run-dir-inside-model", ["--run-dir", "{model}/rl"], "model directory"),
    Case(
        "train-run-dir-contains-model",
        BASE + ["--model", "{tmp}/runs/m", "--run-dir", "{tmp}/runs"],
        "model directory",
        lambda t, m: copy_model(m, t / "runs" / "m"),
    ),
    flag("run-dir-is-file", ["--run-dir", "{tmp}/f"], "{tmp}/f", lambda t, m: write(t / "f", "x")),
    flag(
        "run-dir-under-file",
        ["--run-dir", "{tmp}/f/run"],
        "{tmp}/f",
        lambda t, m: write(t / "f", "x"),
    ),
    flag("run-dir-foreign", [], "not a hicra run", lambda t, m: foreign_dir(t / "run")),
    flag(
        "run-dir-foreign-force", ["--force"], "not a hicra run", lambda t, m: foreign_dir(t / "run")
    ),
    flag(
        "run-dir-foreign-no-resume",
        ["--no-resume", "--force"],
        "not a hicra run",
        lambda t, m: foreign_dir(t / "run"),
    ),
    flag(
        "run-dir-someones-notes",
        [],
        "not a hicra run",
        lambda t, m: write(t / "run" / "notes.txt", "mine"),
    ),
    flag("run-dir-other-run", [], "lr: 0.5 -> 0.0001", other_run),
    flag("run-dir-no-resume", ["--no-resume"], "--no-resume", same_run),
    flag(
        "run-dir-other-writer",
        [],
        "hicra train --backend trl",
        lambda t, m: hicra_run(t / "run", recorded(t, m), writer="hicra train --backend trl"),
    ),
    flag(
        "run-dir-other-writer-force",
        ["--force"],
        "hicra eval",
        lambda t, m: hicra_run(t / "run", recorded(t, m), writer="hicra eval"),
    ),
    flag(
        "batch-too-large",
        ["--prompts-per-step", "1000000", "--samples-per-prompt", "8"],
        "prompts_per_step",
    ),
    flag("lora-rank-negative", ["--lora-rank", "-1"], "lora_rank (--lora-rank)"),
    flag("lora-alpha-zero", ["--lora-rank", "4", "--lora-alpha", "0"], "lora_alpha (--lora-alpha)"),
    flag(
        "lora-target-unknown",
        ["--lora-rank", "4", "--lora-target-modules", "nope_proj"],
        "nope_proj",
    ),
    flag("model-alias-unknown", ["--model", "smollm9"], "smollm9"),
    # neither cached nor on a reachable Hub: one line at once, not half a minute of retries
    flag(
        "model-hub-id-unknown", ["--model", "hicra-test/no-such-model"], "hicra-test/no-such-model"
    ),
    flag(
        "model-gguf-corrupt",
        ["--model", "{tmp}/m.gguf"],
        "{tmp}/m.gguf",
        lambda t, m: write(t / "m.gguf", b"GGUF" + bytes(8)),
    ),
    # -- the TRL backend
    trl("model-missing", ["--model", "{tmp}/none"], "{tmp}/none"),
    trl(
        "model-truncated",
        ["--model", "{tmp}/m"],
        "model.safetensors",
        lambda t, m: copy_model(m, t / "m", lambda d: truncate(d / "model.safetensors")),
    ),
    trl("data-missing", ["--data", "{tmp}/none.jsonl"], "{tmp}/none.jsonl"),
    trl("alpha-out-of-range", ["--alpha", "5"], "alpha"),
    trl("alpha-text", ["--alpha", "high"], "--alpha"),
    trl("credit-options-not-json", ["--credit_options", "{rho"], "credit_options"),
    trl("output-dir-is-model", ["--output_dir", "{model}"], "model directory"),
    trl(
        "rollout-dir-foreign",
        ["--rollout_dir", "{tmp}/r"],
        "not a hicra run",
        lambda t, m: foreign_dir(t / "r"),
    ),
    trl("limit-negative", ["--limit", "-1"], "--limit"),
)


@pytest.mark.parametrize("case", CASES)
def test_bad_train_input(case, tmp_path, tiny_model_dir, capsys):
    check(case, tmp_path, tiny_model_dir, capsys)
