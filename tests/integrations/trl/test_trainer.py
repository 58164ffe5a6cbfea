"""HICRATrainer against the real TRL GRPOTrainer, on a tiny random Llama on CPU."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.integration

trl = pytest.importorskip("trl")


def base_kwargs(out_dir, **overrides):
    """GRPOConfig options for a 2-step CPU run: 4 prompts x 4 generations of 8 tokens per step."""
    kwargs = dict(
        output_dir=str(out_dir),
        use_cpu=True,
        use_vllm=False,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        learning_rate=1e-2,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
        disable_tqdm=True,
    )
    kwargs.update(overrides)
    return kwargs


def count_reward(completions, answer, **kwargs):
    """1.0 when the completion contains the answer word, else 0.0."""
    return [1.0 if a in c.split() else 0.0 for c, a in zip(completions, answer)]


def hicra_trainer(tiny, dataset, out_dir, lexicon_file, trainer_cls=None, **overrides):
    from hicra.integrations.trl import HICRAConfig, HICRATrainer

    model, tokenizer = tiny
    args = HICRAConfig(**base_kwargs(out_dir, detector=lexicon_file, **overrides))
    cls = trainer_cls or HICRATrainer
    return cls(
        model=model,
        reward_funcs=count_reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def params(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_trains_logs_hicra_metrics_and_writes_run_dir(
    tiny, dataset, tmp_path, lexicon_file, planning_words
):
    from hicra.integrations.trl import HICRATrainer
    from hicra.runs import RunReader

    credited, to_loss = {}, []

    class Spy(HICRATrainer):  # records the credit step and what TRL's loss receives
        def _generate_and_score_completions(self, inputs):
            credit = self.hicra_credit.advantages

            def spy(advantages, response_mask, planning_mask, entropy):
                out = credit(advantages, response_mask, planning_mask, entropy)
                credited["last"] = (
                    advantages.clone(),
                    response_mask.clone(),
                    planning_mask.clone(),
                    out.clone(),
                )
                return out

            self.hicra_credit.advantages = spy
            output = super()._generate_and_score_completions(inputs)
            credited.setdefault("ids", []).append(output["completion_ids"].clone())
            credited.setdefault("all", []).append(credited["last"])
            return output

        def _compute_loss(self, model, inputs):
            to_loss.append((inputs["completion_ids"].clone(), inputs["advantages"].clone()))
            return super()._compute_loss(model, inputs)

    trainer = hicra_trainer(
        tiny, dataset, tmp_path, lexicon_file, trainer_cls=Spy, alpha=0.2, report_to=["tensorboard"]
    )
    before = params(trainer.model)
    trainer.train()
    after = params(trainer.model)
    assert all(not torch.equal(before[n], after[n]) for n in before), "every parameter should move"

    logged = trainer.state.log_history[0]
    for key in (
        "hicra/tokens/planning_fraction",
        "hicra/entropy/planning",
        "hicra/entropy/execution",
        "hicra/nll/planning",
        "hicra/semantic/entropy",
        "reward",
        "loss",
    ):
        assert key in logged, key
    assert 0 < logged["hicra/tokens/planning_fraction"] < 1
    # hicra's extra no-grad forward measures the same entropy as TRL's training forward (on-policy).
    assert logged["hicra/entropy/all"] == pytest.approx(logged["entropy"], rel=1e-5)

    # The credit step: planning mask = the lexicon's words; A + 0.2|A| there, A elsewhere, 0 on padding.
    vocab = trainer.processing_class.convert_ids_to_tokens
    by_completion = {}
    for ids, (sequence, response_mask, planning_mask, token) in zip(
        credited["ids"], credited["all"]
    ):
        words = torch.tensor([[vocab(int(t)) in planning_words for t in row] for row in ids])
        assert torch.equal(planning_mask, words & response_mask)
        a = sequence.unsqueeze(1).expand_as(token)
        expected = torch.where(planning_mask, a + 0.2 * a.abs(), a) * response_mask
        torch.testing.assert_close(token, expected, rtol=0, atol=0)
        by_completion.update({tuple(row.tolist()): adv for row, adv in zip(ids, token)})
    # ... and TRL's loss received exactly those (B, T) advantages (rows shuffled by TRL).
    assert len(to_loss) == 2
    for ids, advantages in to_loss:
        assert advantages.shape == ids.shape
        for row, adv in zip(ids, advantages):
            assert torch.equal(adv, by_completion[tuple(row.tolist())])

    # report_to: hicra's metrics reach TensorBoard next to TRL's
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((tmp_path / "runs").rglob("events.out.tfevents*")).parent))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "train/hicra/tokens/planning_fraction",
        "train/hicra/semantic/entropy",
        "train/loss",
    } <= tags, tags

    reader = RunReader(tmp_path / "hicra_run")
    assert reader.config()["credit_mode"] == "hicra" and reader.config()["backend"] == "trl"
    metrics = reader.metrics()
    assert [m["step"] for m in metrics] == [1, 2]
    assert "tokens/planning_fraction" in metrics[0] and "trl/loss" in metrics[0]
    assert reader.rollout_steps() == [1, 2]
    rows = reader.rollouts(1)
    assert len(rows) == 8 and {
        "prompt_id",
        "prompt",
        "response",
        "reward",
        "correct",
        "planning_mask",
    } <= set(rows[0])
    for row in rows:
        words = [vocab(t) for t in row["token_ids"]]
        assert row["planning_mask"] == [w in planning_words for w in words]
        assert len(row["logp"]) == len(row["entropy"]) == len(row["token_ids"])


@pytest.mark.parametrize(
    "extra",
    [
        {},
        pytest.param(
            {"loss_type": "grpo", "beta": 0.04}, marks=pytest.mark.slow, id="grpo_loss_with_kl"
        ),
        pytest.param(
            {
                "per_device_train_batch_size": 4,
                "gradient_accumulation_steps": 2,
                "num_iterations": 2,
            },
            marks=pytest.mark.slow,
            id="accumulation_and_iterations",
        ),
    ],
    ids=lambda e: "dapo_default" if not e else None,
)
def test_alpha_zero_gives_grpo_trainer_loss_and_parameters(
    tiny_dir, dataset, tmp_path, lexicon_file, extra
):
    """The acceptance test: HICRA with alpha = 0 is TRL's GRPOTrainer, to 1e-6, on a seeded run."""
    from trl import GRPOConfig, GRPOTrainer

    from hicra.models import load_model_and_tokenizer
    from hicra.runs import RunReader

    def run(alpha, steps=2):
        tiny = load_model_and_tokenizer(tiny_dir)
        if alpha is None:
            model, tokenizer = tiny
            args = GRPOConfig(**base_kwargs(tmp_path / "grpo", max_steps=steps, **extra))
            trainer = GRPOTrainer(
                model=model,
                reward_funcs=count_reward,
                args=args,
                train_dataset=dataset,
                processing_class=tokenizer,
            )
        else:
            trainer = hicra_trainer(
                tiny,
                dataset,
                tmp_path / f"hicra_{alpha}",
                lexicon_file,
                alpha=alpha,
                max_steps=steps,
                **extra,
            )
        trainer.train()
        return losses(trainer), params(trainer.model)

    grpo_losses, grpo_params = run(None)
    zero_losses, zero_params = run(0.0)
    assert len(grpo_losses) == 2
    torch.testing.assert_close(
        torch.tensor(zero_losses), torch.tensor(grpo_losses), rtol=0, atol=1e-6
    )
    for name in grpo_params:
        torch.testing.assert_close(zero_params[name], grpo_params[name], rtol=0, atol=1e-6)

    # The comparison can fail: planning tokens were present, and alpha > 0 moves the loss.
    planned = RunReader(tmp_path / "hicra_0.0" / "hicra_run").rollouts(1)
    assert sum(sum(r["planning_mask"]) for r in planned) > 0
    _, alpha_params = run(1.0)  # same first batch, planning tokens weighted (1 +- 1) A
    assert max((alpha_params[n] - grpo_params[n]).abs().max().item() for n in grpo_params) > 1e-4


def test_lora_with_gradient_accumulation_and_two_iterations(tiny, dataset, tmp_path, lexicon_file):
    """PEFT LoRA + gradient accumulation + num_iterations=2: the buffered (B, T) advantages are reused."""
    from peft import LoraConfig

    from hicra.integrations.trl import HICRAConfig, HICRATrainer

    model, tokenizer = tiny
    args = HICRAConfig(
        **base_kwargs(
            tmp_path,
            detector=lexicon_file,
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
            num_iterations=2,
            max_steps=2,
        )
    )
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = HICRATrainer(
        model=model,
        reward_funcs=count_reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
    )
    before = params(trainer.model)
    trainer.train()
    after = params(trainer.model)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all("lora_" in n for n in changed), "only the LoRA adapters train"
    # 2 optimizer steps x 2 accumulation micro-batches; one generation serves both iterations.
    assert trainer._step == 4 and len(losses(trainer)) == 2
    assert (tmp_path / "hicra_run" / "rollouts" / "step_000001.parquet").exists()
    assert not (tmp_path / "hicra_run" / "rollouts" / "step_000002.parquet").exists()


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("entropy_adv", marks=pytest.mark.slow),
        pytest.param("top_entropy", marks=pytest.mark.slow),
        pytest.param("entropy_reg", marks=pytest.mark.slow),
        pytest.param("grpo", marks=pytest.mark.slow),
    ],
)
def test_baseline_credit_modes_train(mode, tiny, dataset, tmp_path, lexicon_file):
    from hicra.integrations.trl import HICRATrainer

    seen = []

    class Spy(HICRATrainer):
        def _compute_loss(self, model, inputs):
            seen.append((inputs["advantages"].clone(), inputs["completion_mask"].bool()))
            return super()._compute_loss(model, inputs)

    # a = 0.01: the entropy bonus 0.01 H stays under |A| / k, so it varies from token to token.
    params = '{"a": 0.01}' if mode == "entropy_adv" else None
    trainer = hicra_trainer(
        tiny,
        dataset,
        tmp_path,
        lexicon_file,
        trainer_cls=Spy,
        credit_mode=mode,
        credit_options=params,
        max_steps=1,
        log_dynamics_metrics=False,
        write_run_dir=False,
    )
    trainer.train()
    advantages, mask = seen[0]
    assert advantages.dim() == 2 and bool((advantages[~mask] == 0).all())
    high = advantages.masked_fill(~mask, -torch.inf).max(1).values
    low = advantages.masked_fill(~mask, torch.inf).min(1).values
    varies_within_response = bool(((high - low) > 1e-6).any())
    assert varies_within_response == (mode in ("entropy_adv", "top_entropy"))
    if mode == "entropy_reg":
        assert trainer.entropy_coef == pytest.approx(1e-3)
    assert not (tmp_path / "hicra_run").exists()


@pytest.mark.slow
def test_resume_from_checkpoint_continues_the_run_dir(tiny_dir, dataset, tmp_path, lexicon_file):
    from hicra.models import load_model_and_tokenizer
    from hicra.runs import RunReader

    first = hicra_trainer(
        load_model_and_tokenizer(tiny_dir),
        dataset,
        tmp_path,
        lexicon_file,
        max_steps=3,
        save_strategy="steps",
        save_steps=2,
    )
    first.train()
    reader = RunReader(tmp_path / "hicra_run")
    assert [m["step"] for m in reader.metrics()] == [1, 2, 3] and reader.rollout_steps() == [
        1,
        2,
        3,
    ]

    again = hicra_trainer(
        load_model_and_tokenizer(tiny_dir),
        dataset,
        tmp_path,
        lexicon_file,
        max_steps=4,
        save_strategy="no",
    )
    again.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    steps = [m["step"] for m in reader.metrics()]
    assert steps == [1, 2, 3, 4], steps  # step 3 of the first run replaced by the resumed run's
    assert reader.rollout_steps() == [1, 2, 3, 4]
    with open(tmp_path / "hicra_run" / "metrics.jsonl") as f:
        assert [int(line.split('"step": ')[1].split(",")[0]) for line in f] == [1, 2, 3, 4]
