"""Every path on a real pretrained LM (SmolLM2-135M-Instruct): the built-in trainer with full
fine-tuning and with LoRA (and resume), `hicra analyze` on the run and on its checkpoints,
`hicra eval`, and TRL's HICRATrainer. One or two RL steps with tiny batches each: slow tests
(minutes on 2 CPU cores), skipped when the real-lm packages are absent."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from hicra.cli import main
from hicra.tasks.base import Score
from hicra.tasks.word_arith import WordArithConfig, WordArithTask

pytestmark = [pytest.mark.slow, pytest.mark.integration]


class DenseWordArith(WordArithTask):
    """word-arith's problems with a dense reward (share of digits among the response's
    characters), so that two samples of 8 tokens get different rewards and the step updates."""

    def score(self, problem, response):
        verdict = super().score(problem, response)
        reward = sum(c.isdigit() for c in response) / max(len(response), 1)
        return Score(reward=reward, correct=verdict.correct, diagnostics=verdict.diagnostics)


def config(tmp_path, name, **overrides):
    from hicra.trainer.config import TrainConfig

    base = TrainConfig(
        model="smollm2-135m",
        task="word-arith",
        task_options={"difficulty": 1},
        prompts_per_step=1,
        samples_per_prompt=2,
        max_new_tokens=8,
        temperature=0.7,
        lr=1e-4,
        steps=1,
        checkpoint_every=1,
        keep_checkpoints=3,
        rollouts_per_step=2,
        progress=False,
        threads=1,
        run_dir=str(tmp_path / name),
    )
    return replace(base, **overrides)


def test_builtin_full_finetuning_changes_the_weights(smollm2_dir, tmp_path):
    from hicra.models import load_model_and_tokenizer
    from hicra.trainer.checkpoint import latest_checkpoint
    from hicra.trainer.grpo import train

    cfg = config(tmp_path, "full", lr=1e-5)
    run = train(cfg, task=DenseWordArith(WordArithConfig(difficulty=1)))
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["update/skipped"] == 0.0 and "entropy/planning" in metrics[0]
    step, ckpt = latest_checkpoint(run)
    before, _ = load_model_and_tokenizer(smollm2_dir)
    after, tokenizer = load_model_and_tokenizer(ckpt)
    changed = [
        k for k, v in after.state_dict().items() if not torch.equal(v, before.state_dict()[k])
    ]
    assert step == 1 and len(changed) > 100 and tokenizer.chat_template


def test_builtin_lora_trains_adapters_resumes_and_checkpoints_load_merged(smollm2_dir, tmp_path):
    from hicra.models import load_model_and_tokenizer
    from hicra.trainer.checkpoint import list_checkpoints
    from hicra.trainer.grpo import train

    task = DenseWordArith(WordArithConfig(difficulty=1))
    cfg = config(tmp_path, "lora", lora_rank=4, steps=1)
    train(cfg, task=task)
    run = train(replace(cfg, steps=2), task=task)  # resumes from the step-1 adapter
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    (_, first), (_, second) = list_checkpoints(run)
    adapter = json.loads((second / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "smollm2-135m" and adapter["r"] == 4
    assert not (second / "model.safetensors").exists()  # the adapter only, not 540 MB of weights
    merged, _ = load_model_and_tokenizer(second)
    base, tokenizer = load_model_and_tokenizer(smollm2_dir)
    assert merged.config.model_type == "llama" and not hasattr(merged, "peft_config")
    ids = tokenizer("Tom has 8 apples.", return_tensors="pt").input_ids
    with torch.no_grad():
        assert not torch.allclose(merged(ids).logits, base(ids).logits)
    # analyze the run, then its checkpoints (teacher-forced per-class entropy with the real model)
    assert main(["analyze", str(run), "--out", str(tmp_path / "report")]) == 0
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"prompt": p.prompt, "answer": p.answer}) + "\n"
            for p in task.sample_problems(2, __import__("numpy").random.default_rng(0))
        )
    )
    out = tmp_path / "ckpt_report"
    assert (
        main(
            [
                "analyze",
                str(first),
                str(second),
                "--prompts",
                str(prompts),
                "--samples",
                "2",
                "--max-new-tokens",
                "12",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = [
        json.loads(line)
        for line in (out / "checkpoint_run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["entropy/all"] > 0 and m["perplexity/all"] > 1 for m in metrics)
    # hicra eval on the LoRA checkpoint and on the alias
    assert (
        main(
            [
                "eval",
                "--model",
                str(second),
                "--task",
                "word-arith",
                "--task-options",
                '{"difficulty": 1}',
                "--limit",
                "2",
                "--n",
                "2",
                "--max-new-tokens",
                "12",
                "--out",
                str(tmp_path / "eval"),
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "eval" / "results.json").read_text())["results"]
    assert results["word-arith-difficulty1"]["problems"] == 2


def test_trl_hicra_trainer_with_lora(smollm2_dir, tmp_path):
    out = tmp_path / "trl"
    code = main(
        [
            "train",
            "--backend",
            "trl",
            "--model",
            "smollm2-135m",
            "--task",
            "word-arith",
            "--task_options",
            '{"difficulty": 1}',
            "--num_problems",
            "4",
            "--output_dir",
            str(out),
            "--use_cpu",
            "--max_steps",
            "1",
            "--per_device_train_batch_size",
            "2",
            "--num_generations",
            "2",
            "--max_completion_length",
            "8",
            "--report_to",
            "none",
            "--save_strategy",
            "no",
            "--logging_steps",
            "1",
            "--disable_tqdm",
            "true",
            "--seed",
            "0",
            "--temperature",
            "0.7",
            "--use_peft",
            "--lora_r",
            "4",
            "--lora_target_modules",
            "q_proj",
            "v_proj",
        ]
    )
    assert code == 0
    run = out / "hicra_run"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["step"] == 1 and 0 <= metrics[0]["tokens/planning_fraction"] <= 1
    assert metrics[0]["entropy/all"] > 0
    config = json.loads((run / "config.json").read_text())
    assert config["backend"] == "trl" and config["credit_mode"] == "hicra"
    assert (out / "adapter_config.json").is_file()
