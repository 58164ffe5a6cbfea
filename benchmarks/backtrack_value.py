"""Does backtracking after a failed check pay, in a run's first steps? Backtracked vs concluded.

    python benchmarks/backtrack_value.py benchmarks/out/demo_seeds/runs/grpo/seed0 --steps 1 40

For every kept rollout (the run directory's rollouts/step_*.parquet: `rollouts_per_step`
responses per step) whose first check says "no", whether the response backtracked next or
concluded, its reward and advantage, and how many of those "no"s were false (the attempt's
claimed result equalled the target, so concluding would have been right). RL can amplify
backtracking only when the backtracked group's advantage is above the concluded one's
(docs/world.md, "Why backtrack_rate is 0.55").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def backtrack_value(run_dir: Path, first: int, last: int) -> dict[str, dict]:
    """{"backtracked" | "concluded": {n, reward, advantage, false_no}} over steps first..last."""
    from hicra.tasks.countdown import grammar
    from hicra.tasks.countdown.verifier import parse_response

    config = json.loads((run_dir / "config.json").read_text())
    options = config.get("task_options") or {}
    strategies = grammar.strategies(
        tuple(options.get("ops", ("+", "*"))), options.get("n_numbers", 3)
    )
    rows: dict[bool, list] = {True: [], False: []}
    false_no = {True: 0, False: 0}
    for path in sorted((run_dir / "rollouts").glob("step_*.parquet")):
        if not first <= int(path.stem.split("_")[1]) <= last:
            continue
        table = pq.read_table(path, columns=["prompt", "response", "reward", "advantage"])
        for r in table.to_pylist():
            target = int(r["prompt"].split("target")[1].split()[0])
            attempt = next(
                (
                    a
                    for a in parse_response(r["response"], strategies).attempts
                    if a.check_says_yes is False
                ),
                None,
            )
            if attempt is not None:
                rows[attempt.backtracked_after].append((r["reward"], r["advantage"]))
                false_no[attempt.backtracked_after] += attempt.claimed_result == target
    out = {}
    for key, name in ((True, "backtracked"), (False, "concluded")):
        x = np.array(rows[key], dtype=float).reshape(-1, 2)
        mean = x.mean(axis=0) if len(x) else (np.nan, np.nan)
        out[name] = {
            "n": len(x),
            "reward": float(mean[0]),
            "advantage": float(mean[1]),
            "false_no": false_no[key],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--steps", type=int, nargs=2, default=(1, 40), metavar=("FIRST", "LAST"))
    args = p.parse_args(argv)
    if not (args.run_dir / "rollouts").is_dir():
        print(f"{args.run_dir}: expected a run directory with rollouts/", file=sys.stderr)
        return 2
    for name, s in backtrack_value(args.run_dir, *args.steps).items():
        print(
            f"{name:11s} n={s['n']:4d} reward={s['reward']:.3f} advantage={s['advantage']:+.3f} "
            f"false no={s['false_no']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
