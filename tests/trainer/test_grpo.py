"""End-to-end runs of the built-in trainer on a random tiny model (a few seconds each)."""

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from hicra.runs import RunReader
from hicra.trainer.checkpoint import list_checkpoints
from hicra.trainer.config import TrainConfig
from hicra.trainer.grpo import train


def tiny_config(model_dir, run_dir, **overrides) -> TrainConfig:
    base = TrainConfig(
        model=str(model_dir),
        prompts_per_step=3,
        samples_per_prompt=4,
        max_new_tokens=10,
        lr=1e-3,
        steps=3,
        seed=0,
        run_dir=str(run_dir),
        checkpoint_every=1,
        rollouts_per_step=5,
        progress=False,
    )
    return replace(base, **overrides)


def final_params(run_dir) -> dict[str, torch.Tensor]:
    step, path = list_checkpoints(run_dir)[-1]
    return load_file(str(path / "model.safetensors"))


def metric_lines(run_dir) -> list[str]:
    """metrics.jsonl without wall-clock fields, as text (NaN-safe exact comparison)."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [
        json.dumps({k: v for k, v in m.items() if k != "time" and not k.startswith("time/")})
        for m in lines
    ]


def test_train_writes_metrics_rollouts_checkpoints_and_learns(
    tiny_model_dir, dense_task, digit_lexicon, tmp_path
):
    run = tmp_path / "run"
    train(tiny_config(tiny_model_dir, run), task=dense_task, lexicon=digit_lexicon)
    metrics = RunReader(run).metrics()
    assert [m["step"] for m in metrics] == [1, 2, 3]
    for key in (
        "accuracy",
        "reward/mean",
        "entropy/planning",
        "entropy/execution",
        "nll/execution",
        "semantic/entropy",
        "task/exec_error_rate",
        "task/strategy_entropy",
        "loss/pg_loss",
        "update/grad_norm",
        "time/step_s",
    ):
        assert key in metrics[-1], key
    assert not any(k.startswith("task/tried/") for k in metrics[-1])  # pooled, not logged
    rollouts = RunReader(run).rollouts(2)
    assert len(rollouts) == 5
    row = rollouts[0]
    assert (
        len(row["token_ids"])
        == len(row["logp"])
        == len(row["entropy"])
        == len(row["planning_mask"])
    )
    assert json.loads((run / "config.json").read_text())["credit_mode"] == "hicra"
    assert [s for s, _ in list_checkpoints(run)] == [2, 3]  # keep_checkpoints=2
    initial = load_file(str(tiny_model_dir / "model.safetensors"))
    trained = final_params(run)
    changed = [k for k in initial if not torch.equal(initial[k], trained[k])]
    assert len(changed) == len(initial)


def test_resume_gives_the_same_result_as_an_uninterrupted_run(
    tiny_model_dir, dense_task, digit_lexicon, tmp_path
):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    cfg = tiny_config(
        tiny_model_dir, straight, steps=4, checkpoint_every=2, epochs_per_batch=2, minibatches=2
    )
    train(cfg, task=dense_task, lexicon=digit_lexicon)
    # "killed" after step 3: the checkpoint of step 2 exists, step 3's metrics were written
    train(replace(cfg, run_dir=str(resumed), steps=3), task=dense_task, lexicon=digit_lexicon)
    assert [s for s, _ in list_checkpoints(resumed)] == [2, 3]
    (list_checkpoints(resumed)[-1][1] / "trainer_state.pt").unlink()  # lose the last one
    train(replace(cfg, run_dir=str(resumed)), task=dense_task, lexicon=digit_lexicon)
    a, b = final_params(straight), final_params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert metric_lines(straight) == metric_lines(resumed)


def test_resume_refuses_changed_options(tiny_model_dir, dense_task, digit_lexicon, tmp_path):
    cfg = tiny_config(tiny_model_dir, tmp_path / "run", steps=1)
    train(cfg, task=dense_task, lexicon=digit_lexicon)
    with pytest.raises(ValueError, match="lr"):
        train(replace(cfg, steps=2, lr=5e-4), task=dense_task, lexicon=digit_lexicon)


def test_hicra_alpha_zero_is_exactly_grpo(tiny_model_dir, dense_task, digit_lexicon, tmp_path):
    runs = {}
    for name, mode, alpha in (
        ("grpo", "grpo", 0.2),
        ("hicra0", "hicra", 0.0),
        ("hicra", "hicra", 0.2),
    ):
        cfg = tiny_config(tiny_model_dir, tmp_path / name, credit_mode=mode, alpha=alpha, steps=2)
        train(cfg, task=dense_task, lexicon=digit_lexicon)
        runs[name] = (final_params(tmp_path / name), metric_lines(tmp_path / name))
    grpo, hicra0, hicra = runs["grpo"], runs["hicra0"], runs["hicra"]
    assert all(torch.equal(grpo[0][k], hicra0[0][k]) for k in grpo[0])
    assert grpo[1] == hicra0[1]
    assert json.loads(hicra[1][0])["tokens/planning_fraction"] > 0
    assert not all(torch.equal(grpo[0][k], hicra[0][k]) for k in grpo[0])  # alpha > 0 does differ


def test_micro_batches_match_one_pass(tiny_model_dir, dense_task, digit_lexicon, tmp_path):
    params = {}
    for name, micro, agg in (
        ("one", 0, "seq_mean_token_mean"),
        ("micro", 5, "seq_mean_token_mean"),
    ):
        train(
            tiny_config(
                tiny_model_dir, tmp_path / name, steps=1, micro_batch_size=micro, loss_agg=agg
            ),
            task=dense_task,
            lexicon=digit_lexicon,
        )
        params[name] = final_params(tmp_path / name)
    for k in params["one"]:
        torch.testing.assert_close(params["one"][k], params["micro"][k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "mode,micro", [("hicra", 0), ("hicra", 5), ("entropy_reg", 5), ("kl_cov", 0)]
)
def test_fused_scoring_equals_the_separate_no_grad_pass(
    tiny_model_dir, dense_task, digit_lexicon, tmp_path, mode, micro
):
    """One epoch of one minibatch: taking old_logp and entropy from the update's forward gives
    the same weights, metrics and rollouts as the separate pass, bit for bit."""
    from hicra.credit import resolve_credit_mode
    from hicra.trainer.grpo import fused_scoring

    runs = {}
    for fuse in (True, False):
        cfg = tiny_config(
            tiny_model_dir,
            tmp_path / str(fuse),
            credit_mode=mode,
            micro_batch_size=micro,
            fuse_scoring=fuse,
        )
        assert fused_scoring(cfg, resolve_credit_mode(mode)) is fuse
        train(cfg, task=dense_task, lexicon=digit_lexicon)
        runs[fuse] = (
            final_params(tmp_path / str(fuse)),
            metric_lines(tmp_path / str(fuse)),
            RunReader(tmp_path / str(fuse)).rollouts(3),
        )
    (p1, m1, r1), (p0, m0, r0) = runs[True], runs[False]
    assert all(torch.equal(p1[k], p0[k]) for k in p1)
    assert m1 == m0
    assert [(r["logp"], r["entropy"]) for r in r1] == [(r["logp"], r["entropy"]) for r in r0]


def test_fused_scoring_is_off_where_the_update_cannot_supply_it(tiny_model_dir, tmp_path):
    from hicra.credit import resolve_credit_mode
    from hicra.trainer.grpo import fused_scoring

    cfg = tiny_config(tiny_model_dir, tmp_path)
    assert fused_scoring(cfg, resolve_credit_mode("hicra"))
    assert not fused_scoring(
        cfg, resolve_credit_mode("top_entropy")
    )  # its transform reads the entropy
    for changed in (
        {"epochs_per_batch": 2},
        {"minibatches": 2},
        {"dynamic_sampling": True},
        {"fuse_scoring": False},
    ):
        assert not fused_scoring(replace(cfg, **changed), resolve_credit_mode("hicra")), changed


def test_fused_scoring_still_scores_a_step_without_update(tiny_model_dir, tmp_path):
    """Reward 0 everywhere: the update is skipped, and the no-grad pass supplies the metrics."""
    from hicra.tasks.countdown import CountdownTask

    train(tiny_config(tiny_model_dir, tmp_path / "run", steps=1), task=CountdownTask())
    (metrics,) = RunReader(tmp_path / "run").metrics()
    assert metrics["update/skipped"] == 1.0 and metrics["entropy/execution"] > 0
    assert all(
        len(r["logp"]) == len(r["token_ids"]) and any(r["logp"])
        for r in RunReader(tmp_path / "run").rollouts(1)
    )


def test_kl_reference_dynamic_sampling_and_baseline_modes_run(
    tiny_model_dir, dense_task, digit_lexicon, tmp_path
):
    cfg = tiny_config(
        tiny_model_dir,
        tmp_path / "kl",
        steps=2,
        kl_beta=0.1,
        dynamic_sampling=True,
        credit_mode="top_entropy",
        entropy_coef=0.01,
        dual_clip=3.0,
        epochs_per_batch=2,
    )
    train(cfg, task=dense_task, lexicon=digit_lexicon)
    first, second = RunReader(tmp_path / "kl").metrics()
    assert first["loss/kl"] > 0  # second epoch: the policy has moved from the reference
    assert 0 < first["update/kept_frac"] <= 1 and first["update/skipped"] == 0.0


def test_steps_without_signal_make_no_update(tiny_model_dir, tmp_path):
    """The real countdown verifier gives a random model reward 0 everywhere: every advantage is
    zero, so no optimizer step is taken and the weights stay the initial ones."""
    from hicra.tasks.countdown import CountdownTask

    train(
        tiny_config(tiny_model_dir, tmp_path / "run", steps=2, dynamic_sampling=True),
        task=CountdownTask(),
    )
    assert [m["update/skipped"] for m in RunReader(tmp_path / "run").metrics()] == [1.0, 1.0]
    initial = load_file(str(tiny_model_dir / "model.safetensors"))
    trained = final_params(tmp_path / "run")
    assert all(torch.equal(initial[k], trained[k]) for k in initial)


def test_placebo_mask_keeps_counts_and_moves_positions():
    from hicra.trainer.grpo import shuffle_within_rows

    gen = torch.Generator().manual_seed(0)
    response_mask = torch.tensor([[True] * 6 + [False] * 2, [True] * 8])
    mask = torch.tensor(
        [
            [True, True, False, False, False, False, False, False],
            [False, False, False, False, False, True, True, True],
        ]
    )
    shuffled = [shuffle_within_rows(mask, response_mask, gen) for _ in range(20)]
    for s in shuffled:
        assert torch.equal(s.sum(1), mask.sum(1)) and not (s & ~response_mask).any()
    assert any(not torch.equal(s, mask) for s in shuffled)


def test_no_resume_and_other_options_replace_a_run_only_with_force(
    tiny_model_dir, dense_task, digit_lexicon, tmp_path
):
    from hicra.errors import InputError

    cfg = tiny_config(tiny_model_dir, tmp_path / "run", steps=1)
    train(cfg, task=dense_task, lexicon=digit_lexicon)
    (tmp_path / "run" / "notes.txt").write_text("mine")
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    for changed in (replace(cfg, resume=False), replace(cfg, lr=5e-4)):
        with pytest.raises(InputError, match="--force"):
            train(changed, task=dense_task, lexicon=digit_lexicon)
        assert (tmp_path / "run" / "metrics.jsonl").read_text() == before
    train(replace(cfg, lr=5e-4, steps=2, force=True), task=dense_task, lexicon=digit_lexicon)
    assert [m["step"] for m in RunReader(tmp_path / "run").metrics()] == [1, 2]
    assert RunReader(tmp_path / "run").config()["lr"] == 5e-4
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"  # not a file of the run


def test_bfloat16_rollouts_sample_from_the_updated_policy(
    tiny_model_dir, dense_task, digit_lexicon, tmp_path
):
    from hicra.models.sampling import RolloutCopy
    from hicra.trainer.setup import load_policy

    model, _ = load_policy(tiny_model_dir, "cpu")
    copy = RolloutCopy(torch.bfloat16)
    first = copy.refresh(model)
    assert all(p.dtype == torch.bfloat16 for p in first.parameters())
    assert all(b.dtype == torch.float32 for b in first.buffers() if b.is_floating_point())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)
    again = copy.refresh(model)  # same tensors, the policy's new weights
    assert again is first
    for mine, theirs in zip(again.parameters(), model.parameters()):
        assert torch.equal(mine, theirs.to(torch.bfloat16))

    cfg = tiny_config(tiny_model_dir, tmp_path / "bf16", rollout_dtype="bfloat16", steps=2)
    train(cfg, task=dense_task, lexicon=digit_lexicon)
    metrics = [
        json.loads(line) for line in (tmp_path / "bf16" / "metrics.jsonl").read_text().splitlines()
    ]
    for m in metrics:  # the copy samples close to, not exactly, the policy's distribution
        assert 0 < m["rollout/logp_gap_mean"] < 0.05 and m["rollout/logp_gap_max"] < 1.0
    plain = tiny_config(tiny_model_dir, tmp_path / "fp32", steps=1)
    train(plain, task=dense_task, lexicon=digit_lexicon)
    assert "rollout/logp_gap_mean" not in (tmp_path / "fp32" / "metrics.jsonl").read_text()
