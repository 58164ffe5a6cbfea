"""Synthetic runs for the dynamics and report tests (a planted two-phase dynamic)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hicra.dynamics import step_metrics
from hicra.runs import RunWriter

GRAMS = [
    "wait",
    "alternatively",
    "let me check",
    "but",
    "so",
    "another approach",
    "we can use the fact that",
    "break down the problem",
]


def write_run(
    run_dir: Path,
    lexicon,
    *,
    seed: int = 0,
    steps: int = 60,
    turn: int = 20,
    explore: bool = True,
    batch: int = 8,
    rollouts_every: int = 10,
) -> Path:
    """A run directory whose execution NLL falls until `turn`, then (explore=True) semantic
    entropy and accuracy rise; logged with step_metrics like the built-in trainer."""
    rng = np.random.default_rng(seed)
    with RunWriter(run_dir, {"seed": seed, "explore": explore}) as writer:
        for s in range(steps):
            level = max(0.9 - 0.5 * s / turn, 0.4) + rng.normal(0, 0.005)
            logp = -rng.exponential(level, (batch, 32))
            entropy = rng.exponential(1.2 * level, (batch, 32))
            planning = rng.random((batch, 32)) < 0.1
            k = 2 + int(6 * max(0, s - turn) / (steps - turn)) if explore else 2
            texts = [
                " ".join(
                    f"{GRAMS[rng.integers(k)]} step {j} x = {rng.integers(9)}" for j in range(6)
                )
                for _ in range(batch)
            ]
            p = 0.3 + (0.5 * max(0, s - turn) / (steps - turn) if explore else 0.0)
            correct = rng.random(batch) < p
            metrics = step_metrics(
                texts,
                lexicon,
                entropy=entropy,
                logp=logp,
                planning_mask=planning,
                rewards=correct.astype(float),
                correct=correct,
                group_ids=np.arange(batch) // 4,
            )
            metrics["task/exec_error_rate"] = 0.5 * np.exp(-s / 15)
            writer.log_metrics(s, metrics)
            if s % rollouts_every == 0 or s == steps - 1:
                writer.log_rollouts(
                    s,
                    [
                        {
                            "prompt_id": f"p{i // 4}",
                            "prompt": "make 24 from 3 4 6 1",
                            "response": texts[i],
                            "reward": float(correct[i]),
                            "correct": bool(correct[i]),
                        }
                        for i in range(batch)
                    ],
                )
    return Path(run_dir)


def write_verl(dump: Path, steps=(1, 2, 3), n=8, with_acc=True) -> Path:
    """Files as verl 0.9.1's `_dump_generations` writes them: <step>.jsonl, one object a line."""
    dump.mkdir(parents=True, exist_ok=True)
    for step in steps:
        lines = []
        for i in range(n):
            entry = {
                "input": f"user: problem {i % 2}\nassistant:",
                "output": f"Wait, let me check. {step} {i}",
                "gts": "4",
                "score": float(i < step),
                "step": step,
            }
            if with_acc:
                entry["acc"] = i < step
            lines.append(json.dumps(entry))
        (dump / f"{step}.jsonl").write_text("\n".join(lines) + "\n")
    return dump
