"""GRPO vs HICRA on the demo's world over several seeds: final accuracy and phase timing.

    python benchmarks/bench_demo_seeds.py                     # 5 seeds x 2 arms, demo recipe
    python benchmarks/bench_demo_seeds.py --seeds 0 1 2 3 4 5 6 7 --steps 80
    python benchmarks/bench_demo_seeds.py --arms grpo hicra hicra:0.5 hicra:-0.2   # alpha sweep
    python benchmarks/bench_demo_seeds.py --arms grpo hicra hicra@placebo           # placebo mask
    python benchmarks/bench_demo_seeds.py --arms grpo hicra hicra@my_lexicon.txt    # other lexicon

One SFT warm start (the demo's, seed 0, cached) is shared by every run; the RL seed changes
the problem stream and the sampling. For each seed the arms run in parallel (one thread
each). Per arm: final accuracy (mean of the last 5 logged steps) and the phase-transition
step of the dynamics detector; mean with a bootstrap 95% CI over seeds, and the paired
difference HICRA - GRPO per seed with its own CI. Writes benchmarks/out/demo_seeds.{json,md,png}
and copies the table and figure to benchmarks/results/.
Time: about one demo RL stage per seed (~4-5 minutes on 2 free cores at the demo recipe).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

from common import bootstrap_ci  # noqa: E402  (benchmarks/common.py, beside this script)


def parse_arm(spec: str) -> tuple[str, str, float, str]:
    """'grpo' | 'hicra' | 'hicra:0.5' | 'hicra@placebo' | 'hicra@FILE' -> (name, credit mode,
    alpha, lexicon: '' = the world's own, 'placebo' = the world's mask shuffled within each
    response (TrainConfig.placebo_mask), else a lexicon file)."""
    head, _, lexicon = spec.partition("@")
    mode, _, alpha = head.partition(":")
    name = head.replace(":", "_a") + ("_" + Path(lexicon).stem if lexicon else "")
    return (name, mode, float(alpha) if alpha else 0.2, lexicon)


def stats(values) -> dict:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    lo, hi = bootstrap_ci(finite)
    return {"mean": float(np.mean(finite)) if finite else math.nan,
            "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan,
            "ci95": [lo, hi], "n": len(finite), "values": list(values)}


def fmt(s: dict, digits: int = 3) -> str:
    if not s["n"]:
        return "n/a"
    lo, hi = s["ci95"]
    ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if math.isfinite(lo) else ""
    return f"{s['mean']:.{digits}f}{ci} (n={s['n']})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--arms", nargs="+", default=["grpo", "hicra"], help="mode or mode:alpha")
    p.add_argument("--steps", type=int, default=None, help="RL steps (default: the demo recipe's)")
    p.add_argument("--recipe", default=None, help="TrainConfig YAML (default: the demo's)")
    p.add_argument("--quick", action="store_true", help="the demo's quick budget (a smoke test of this script)")
    p.add_argument("--work", default=str(HERE / "out" / "demo_seeds_runs"), help="where the runs go")
    args = p.parse_args(argv)

    from hicra.demo import recipe_path, run_arms, sft_config
    from hicra.dynamics.analysis import analyze_run
    from hicra.tasks.countdown import CountdownTask
    from hicra.trainer.config import load_yaml
    from hicra.trainer.sft import run_sft

    task = CountdownTask()
    base = load_yaml(args.recipe or recipe_path(args.quick))
    if args.steps is not None:
        base = replace(base, steps=args.steps)
    t0 = time.perf_counter()
    checkpoint = run_sft(sft_config(args.quick, 0), task)
    print(f"SFT checkpoint {checkpoint} ({time.perf_counter() - t0:.0f} s)")
    arms = [parse_arm(a) for a in args.arms]
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    lexicon = task.planning_lexicon()  # metrics always use the world's lexicon
    per_seed: dict[str, dict[int, dict]] = {name: {} for name, *_ in arms}
    curves: dict[str, list[np.ndarray]] = {name: [] for name, *_ in arms}
    for seed in args.seeds:
        configs = [replace(base, model=str(checkpoint), credit_mode=mode, alpha=alpha, seed=seed,
                           detector="" if lex == "placebo" else lex, placebo_mask=lex == "placebo",
                           metrics_lexicon="task", run_dir=str(work / f"seed{seed}" / name),
                           resume=False, progress=False)
                   for name, mode, alpha, lex in arms]
        t = time.perf_counter()
        print(f"seed {seed}: {', '.join(a for a in args.arms)}")
        run_arms(configs, parallel=True)
        for (name, *_), c in zip(arms, configs):
            a = analyze_run(Path(c.run_dir), lexicon=lexicon)
            final = a.final(last=5)
            per_seed[name][seed] = {"final_accuracy": final.get("accuracy", math.nan),
                                    "transition_step": a.phases.transition_step, "phase_kind": a.phases.kind,
                                    "final_backtrack": final.get("task/backtrack_after_failed_check", math.nan),
                                    "final_exec_error": final.get("task/exec_error_rate", math.nan)}
            curves[name].append(a.series.get("accuracy", np.full(len(a.steps), np.nan)))
        print(f"  {time.perf_counter() - t:.0f} s: " + ", ".join(
            f"{n} acc {per_seed[n][seed]['final_accuracy']:.3f} turn {per_seed[n][seed]['transition_step']}"
            for n, *_ in arms))

    summary = {"seeds": args.seeds, "steps": base.steps, "sft_checkpoint": str(checkpoint),
               "recipe": str(args.recipe or recipe_path(args.quick)), "arms": {}}
    for name, *_ in arms:
        rows = [per_seed[name][s] for s in args.seeds]
        tr = [r["transition_step"] for r in rows]
        summary["arms"][name] = {
            "final_accuracy": stats([r["final_accuracy"] for r in rows]),
            "transition_step": stats([float(x) if x is not None else math.nan for x in tr]),
            "two_phase_runs": sum(r["phase_kind"] == "two_phase" for r in rows),
            "final_backtrack_after_failed_check": stats([r["final_backtrack"] for r in rows]),
            "final_exec_error_rate": stats([r["final_exec_error"] for r in rows]),
            "per_seed": rows,
        }
    ref = arms[0][0]
    for name, *_ in arms[1:]:
        diff = [per_seed[name][s]["final_accuracy"] - per_seed[ref][s]["final_accuracy"] for s in args.seeds]
        summary["arms"][name][f"paired_diff_vs_{ref}"] = stats(diff)
    write_outputs(summary, curves, args)
    return 0


def write_outputs(summary: dict, curves: dict, args) -> None:
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "demo_seeds.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    ref = next(iter(summary["arms"]))
    lines = [f"GRPO vs HICRA on the countdown world: {len(summary['seeds'])} seeds "
             f"({', '.join(map(str, summary['seeds']))}), {summary['steps']} RL steps each; "
             "mean [bootstrap 95% CI].", "",
             "| arm | final accuracy | paired diff vs " + ref + " | transition step | two-phase runs | "
             "backtrack after failed check | exec error rate |",
             "|---|---|---|---|---|---|---|"]
    for name, s in summary["arms"].items():
        diff = s.get(f"paired_diff_vs_{ref}")
        lines.append(f"| {name} | {fmt(s['final_accuracy'])} | {fmt(diff) if diff else '-'} | "
                     f"{fmt(s['transition_step'], 1)} | {s['two_phase_runs']}/{len(summary['seeds'])} | "
                     f"{fmt(s['final_backtrack_after_failed_check'])} | {fmt(s['final_exec_error_rate'])} |")
    table = "\n".join(lines) + "\n"
    (out / "demo_seeds.md").write_text(table)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, series in curves.items():
        width = min(len(s) for s in series)
        y = np.vstack([s[:width] for s in series])
        mean = np.nanmean(y, axis=0)
        steps = np.arange(1, width + 1)
        line, = ax.plot(steps, mean, label=f"{name} (mean of {len(series)} seeds)")
        ax.fill_between(steps, np.nanmin(y, axis=0), np.nanmax(y, axis=0), color=line.get_color(), alpha=0.15)
    ax.set_xlabel("RL step")
    ax.set_ylabel("accuracy (train batch)")
    ax.set_title("GRPO vs HICRA, countdown world (band: min-max over seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "demo_seeds.png", dpi=110)
    print("\n" + table)
    if not args.quick:
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        shutil.copy(out / "demo_seeds.md", results / "demo_seeds.md")
        shutil.copy(out / "demo_seeds.png", results / "demo_seeds.png")
        print(f"written: {out}/demo_seeds.{{json,md,png}} and copies in {results}")


if __name__ == "__main__":
    sys.exit(main())
