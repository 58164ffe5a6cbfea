"""Does `make demo` show both phases for most seeds? GRPO vs HICRA over seeds, the demo's recipe.

    python benchmarks/bench_demo_seeds.py                     # 5 seeds x 2 arms, the demo recipe
    python benchmarks/bench_demo_seeds.py --recipe my.yaml    # another recipe or world
    python benchmarks/bench_demo_seeds.py --seeds 0 1 2 --steps 80
    python benchmarks/bench_demo_seeds.py --arms grpo hicra hicra:0.5 hicra@placebo

One SFT warm start (the demo's, seed 0, of the recipe's world; cached) is shared by every
run; the RL seed changes the problem stream and the sampling. Runs go to
benchmarks/out/demo_seeds/runs/<arm>/seed<k>/ (or --work) and are resumable: a finished run is
skipped, an interrupted one resumes from its last checkpoint (`bench_efficiency.run_all`,
--workers processes of one torch thread each).

The demo's criterion, per (seed, arm), with start/end as in the demo's summary
(`hicra.demo.start_end`: mean of the first k vs the last k logged steps, k = 5 at >= 50 steps):
  * backtracking after a failed check at least doubles:  end >= 2 * start, and
  * accuracy rises by at least 10 points:                  end - start >= 0.10.
It is met when at least 4 of 5 seeds (80% of the seeds) pass in every arm. Also per arm: final
accuracy, the dynamics detector's transition step, and paired differences from the first arm.
Per seed and arm the table also shows start -> end of response length and execution-token
entropy (phase 1 lowers it). Writes benchmarks/out/demo_seeds[_TAG].{json,md,png}; with the
demo's own recipe, length and arms (or --publish) also copies them to benchmarks/results/.
A world variant: --recipe variant.yaml (task_options, e.g. {modulus: 11}) --tag m11 --publish.
Time: one demo RL stage per seed (~5 min per seed on 2 idle cores).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import bootstrap_ci, machine_info  # noqa: E402  (benchmarks/common.py)

BACKTRACK = "task/backtrack_after_failed_check"
EXEC_ENTROPY = "entropy/execution"
MIN_ACCURACY_GAIN = 0.10
MIN_BACKTRACK_RATIO = 2.0
PASS_SHARE = 0.8  # 4 of 5 seeds


def parse_arm(spec: str) -> tuple[str, str, float, str]:
    """'grpo' | 'hicra' | 'hicra:0.5' | 'hicra@placebo' | 'hicra@FILE' -> (name, credit mode,
    alpha, lexicon: '' = the world's own, 'placebo' = the world's mask shuffled within each
    response (TrainConfig.placebo_mask), else a lexicon file)."""
    head, _, lexicon = spec.partition("@")
    mode, _, alpha = head.partition(":")
    name = head.replace(":", "_a") + ("_" + Path(lexicon).stem if lexicon else "")
    return (name, mode, float(alpha) if alpha else 0.2, lexicon)


def criterion(accuracy: tuple[float, float], backtrack: tuple[float, float]) -> bool:
    """The demo's two-phase criterion on (start, end) pairs (see the module docstring).

    >>> criterion((0.20, 0.31), (0.10, 0.25)), criterion((0.20, 0.29), (0.10, 0.25))
    (True, False)
    """
    (acc0, acc1), (bt0, bt1) = accuracy, backtrack
    return bool(acc1 - acc0 >= MIN_ACCURACY_GAIN - 1e-12 and bt1 >= MIN_BACKTRACK_RATIO * bt0)


def stats(values) -> dict:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    lo, hi = bootstrap_ci(finite)
    return {
        "mean": float(np.mean(finite)) if finite else math.nan,
        "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan,
        "ci95": [lo, hi],
        "n": len(finite),
        "values": list(values),
    }


def fmt(s: dict, digits: int = 3) -> str:
    if not s["n"]:
        return "n/a"
    lo, hi = s["ci95"]
    ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if math.isfinite(lo) else ""
    return f"{s['mean']:.{digits}f}{ci}"


def run_summary(run_dir: Path, lexicon) -> tuple[dict, np.ndarray]:
    """Start/end of accuracy and backtracking, the criterion, final values and the detector's
    verdict for one finished run; and its accuracy curve."""
    from hicra.demo import start_end
    from hicra.dynamics.analysis import analyze_run

    a = analyze_run(run_dir, lexicon=lexicon)
    nan = np.full(len(a.steps), np.nan)
    acc, bt = a.series.get("accuracy", nan), a.series.get(BACKTRACK, nan)
    acc_se, bt_se = start_end(list(acc)), start_end(list(bt))
    final = a.final(last=5)
    # per-step cost: CPU seconds of the one-thread arm (what a step takes on an idle machine;
    # nan for runs logged before the trainer recorded it) and wall seconds (under this load)
    cpu = [r.get("time/step_cpu_s", math.nan) for r in a.rows]
    wall = [r.get("time/step_s", math.nan) for r in a.rows]
    return {
        "step_cpu_s": float(np.nanmean(cpu)) if np.isfinite(cpu).any() else math.nan,
        "step_wall_s": float(np.nanmean(wall)) if np.isfinite(wall).any() else math.nan,
        "accuracy": list(acc_se),
        "backtrack": list(bt_se),
        "passes": criterion(acc_se, bt_se),
        "final_accuracy": final.get("accuracy", math.nan),
        "final_exec_error": final.get("task/exec_error_rate", math.nan),
        "length": list(start_end(list(a.series.get("length/mean", nan)))),
        "exec_entropy": list(start_end(list(a.series.get(EXEC_ENTROPY, nan)))),
        "transition_step": a.phases.transition_step,
        "phase_kind": a.phases.kind,
        "steps": int(a.steps[-1]) if a.steps.size else 0,
    }, acc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument(
        "--arms",
        nargs="+",
        default=["grpo", "hicra"],
        help="mode, mode:alpha, mode@placebo, mode@FILE",
    )
    p.add_argument("--steps", type=int, default=None, help="RL steps (default: the recipe's)")
    p.add_argument(
        "--recipe",
        default=None,
        help="TrainConfig YAML, task_options included (default: the demo's)",
    )
    p.add_argument(
        "--quick", action="store_true", help="the demo's quick budget (a smoke test of this script)"
    )
    p.add_argument("--workers", type=int, default=2, help="runs in parallel, one torch thread each")
    p.add_argument(
        "--work",
        default=None,
        help="where the runs go (default benchmarks/out/demo_seeds[_TAG][_quick]/runs)",
    )
    p.add_argument(
        "--tag",
        default="",
        help="name of another recipe's outputs: benchmarks/out/demo_seeds_TAG.{json,md,png}",
    )
    p.add_argument(
        "--publish",
        action="store_true",
        help="copy the outputs to benchmarks/results/ (done anyway for "
        "the demo's own recipe at its own length and arms)",
    )
    args = p.parse_args(argv)

    from bench_efficiency import run_all
    from hicra.demo import demo_task, recipe_path, sft_config
    from hicra.trainer.config import load_yaml
    from hicra.trainer.sft import run_sft

    recipe = Path(args.recipe or recipe_path(args.quick))
    base = load_yaml(recipe)
    if args.steps is not None:
        base = replace(base, steps=args.steps)
    task = demo_task(base)
    t0 = time.perf_counter()
    checkpoint = run_sft(sft_config(args.quick, 0), task)
    sft_eval = json.loads((checkpoint / "metrics.json").read_text()).get("eval", {})
    print(
        f"SFT checkpoint {checkpoint} ({time.perf_counter() - t0:.0f} s); start: accuracy "
        f"{sft_eval.get('accuracy', math.nan):.3f}, backtrack after failed check "
        f"{sft_eval.get(BACKTRACK[5:], math.nan):.3f}"
    )
    arms = [parse_arm(a) for a in args.arms]
    stem = "demo_seeds" + (f"_{args.tag}" if args.tag else "")
    work = (
        Path(args.work)
        if args.work
        else HERE / "out" / (stem + ("_quick" if args.quick else "")) / "runs"
    )
    jobs = []  # seed-major: a stopped benchmark leaves every arm with the same seeds done
    for seed in args.seeds:
        for name, mode, alpha, lex in arms:
            cfg = replace(
                base,
                model=str(checkpoint),
                credit_mode=mode,
                alpha=alpha,
                seed=seed,
                detector="" if lex == "placebo" else lex,
                placebo_mask=lex == "placebo",
                metrics_lexicon="task",
                run_dir=str(work / name / f"seed{seed}"),
                resume=True,
                progress=False,
                threads=1,
            )
            jobs.append((name, seed, asdict(cfg)))
    t0 = time.perf_counter()
    run_all(jobs, args.workers)
    print(f"runs finished in {(time.perf_counter() - t0) / 60:.1f} min; analysing")

    lexicon = task.planning_lexicon()  # metrics always use the world's lexicon
    per_seed: dict[str, dict[int, dict]] = {name: {} for name, *_ in arms}
    curves: dict[str, list[np.ndarray]] = {name: [] for name, *_ in arms}
    for seed in args.seeds:
        for name, *_ in arms:
            per_seed[name][seed], curve = run_summary(work / name / f"seed{seed}", lexicon)
            curves[name].append(curve)
    summary = {
        "seeds": args.seeds,
        "steps": base.steps,
        "recipe": str(recipe),
        "task_options": base.task_options,
        "sft_checkpoint": str(checkpoint),
        "sft_eval": sft_eval,
        "criterion": {
            "min_accuracy_gain": MIN_ACCURACY_GAIN,
            "min_backtrack_ratio": MIN_BACKTRACK_RATIO,
            "pass_share": PASS_SHARE,
        },
        "machine": machine_info(),
        "arms": {},
    }
    for name, *_ in arms:
        rows = [per_seed[name][s] for s in args.seeds]
        summary["arms"][name] = {
            "passes": sum(r["passes"] for r in rows),
            "final_accuracy": stats([r["final_accuracy"] for r in rows]),
            "accuracy_gain": stats([r["accuracy"][1] - r["accuracy"][0] for r in rows]),
            "backtrack_ratio": stats(
                [
                    r["backtrack"][1] / r["backtrack"][0] if r["backtrack"][0] > 0 else math.nan
                    for r in rows
                ]
            ),
            "transition_step": stats(
                [
                    float(r["transition_step"]) if r["transition_step"] is not None else math.nan
                    for r in rows
                ]
            ),
            "two_phase_runs": sum(r["phase_kind"] == "two_phase" for r in rows),
            "step_cpu_s": stats([r.get("step_cpu_s", math.nan) for r in rows]),
            "per_seed": rows,
        }
    ref = arms[0][0]
    for name, *_ in arms[1:]:
        diff = [
            per_seed[name][s]["final_accuracy"] - per_seed[ref][s]["final_accuracy"]
            for s in args.seeds
        ]
        summary["arms"][name][f"paired_diff_vs_{ref}"] = stats(diff)
    need = math.ceil(PASS_SHARE * len(args.seeds) - 1e-9)
    summary["criterion"]["met"] = all(a["passes"] >= need for a in summary["arms"].values())
    own = (
        args.recipe is None
        and args.steps is None
        and args.arms == ["grpo", "hicra"]
        and not args.tag
    )
    write_outputs(summary, curves, stem, publish=not args.quick and (own or args.publish))
    return 0


def tables(summary: dict) -> str:
    """The per-seed criterion table and the per-arm summary, in markdown."""
    seeds, arms = summary["seeds"], summary["arms"]
    need = math.ceil(PASS_SHARE * len(seeds) - 1e-9)
    from hicra.demo import summary_window

    world = f", world options {summary['task_options']}" if summary["task_options"] else ""
    k = summary_window(summary["steps"])
    lines = [
        f"{len(seeds)} seeds x {summary['steps']} RL steps "
        f"({Path(summary['recipe']).name}{world}). Start -> end: mean of the first {k} vs the "
        f"last {k} steps. A run passes when backtracking after a failed "
        "check at least doubles and accuracy rises by at least 10 points.",
        "",
        "| seed | "
        + " | ".join(
            f"{a}: accuracy | {a}: backtrack after failed check | {a}: length (tokens) "
            f"| {a}: execution entropy | {a}"
            for a in arms
        )
        + " |",
        "|---|" + "---|---|---|---|---|" * len(arms),
    ]
    for i, seed in enumerate(seeds):
        cells = []
        for a in arms.values():
            r = a["per_seed"][i]
            (a0, a1), (b0, b1) = r["accuracy"], r["backtrack"]
            (l0, l1), (e0, e1) = r["length"], r.get("exec_entropy", (math.nan, math.nan))
            cells += [
                f"{a0:.3f} -> {a1:.3f} ({100 * (a1 - a0):+.1f})",
                f"{b0:.3f} -> {b1:.3f} (x{b1 / b0:.2f})" if b0 > 0 else f"{b0:.3f} -> {b1:.3f}",
                f"{l0:.0f} -> {l1:.0f}",
                f"{e0:.3f} -> {e1:.3f}",
                "pass" if r["passes"] else "**fail**",
            ]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    lines.append(
        "| passes | "
        + " | ".join(f"| | | | **{a['passes']} of {len(seeds)}**" for a in arms.values())
        + " |"
    )
    verdict = "met" if summary["criterion"]["met"] else "NOT met"
    lines += [
        "",
        f"Criterion ({need} of {len(seeds)} seeds in every arm): **{verdict}**.",
        "",
        "| arm | final accuracy | paired diff vs "
        + next(iter(arms))
        + " | accuracy gain | backtracking ratio "
        "| transition step | two-phase runs | CPU s per step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ref = next(iter(arms))
    for name, s in arms.items():
        diff = s.get(f"paired_diff_vs_{ref}")
        lines.append(
            f"| {name} | {fmt(s['final_accuracy'])} | {fmt(diff) if diff else '-'} | "
            f"{fmt(s['accuracy_gain'])} | {fmt(s['backtrack_ratio'], 2)} | "
            f"{fmt(s['transition_step'], 1)} ({s['transition_step']['n']} of {len(seeds)}) | "
            f"{s['two_phase_runs']} of {len(seeds)} | {fmt(s['step_cpu_s'], 2)} |"
        )
    lines += [
        "",
        "CPU s per step: the one-thread arm's CPU seconds per RL step, mean over the run "
        "(what a step "
        "takes on an idle core, whatever the load when measured).",
    ]
    return "\n".join(lines) + "\n"


def write_outputs(summary: dict, curves: dict, stem: str, publish: bool) -> None:
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    table = tables(summary)
    (out / f"{stem}.md").write_text(table)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, series in curves.items():
        width = min(len(s) for s in series)
        y = np.vstack([s[:width] for s in series])
        steps = np.arange(1, width + 1)
        (line,) = ax.plot(
            steps, np.nanmean(y, axis=0), label=f"{name} (mean of {len(series)} seeds)"
        )
        ax.fill_between(
            steps, np.nanmin(y, axis=0), np.nanmax(y, axis=0), color=line.get_color(), alpha=0.15
        )
    ax.set_xlabel("RL step")
    ax.set_ylabel("accuracy (train batch)")
    world = f" {summary['task_options']}" if summary["task_options"] else ""
    ax.set_title(f"GRPO vs HICRA, countdown world{world} (band: min-max over seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=110)
    print("\n" + table)
    if publish:
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        for ext in ("json", "md", "png"):
            shutil.copy(out / f"{stem}.{ext}", results / f"{stem}.{ext}")
        print(f"written: {out}/{stem}.{{json,md,png}} and copies in {results}")
    else:
        print(
            f"written: {out}/{stem}.{{json,md,png}} "
            "(not copied to results/: not the demo's own recipe; --publish)"
        )


if __name__ == "__main__":
    sys.exit(main())
