"""The SFT warm start: loss only on responses, the loss falls, and the cache is reused."""

from __future__ import annotations

import json

import pytest

from hicra.models import build_tokenizer
from hicra.tasks.countdown import CountdownTask
from hicra.trainer.sft import SFTConfig, cache_key, collate, encode_example, lr_factor, run_sft

TASK = CountdownTask()


def test_labels_cover_the_response_and_eos_only():
    tokenizer = build_tokenizer(TASK)
    example = TASK.sft_examples(1, __import__("numpy").random.default_rng(0))[0]
    ids, labels, cut = encode_example(tokenizer, example.prompt, example.response, 256)
    n_prompt = len(example.prompt.split()) + 1  # + <bos>
    assert not cut and ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert labels[:n_prompt] == [-100] * n_prompt and labels[n_prompt:] == ids[n_prompt:]
    assert tokenizer.decode(labels[n_prompt:-1]) == example.response
    short_ids, short_labels, cut = encode_example(tokenizer, example.prompt, example.response, 12)
    assert cut and len(short_ids) == len(short_labels) == 12


def test_collate_pads_right_with_masked_labels():
    tokenizer = build_tokenizer(TASK)
    examples = TASK.sft_examples(4, __import__("numpy").random.default_rng(1))
    input_ids, attention_mask, labels, cut = collate(tokenizer, examples, 256)
    assert input_ids.shape == attention_mask.shape == labels.shape and cut == 0
    assert ((labels != -100) <= attention_mask.bool()).all()
    assert (input_ids[attention_mask == 0] == tokenizer.pad_token_id).all()


def test_lr_schedule():
    config = SFTConfig(steps=100, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, config) == pytest.approx(0.1)
    assert lr_factor(9, config) == pytest.approx(1.0)
    assert lr_factor(100, config) == pytest.approx(0.1)


def test_tiny_sft_run_learns_and_is_cached(tmp_path):
    config = SFTConfig(
        steps=25,
        batch_size=16,
        lr=1e-2,
        warmup_steps=3,
        hidden=32,
        layers=1,
        heads=2,
        intermediate=64,
        eval_samples=8,
        eval_max_new_tokens=60,
        cache_dir=str(tmp_path),
        progress=False,
    )
    path = run_sft(config, TASK)
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["loss_last10"] < 0.7 * metrics["loss_first10"]
    assert 0.0 <= metrics["eval"]["accuracy"] <= 1.0 and "exec_error_rate" in metrics["eval"]
    saved = json.loads((path / "sft_config.json").read_text())
    assert saved["sft"]["steps"] == 25 and saved["task_config"]["modulus"] == 7
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    # same configs -> the same directory, untouched; the cache key ignores display options
    again = run_sft(SFTConfig(**{**config.__dict__, "progress": True, "num_threads": 1}), TASK)
    assert again == path and (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert cache_key(SFTConfig(steps=26), TASK) != cache_key(SFTConfig(steps=25), TASK)
    # the thread count can change the weights: 0 means torch's count, and is keyed as such
    assert cache_key(SFTConfig(num_threads=2), TASK) != cache_key(SFTConfig(num_threads=1), TASK)
    import torch

    assert cache_key(SFTConfig(num_threads=0), TASK) == cache_key(
        SFTConfig(num_threads=torch.get_num_threads()), TASK
    )
    from hicra.tasks.countdown import CountdownConfig

    assert cache_key(config, CountdownTask(CountdownConfig(backtrack_rate=0.5))) != cache_key(
        config, TASK
    )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoTokenizer.from_pretrained(str(path))
    AutoModelForCausalLM.from_pretrained(str(path))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary leftovers


def test_cli_reuses_the_cache(tmp_path, capsys):
    from hicra.trainer.sft_cli import build_parser, sft_main

    assert "--task.backtrack-rate" in build_parser().format_help()  # every docstring formats

    config = SFTConfig(
        steps=2,
        batch_size=4,
        hidden=16,
        layers=1,
        heads=2,
        intermediate=32,
        eval_samples=0,
        cache_dir=str(tmp_path),
        progress=False,
    )
    path = run_sft(config, CountdownTask())
    argv = [
        "--steps",
        "2",
        "--batch_size",
        "4",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--heads",
        "2",
        "--intermediate",
        "32",
        "--eval_samples",
        "0",
        "--cache_dir",
        str(tmp_path),
        "--progress",
        "false",
    ]
    assert sft_main(argv) == 0  # the spellings of earlier releases, each with a deprecation line
    out, err = capsys.readouterr()
    assert f"reused cached checkpoint: {path}" in out
    assert (
        "--batch_size is deprecated; use --batch-size" in err
        and "--progress false is deprecated; use --no-progress" in err
    )
    kebab = [a.replace("_", "-") if a.startswith("--") else a for a in argv[:-2]] + [
        "--no-progress"
    ]
    assert sft_main(kebab) == 0 and "deprecated" not in capsys.readouterr().err
    assert sft_main(argv + ["--task.backtrack_rate", "1.5"]) == 2
    assert "CountdownConfig.backtrack_rate" in capsys.readouterr().err
