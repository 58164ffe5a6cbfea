"""Light tests of the benchmark harness logic (statistics, curve summaries, arm parsing,
phase timing); the benchmarks themselves never run in the test suite."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_efficiency  # noqa: E402
import bench_scaling  # noqa: E402
from common import (  # noqa: E402
    PhaseTimer,
    area_under_curve,
    bootstrap_ci,
    describe,
    fmt_stat,
    paired_difference,
    patched,
    steps_to_reach,
    suppress_token,
    trailing_mean,
)


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small = rng.normal(0.4, 0.1, 5)
    large = rng.normal(0.4, 0.1, 200)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert hi_l - lo_l < hi_s - lo_s
    assert 0.35 < lo_l < 0.4 < hi_l < 0.45


def test_bootstrap_ci_ignores_missing_and_needs_two_values():
    assert all(math.isnan(x) for x in bootstrap_ci([0.3, None, float("nan")]))
    assert bootstrap_ci([0.2, None, 0.2]) == (0.2, 0.2)


def test_describe_keeps_missing_as_none_and_counts_finite():
    d = describe([0.1, None, 0.3, float("nan")])
    assert d["n"] == 2 and d["mean"] == pytest.approx(0.2)
    assert d["values"] == [0.1, None, 0.3, None]


def test_paired_difference_significance():
    ref = [0.30, 0.35, 0.28, 0.40, 0.33]
    better = [r + 0.05 + 0.005 * i for i, r in enumerate(ref)]  # consistently +5 to +7 points
    mixed = [r + d for r, d in zip(ref, [0.05, -0.04, 0.03, -0.05, 0.01])]
    up = paired_difference(better, ref)
    assert up["significant"] and up["ci95"][0] > 0 and up["mean"] == pytest.approx(0.06)
    assert not paired_difference(mixed, ref)["significant"]
    # a pair with a missing side is dropped, not counted as 0
    partial = paired_difference([0.5, None, 0.5], [0.4, 0.4, 0.4])
    assert partial["n"] == 2 and partial["mean"] == pytest.approx(0.1)
    assert "*" in fmt_stat(up) and "*" not in fmt_stat(paired_difference(mixed, ref))


def test_area_under_curve_is_the_mean_level():
    steps = np.arange(1, 11)
    assert area_under_curve(steps, np.full(10, 0.3)) == pytest.approx(0.3)
    assert area_under_curve(steps, np.linspace(0, 1, 10)) == pytest.approx(0.5)
    assert area_under_curve(np.array([1, 2, 3]), np.array([0.0, np.nan, 1.0])) == pytest.approx(0.5)
    assert math.isnan(area_under_curve(steps, np.full(10, np.nan)))


def test_steps_to_reach_uses_trailing_mean():
    steps = np.arange(1, 9)
    acc = np.array([0.1, 0.9, 0.1, 0.1, 0.6, 0.7, 0.8, 0.8])  # one lucky spike at step 2
    assert steps_to_reach(steps, acc, 0.7, window=3) == 7.0
    assert steps_to_reach(steps, acc, 0.7, window=1) == 2.0
    assert math.isnan(steps_to_reach(steps, acc, 0.95, window=3))
    np.testing.assert_allclose(trailing_mean(np.array([1.0, np.nan, 3.0]), 2), [1.0, 1.0, 3.0])


def _fake_run(acc, transition=None, kind="two_phase"):
    steps = np.arange(1, len(acc) + 1, dtype=float)
    acc = np.asarray(acc, float)
    return {
        "steps": steps.tolist(),
        "accuracy": acc.tolist(),
        "final_accuracy": float(acc[-5:].mean()),
        "auc": area_under_curve(steps, acc),
        "transition_step": transition if transition else math.nan,
        "phase_kind": kind,
    }


def test_efficiency_summary_reference_and_paired_stats():
    seeds = [0, 1, 2]
    ramp = np.linspace(0.1, 0.4, 30)
    runs = {
        "grpo": {s: _fake_run(ramp + 0.01 * s, 15) for s in seeds},
        "hicra": {s: _fake_run(np.clip(2 * ramp, 0, 0.6) + 0.01 * s, 10) for s in seeds},
    }
    summary = bench_efficiency.summarize(runs, seeds, "grpo")
    assert summary["reference_final_accuracy"] == pytest.approx(
        np.mean([runs["grpo"][s]["final_accuracy"] for s in seeds])
    )
    h = summary["arms"]["hicra"]
    assert h["reached_ref"] == 3
    assert (
        h["steps_ratio_vs_ref"]["mean"] < 0.6
    )  # hicra reaches grpo's final accuracy in < 0.6x the steps
    assert h["paired_vs_ref"]["final_accuracy"]["significant"]
    assert h["paired_vs_ref"]["transition_step"]["mean"] == pytest.approx(-5)
    text = bench_efficiency.report(summary, seeds, 30)
    assert "hicra" in text and "Significant" in text


def test_efficiency_arm_parsing():
    assert bench_efficiency.arm_overrides("placebo")["placebo_mask"] is True
    assert bench_efficiency.arm_overrides("hicra:0.3") == {"credit_mode": "hicra", "alpha": 0.3}
    assert bench_efficiency.arm_overrides("clip_cov") == {"credit_mode": "clip_cov"}
    with pytest.raises(SystemExit, match="unknown arm"):
        bench_efficiency.arm_overrides("nonsense_mode")


def test_scaling_slope_and_dominant_phase():
    assert bench_scaling.loglog_slope([1, 2, 4], [3, 6, 12]) == pytest.approx(1.0)
    assert bench_scaling.loglog_slope([1, 10], [1, 100]) == pytest.approx(2.0)
    pts = [
        {"step_s": 2.0, "phase_s": {"generation": 1.5, "forward_backward": 0.4, "tagging": 0.01}}
    ]
    assert bench_scaling.dominant(pts) == ("generation", pytest.approx(0.75))


def test_phase_timer_and_patched():
    timer = PhaseTimer()
    slow = timer.wrap(lambda: time.sleep(0.01) or 7, "sleep")
    assert slow() == 7 and slow() == 7
    assert 0.015 < timer.take()["sleep"] < 0.5
    assert timer.take() == {}

    class Box:
        value = 1

    with patched(Box, value=2):
        assert Box.value == 2
    assert Box.value == 1


def test_suppress_token_makes_eos_impossible():
    torch = pytest.importorskip("torch")
    from hicra.models import build_tiny_model, build_tokenizer

    tokenizer = build_tokenizer(["a b c d e"])
    model = build_tiny_model(tokenizer, hidden=16, layers=1, heads=2, max_positions=16).eval()
    handle = suppress_token(model, tokenizer.eos_token_id)
    with torch.no_grad():
        logits = model(torch.tensor([[tokenizer.bos_token_id, 5]])).logits
    assert (logits[..., tokenizer.eos_token_id] <= -1e8).all()
    assert torch.isfinite(torch.log_softmax(logits, -1)).all()
    handle.remove()
    with torch.no_grad():
        assert (
            model(torch.tensor([[tokenizer.bos_token_id]]))
            .logits[..., tokenizer.eos_token_id]
            .abs()
            .max()
            < 1e3
        )


def test_builtin_stepper_phases_add_up_to_the_step():
    pytest.importorskip("torch")
    from common import PHASES, BuiltinStepper
    from hicra.models import build_tiny_model, build_tokenizer
    from hicra.tasks.countdown import CountdownTask
    from hicra.trainer.config import TrainConfig

    task = CountdownTask()
    tokenizer = build_tokenizer(task)
    model = build_tiny_model(tokenizer, hidden=16, layers=1, heads=2, max_positions=64).eval()
    suppress_token(model, tokenizer.eos_token_id)
    cfg = TrainConfig(
        model="(in memory)",
        credit_mode="hicra",
        prompts_per_step=2,
        samples_per_prompt=2,
        max_new_tokens=8,
        skip_zero_signal=False,
        progress=False,
        rollouts_per_step=0,
    )
    for fuse in (True, False):  # fused: the update's forward supplies old_logp, so that phase is 0
        record = BuiltinStepper(
            replace(cfg, fuse_scoring=fuse), model, tokenizer, task=task, metrics=True
        ).step()
        seconds = record["seconds"]
        assert set(PHASES) <= set(seconds) and "metrics" in seconds
        assert sum(seconds[k] for k in PHASES) == pytest.approx(record["step_s"], rel=1e-6)
        assert min(seconds[k] for k in PHASES if k not in ("other", "old_logp")) > 0
        assert (seconds["old_logp"] > 0) is not fuse
        assert record["samples"] == 4 and record["tokens"] == 4 * 8  # EOS suppressed: full length


def test_efficiency_arm_with_lexicon_file(tmp_path):
    lexicon = tmp_path / "placebo.txt"
    lexicon.write_text("vs\n")
    arm = bench_efficiency.arm_overrides(f"hicra:0.5@{lexicon}")
    assert arm == {
        "credit_mode": "hicra",
        "alpha": 0.5,
        "detector": str(lexicon),
        "metrics_lexicon": "task",
    }
    with pytest.raises(SystemExit, match="not found"):
        bench_efficiency.arm_overrides(f"hicra@{tmp_path / 'missing.txt'}")


def test_efficiency_run_state(tmp_path):
    import json

    config = {
        "model": "sft-a",
        "credit_mode": "hicra",
        "steps": 10,
        "adam_betas": (0.9, 0.999),
        "progress": False,
    }
    assert bench_efficiency.run_state(tmp_path, config) == "fresh"
    (tmp_path / "config.json").write_text(
        json.dumps(config | {"progress": True})
    )  # control fields may differ
    assert bench_efficiency.run_state(tmp_path, config) == "resume"
    (tmp_path / bench_efficiency.DONE).write_text(json.dumps({"steps": 10}))
    assert bench_efficiency.run_state(tmp_path, config) == "done"
    assert bench_efficiency.run_state(tmp_path, config | {"steps": 20}) == "resume"  # extend
    assert (
        bench_efficiency.run_state(tmp_path, config | {"model": "sft-b"}) == "fresh"
    )  # another checkpoint
