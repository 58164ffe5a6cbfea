"""Learning efficiency on the countdown world: HICRA against GRPO and the paper's baselines.

    python benchmarks/bench_efficiency.py                       # every default arm x 5 seeds
    python benchmarks/bench_efficiency.py --quick               # smoke test (~1 min)
    python benchmarks/bench_efficiency.py --arms grpo hicra hicra:0.5 --seeds 0 1 2 --steps 120
    python benchmarks/bench_efficiency.py --list-arms
    python benchmarks/bench_efficiency.py --model smollm2-135m --task word-arith --arms grpo hicra placebo \
        --seeds 0 1 --steps 30 --workers 1 --out benchmarks/out/efficiency_word_arith   # a real pretrained model

Every run starts from the same SFT checkpoint (the demo's warm start, cached; or --model, a
pretrained model with the task's real-model recipe, `demo_real.yaml` for word-arith) and, for a
given seed, sees the same problem stream (the trainer draws step s's problems from
(seed, s)); the arms differ only in the credit assignment. Runs go to
benchmarks/out/efficiency/runs/<arm>/seed<k>/ and are resumable: a finished run (marker
bench_done.json with the same step count) is skipped, an interrupted one resumes from its last
checkpoint. Runs execute in --workers parallel processes, one torch thread each.

Per arm (mean over seeds, bootstrap 95% interval): final accuracy (mean of the last 5 logged
steps), area under the accuracy curve (its mean level over the run), steps to reach GRPO's
final accuracy (first step whose trailing 5-step mean reaches the GRPO arm's mean final
accuracy; runs that never reach it count as not reaching, reported as a count), and the
phase-transition step of `hicra.dynamics` (analyze_run). Paired differences arm - GRPO
(same seed) with intervals; `*` marks an interval that excludes 0.
Outputs in benchmarks/out/efficiency/: results.json, results.md, curves.png.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import math
import multiprocessing
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    area_under_curve,
    describe,
    fmt_stat,
    machine_info,
    markdown_table,
    out_dir,
    paired_difference,
    plt,
    steps_to_reach,
    trailing_mean,
    write_json,
)

# name -> TrainConfig overrides. The placebo is the trainer's `placebo_mask`: each response's
# planning-token flags moved to random positions of the same response (same count per
# response), credit-only; metrics keep the world's lexicon. The paper's n-gram placebo
# (hicra.ablations.placebo) cannot be built in this world: outside planning phrases its text
# is digits and symbols, so the only word n-grams left are "vs", "no" and "yes" (docs/benchmarks.md).
ARMS: dict[str, dict] = {
    "grpo": {"credit_mode": "grpo"},
    "hicra": {"credit_mode": "hicra", "alpha": 0.2},
    "hicra_a0.1": {"credit_mode": "hicra", "alpha": 0.1},
    "hicra_a0.5": {"credit_mode": "hicra", "alpha": 0.5},
    "hicra_a1.0": {"credit_mode": "hicra", "alpha": 1.0},
    "placebo": {
        "credit_mode": "hicra",
        "alpha": 0.2,
        "placebo_mask": True,
        "metrics_lexicon": "task",
    },
    "top_entropy": {"credit_mode": "top_entropy"},
    "entropy_reg": {"credit_mode": "entropy_reg"},
    "clip_cov": {"credit_mode": "clip_cov"},
    "kl_cov": {"credit_mode": "kl_cov"},
}
DEFAULT_ARMS = [
    "grpo",
    "hicra",
    "hicra_a0.1",
    "hicra_a0.5",
    "hicra_a1.0",
    "placebo",
    "top_entropy",
    "entropy_reg",
    "clip_cov",
]
FINAL_LAST = 5  # final accuracy = mean of the last 5 logged steps
REACH_WINDOW = 5  # steps-to-reach uses a trailing 5-step mean
DONE = "bench_done.json"


def arm_overrides(spec: str) -> dict:
    """An arm name of ARMS, or 'MODE' / 'MODE:ALPHA' of the credit registry (e.g. hicra:0.3),
    optionally '@FILE': credit from that lexicon file (e.g. a placebo lexicon of
    `hicra mine`/`hicra.ablations.placebo`), metrics from the world's own lexicon."""
    if spec in ARMS:
        return dict(ARMS[spec])
    from hicra.credit import resolve_credit_mode

    head, _, lexicon = spec.partition("@")
    if lexicon:
        if not Path(lexicon).is_file():
            raise SystemExit(f"--arms {spec!r}: lexicon file not found: {lexicon}")
        return arm_overrides(head) | {
            "detector": str(Path(lexicon).resolve()),
            "metrics_lexicon": "task",
        }
    mode, _, alpha = spec.partition(":")
    try:
        resolve_credit_mode(mode)
        out = {"credit_mode": mode} | ({"alpha": float(alpha)} if alpha else {})
    except (KeyError, ValueError) as err:
        raise SystemExit(
            f"--arms: unknown arm {spec!r} ({err}); known: {', '.join(ARMS)} or MODE[:ALPHA]"
        ) from None
    return out


def run_one(config: dict) -> dict:
    """Worker: train one (arm, seed) run to completion (resuming), write the done marker."""
    import json

    import torch
    import transformers

    from hicra.trainer.config import TrainConfig
    from hicra.trainer.grpo import train

    torch.set_num_threads(1)
    transformers.utils.logging.disable_progress_bar()  # no per-run "Loading weights" bars
    cfg = TrainConfig(**config)
    t0 = time.perf_counter()
    run_dir = train(cfg)
    marker = {"steps": cfg.steps, "seconds": time.perf_counter() - t0}
    (Path(run_dir) / DONE).write_text(json.dumps(marker))
    return marker


def run_state(run_dir: Path, config: dict) -> str:
    """'done' (finished with this config and step count), 'resume' (same config, unfinished),
    or 'fresh' (nothing there, or a run made with other options, e.g. another SFT checkpoint,
    which is then replaced)."""
    import json

    from hicra.trainer.grpo import RUN_CONTROL_FIELDS

    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        return "fresh"
    saved, now = json.loads(saved_path.read_text()), json.loads(json.dumps(config))
    if any(saved.get(k) != v for k, v in now.items() if k not in RUN_CONTROL_FIELDS):
        return "fresh"
    marker = run_dir / DONE
    if marker.is_file() and json.loads(marker.read_text()).get("steps") == config["steps"]:
        return "done"
    return "resume"


def logged_steps(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return sum(1 for _ in path.open()) if path.is_file() else 0


def run_all(jobs: list[tuple[str, int, dict]], workers: int) -> None:
    """Run the unfinished jobs in `workers` processes, printing progress every 30 s."""
    todo = []
    for arm, seed, config in jobs:
        state = run_state(Path(config["run_dir"]), config)
        if state == "fresh" and Path(config["run_dir"]).exists():
            print(
                f"{arm} seed {seed}: the run there was made with other options; starting it afresh"
            )
            (Path(config["run_dir"]) / DONE).unlink(missing_ok=True)
        if state != "done":
            todo.append((arm, seed, config | {"resume": state == "resume"}))
    print(
        f"{len(jobs) - len(todo)} of {len(jobs)} runs already done; {len(todo)} to run on {workers} workers"
    )
    if not todo:
        return
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(run_one, c): (a, s, c) for a, s, c in todo}
        pending, finished, failed = set(futures), 0, []
        while pending:
            done, pending = cf.wait(pending, timeout=30, return_when=cf.FIRST_COMPLETED)
            for f in done:
                arm, seed, c = futures[f]
                finished += 1
                elapsed = time.perf_counter() - t0
                eta = elapsed / finished * (len(todo) - finished)
                if f.exception() is not None:  # keep the other runs going; report at the end
                    failed.append(
                        f"{arm} seed {seed}: {type(f.exception()).__name__}: {f.exception()}"
                    )
                    print(
                        f"[{finished}/{len(todo)}] {arm} seed {seed} FAILED: {failed[-1]}",
                        flush=True,
                    )
                    continue
                print(
                    f"[{finished}/{len(todo)}] {arm} seed {seed} done; {elapsed / 60:.1f} min elapsed, "
                    f"~{eta / 60:.1f} min left",
                    flush=True,
                )
            running = [
                (
                    futures[f][0],
                    futures[f][1],
                    logged_steps(Path(futures[f][2]["run_dir"])),
                    futures[f][2]["steps"],
                )
                for f in pending
                if f.running()
            ]
            if running and not done:
                print(
                    "  running: " + ", ".join(f"{a}/s{s} {k}/{n}" for a, s, k, n in running),
                    flush=True,
                )
    if failed:
        raise SystemExit(
            f"{len(failed)} run(s) failed (rerun the same command to retry them; finished runs are "
            "kept):\n  " + "\n  ".join(failed)
        )


def collect_run(run_dir: Path, lexicon) -> dict:
    """Accuracy curve, final accuracy and phase-transition step of one finished run."""
    from hicra.dynamics.analysis import analyze_run

    a = analyze_run(run_dir, lexicon=lexicon)
    acc = a.series.get("accuracy", np.full(a.steps.size, np.nan))
    x = acc[np.isfinite(acc)]
    return {
        "steps": a.steps.astype(float).tolist(),
        "accuracy": acc.tolist(),
        "final_accuracy": float(x[-FINAL_LAST:].mean()) if x.size else math.nan,
        "auc": area_under_curve(a.steps, acc),
        "transition_step": float(a.phases.transition_step)
        if a.phases.transition_step is not None
        else math.nan,
        "phase_kind": a.phases.kind,
    }


def summarize(runs: dict[str, dict[int, dict]], seeds: list[int], reference: str) -> dict:
    """Per-arm statistics and paired differences against `reference` (see module docstring)."""
    ref_final = describe([runs[reference][s]["final_accuracy"] for s in seeds])["mean"]
    for arm in runs:
        for s in seeds:
            r = runs[arm][s]
            r["steps_to_reach_ref"] = steps_to_reach(
                np.array(r["steps"]), np.array(r["accuracy"], float), ref_final, REACH_WINDOW
            )
    out = {"reference": reference, "reference_final_accuracy": ref_final, "arms": {}}
    metrics = ("final_accuracy", "auc", "steps_to_reach_ref", "transition_step")
    for arm in runs:
        per = {m: [runs[arm][s][m] for s in seeds] for m in metrics}
        entry = {m: describe(v) for m, v in per.items()}
        entry["reached_ref"] = sum(math.isfinite(v) for v in per["steps_to_reach_ref"])
        entry["two_phase_runs"] = sum(runs[arm][s]["phase_kind"] == "two_phase" for s in seeds)
        if arm != reference:
            ref = {m: [runs[reference][s][m] for s in seeds] for m in metrics}
            entry["paired_vs_ref"] = {m: paired_difference(per[m], ref[m]) for m in metrics}
            ratio = [
                a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan
                for a, b in zip(per["steps_to_reach_ref"], ref["steps_to_reach_ref"])
            ]
            entry["steps_ratio_vs_ref"] = describe(ratio)
        out["arms"][arm] = entry
    return out


def report(summary: dict, seeds: list[int], steps: int, world: str = "Countdown world") -> str:
    ref = summary["reference"]
    n = len(seeds)
    head = (
        f"{world}, {n} seeds ({', '.join(map(str, seeds))}), {steps} RL steps, same SFT checkpoint and "
        f"problem stream per seed. Mean [bootstrap 95% interval over seeds]. Reference: {ref} "
        f"(final accuracy {summary['reference_final_accuracy']:.3f}).\n\n"
    )
    rows = []
    for arm, e in summary["arms"].items():
        rows.append(
            [
                arm,
                fmt_stat(e["final_accuracy"]),
                fmt_stat(e["auc"]),
                f"{fmt_stat(e['steps_to_reach_ref'], 1)} ({e['reached_ref']}/{n} reach)",
                f"{fmt_stat(e['transition_step'], 1)} ({e['two_phase_runs']}/{n} two-phase)",
            ]
        )
    table = markdown_table(
        [
            "arm",
            "final accuracy",
            "AUC (mean accuracy)",
            f"steps to reach {ref}'s final",
            "phase-transition step",
        ],
        rows,
    )
    diff_rows, significant = [], []
    for arm, e in summary["arms"].items():
        if arm == ref:
            continue
        p = e["paired_vs_ref"]
        diff_rows.append(
            [
                arm,
                fmt_stat(p["final_accuracy"], 1, 100),
                fmt_stat(p["auc"], 1, 100),
                fmt_stat(p["steps_to_reach_ref"], 1),
                fmt_stat(e["steps_ratio_vs_ref"], 2),
                fmt_stat(p["transition_step"], 1),
            ]
        )
        significant += [
            f"{arm}: {m} {p[m]['mean'] * (100 if m in ('final_accuracy', 'auc') else 1):+.1f}"
            f"{' points' if m in ('final_accuracy', 'auc') else ' steps'}"
            for m in ("final_accuracy", "auc", "steps_to_reach_ref", "transition_step")
            if p[m]["significant"]
        ]
    diffs = markdown_table(
        [
            f"arm - {ref} (paired by seed)",
            "final accuracy (points)",
            "AUC (points)",
            "steps to reach",
            "steps ratio",
            "transition step",
        ],
        diff_rows,
    )
    verdict = (
        "Significant (95% interval excludes 0): " + "; ".join(significant) + "."
        if significant
        else f"No difference from {ref} is significant at 95% (every interval includes 0)."
    )
    return head + table + "\n" + diffs + "\n" + verdict + "\n"


def plot(
    runs: dict[str, dict[int, dict]], seeds: list[int], path: Path, world: str = "Countdown world"
) -> None:
    """Mean accuracy curve per arm (trailing 5-step mean), band = bootstrap 95% of the mean."""
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(7.5, 4.5))
    rng = np.random.default_rng(0)
    for arm in runs:
        curves = [
            trailing_mean(np.array(runs[arm][s]["accuracy"], float), REACH_WINDOW) for s in seeds
        ]
        width = min(len(c) for c in curves)
        y = np.vstack([c[:width] for c in curves])  # (seeds, steps)
        x = np.array(runs[arm][seeds[0]]["steps"][:width])
        (line,) = ax.plot(x, np.nanmean(y, 0), label=arm, lw=1.4)
        if len(seeds) > 1:
            boot = np.nanmean(
                y[rng.integers(0, len(seeds), (2000, len(seeds)))], axis=1
            )  # (2000, steps)
            ax.fill_between(
                x, *np.nanquantile(boot, [0.025, 0.975], axis=0), color=line.get_color(), alpha=0.12
            )
    ax.set_xlabel("RL step")
    ax.set_ylabel(f"accuracy (train batch, trailing {REACH_WINDOW}-step mean)")
    ax.set_title(
        f"{world}, {len(seeds)} seeds per arm (band: bootstrap 95% of the mean)", fontsize=9
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--arms",
        nargs="+",
        default=DEFAULT_ARMS,
        help="arm names (--list-arms) or MODE[:ALPHA][@LEXICON_FILE]",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument(
        "--steps", type=int, default=None, help="RL steps per run (default: the demo recipe's)"
    )
    p.add_argument("--recipe", default=None, help="TrainConfig YAML (default: the demo's)")
    p.add_argument("--workers", type=int, default=2, help="parallel runs (one torch thread each)")
    p.add_argument(
        "--out", default=None, help="output folder (default benchmarks/out/efficiency[_quick])"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: quick SFT, demo_quick recipe, 3 arms x 2 seeds",
    )
    p.add_argument("--list-arms", action="store_true")
    p.add_argument(
        "--model",
        default=None,
        help="start every run from this pretrained model (alias such as "
        "smollm2-135m, or a checkpoint) instead of the countdown SFT warm start",
    )
    p.add_argument(
        "--task",
        choices=("countdown", "word-arith"),
        default="countdown",
        help="task of the default recipe (word-arith needs --model)",
    )
    args = p.parse_args(argv)
    if args.list_arms:
        for name, o in ARMS.items():
            print(f"{name:12s} {o}")
        return 0
    if args.quick and args.arms == DEFAULT_ARMS:
        args.arms = ["grpo", "hicra", "placebo"]
    if args.quick and args.seeds == [0, 1, 2, 3, 4]:
        args.seeds = [0, 1]
    if args.arms[0] != "grpo" and "grpo" in args.arms:
        args.arms.remove("grpo")
        args.arms.insert(0, "grpo")
    reference = args.arms[0]
    overrides = {a: arm_overrides(a) for a in args.arms}

    from hicra.demo import demo_task, recipe_path, sft_config
    from hicra.trainer.config import load_yaml
    from hicra.trainer.sft import run_sft

    if args.task != "countdown" and not args.model:
        raise SystemExit(f"--task {args.task} needs a pretrained --model (e.g. smollm2-135m)")
    out = out_dir("efficiency_quick" if args.quick else "efficiency", args.out)
    recipe = args.recipe or recipe_path(args.quick, args.task)
    base = load_yaml(recipe)
    if args.steps is not None:
        base = replace(base, steps=args.steps)
    task = demo_task(base)  # the recipe's world (task_options), for SFT and RL alike
    t0 = time.perf_counter()
    if args.model:
        from hicra.models import resolve_model

        resolve_model(args.model)  # convert an alias's GGUF once, before the workers start
        checkpoint = args.model
    else:
        checkpoint = run_sft(sft_config(args.quick, 0), task)
        print(f"SFT checkpoint {checkpoint} ({time.perf_counter() - t0:.0f} s)")
    jobs = []  # seed-major: a run stopped part-way leaves every arm with the same seeds done
    for seed in args.seeds:
        for arm in args.arms:
            cfg = replace(
                base,
                model=str(checkpoint),
                seed=seed,
                run_dir=str(out / "runs" / arm / f"seed{seed}"),
                resume=True,
                progress=False,
                threads=1,
                **overrides[arm],
            )
            jobs.append((arm, seed, asdict(cfg)))
    t0 = time.perf_counter()
    run_all(jobs, args.workers)
    print(f"runs finished in {(time.perf_counter() - t0) / 60:.1f} min; analysing")
    lexicon = task.planning_lexicon()
    runs = {
        arm: {seed: collect_run(out / "runs" / arm / f"seed{seed}", lexicon) for seed in args.seeds}
        for arm in args.arms
    }
    summary = summarize(runs, args.seeds, reference)
    summary |= {
        "seeds": args.seeds,
        "steps": base.steps,
        "sft_checkpoint": str(checkpoint),
        "recipe": str(recipe),
        "arm_overrides": overrides,
        "machine": machine_info(),
        "runs": runs,
    }
    write_json(out / "results.json", summary)
    world = "Countdown world" if args.task == "countdown" else f"{args.task} with {args.model}"
    text = report(summary, args.seeds, base.steps, world)
    (out / "results.md").write_text(text + "\n![accuracy curves](curves.png)\n")
    plot(runs, args.seeds, out / "curves.png", world)
    print("\n" + text)
    print(f"written: {out}/results.json, results.md, curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
