"""Same versions, same seed, same thread count -> the same run: the demo's quick pipeline
(SFT warm start, then 3 RL steps of the quick recipe) twice gives identical weights and
identical metrics, all but the wall-clock timings. The RL steps score with the dense reward of
the trainer fixtures, so that every step updates the weights (the quick SFT model is never
right, and a step without signal makes no update)."""

from __future__ import annotations

import json
from dataclasses import replace

import torch
from safetensors.torch import load_file

from hicra.demo import demo_task, recipe_path, sft_config
from hicra.trainer.config import load_yaml
from hicra.trainer.grpo import train
from hicra.trainer.sft import run_sft


def weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def metrics_without_timings(run_dir) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [
        {k: v for k, v in row.items() if k != "time" and not k.startswith("time/")} for row in rows
    ]


def test_quick_demo_twice_gives_the_same_run(tmp_path, dense_task):
    base = load_yaml(recipe_path(quick=True))
    task = demo_task(base)
    sft = replace(sft_config(quick=True), num_threads=1)
    first = run_sft(replace(sft, cache_dir=str(tmp_path / "a")), task)
    second = run_sft(replace(sft, cache_dir=str(tmp_path / "b")), task)
    a, b = weights(first), weights(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    runs = []
    for name, checkpoint in (("a", first), ("b", second)):
        cfg = replace(
            base,
            model=str(checkpoint),
            credit_mode="hicra",
            seed=3,
            threads=1,
            run_dir=str(tmp_path / f"run_{name}"),
            checkpoint_every=0,
            progress=False,
        )
        runs.append(train(cfg, task=dense_task))
    one, two = metrics_without_timings(runs[0]), metrics_without_timings(runs[1])
    assert [m["step"] for m in one] == [1, 2, 3]
    assert json.dumps(one) == json.dumps(two)  # NaN-safe exact comparison
    final_a = weights(sorted((runs[0] / "checkpoints").iterdir())[-1])
    final_b = weights(sorted((runs[1] / "checkpoints").iterdir())[-1])
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    assert not all(torch.equal(final_a[k], a[k]) for k in a)  # RL changed the weights
