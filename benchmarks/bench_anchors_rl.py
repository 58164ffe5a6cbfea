"""Thought anchors along GRPO and HICRA runs of the countdown world: do planning sentences carry
more of the importance as training moves into phase 2, and does HICRA change that?

    python benchmarks/bench_anchors_rl.py --runs RUNS --seeds 0 --points 20 80 140 200 260 phases
    python benchmarks/bench_anchors_rl.py --runs RUNS --seeds 1 2 3 4 --points phases
    python benchmarks/bench_anchors_rl.py --runs RUNS --seeds 0 1 2 3 4 --report-only

RUNS holds <arm>/seed<k>/ run directories of the built-in trainer with every checkpoint kept
(checkpoints/step_XXXXXX); step 0 is the SFT checkpoint the runs started from (their
config.json "model"). For each (arm, seed, step) the same `--problems` puzzles (drawn with
seed 0) are answered once by the checkpoint, and every sentence of those base traces is
resampled `--samples` times (`hicra anchors`, temperature 1 and no top-p: the policy's own
distribution, the one RL samples from; the RL recipe's 160-token budget). Results of each
checkpoint go to WORK/<arm>/seed<k>/step_XXXX/ (resumable), the aggregate to --out.

`--points phases` takes the SFT start and three checkpoints per run from its own metrics.jsonl
(it waits for the run to finish): phase 1 = the first checkpoint by which the trailing-10-step
mean of the execution-token entropy has made 2/3 of its whole-run drop (procedural consolidation
done); the turn = the first checkpoint by which the trailing-20-step mean of backtracking after
a failed check has made a quarter of its rise from the phase-1 level to its level at the end (in
these runs backtracking takes off only in the last ~60 steps: half way is reached only at the
end); phase 2 = the last checkpoint. (hicra's phase detector finds no knee in these runs: the
consolidation is over within ~10 steps, benchmarks/RESULTS.md.)

Per checkpoint: the planning share of the top 10% anchors (pooled over traces, by |importance|)
for each measure, against the planning share of all sentences; the planning share of the summed
|importance|; base-trace accuracy. Over seeds: mean [bootstrap 95% interval], and HICRA - GRPO
paired by seed. Outputs: results.json, results.md, anchors_rl.png.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    machine_info,
    markdown_table,
    plt,
    trailing_mean,
    write_json,
)

MEASURES = (
    "resampling_importance_accuracy",
    "resampling_importance_kl",
    "counterfactual_importance_accuracy",
    "counterfactual_importance_kl",
)
HEADLINE = ("resampling_importance_accuracy", "counterfactual_importance_kl")


TURN_SHARE = 0.25
"""The turn: backtracking has made this share of its rise from the phase-1 level to the end."""


def read_metrics(run: Path) -> list[dict]:
    with open(run / "metrics.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def checkpoint_steps(run: Path) -> list[int]:
    root = run / "checkpoints"
    return sorted(
        int(p.name.split("_")[1]) for p in root.glob("step_*") if (p / "trainer_state.pt").is_file()
    )


def phase_points(rows: list[dict], checkpoints: list[int]) -> dict[str, int]:
    """{phase1, turn, phase2} checkpoint steps of one finished run (rule in the module doc)."""
    steps = np.array([r["step"] for r in rows])
    ent = trailing_mean(np.array([r.get("entropy/execution", math.nan) for r in rows], float), 10)
    back = trailing_mean(
        np.array([r.get("task/backtrack_after_failed_check", math.nan) for r in rows], float), 20
    )
    at = {int(s): i for i, s in enumerate(steps)}
    first_after = lambda step: next((c for c in checkpoints if c >= step), checkpoints[-1])  # noqa: E731
    reached = np.flatnonzero(ent <= ent[0] - (2 / 3) * (ent[0] - ent[-1]))
    phase1 = first_after(int(steps[reached[0]])) if reached.size else checkpoints[0]
    level = back[at.get(phase1, 0)]
    crossed = np.flatnonzero((back >= level + TURN_SHARE * (back[-1] - level)) & (steps > phase1))
    turn = (
        first_after(int(steps[crossed[0]])) if crossed.size else checkpoints[len(checkpoints) // 2]
    )
    return {"phase1": phase1, "turn": turn, "phase2": checkpoints[-1]}


def wait_for(predicate, what: str, wait: bool, poll_s: float = 60.0) -> bool:
    while not predicate():
        if not wait:
            print(f"  skipped: {what} not there yet", flush=True)
            return False
        time.sleep(poll_s)
    return True


def analyse_checkpoint(model: Path, out: Path, args: argparse.Namespace) -> dict:
    """Run `hicra anchors` on one checkpoint (resumes), return its summary plus timings."""
    from hicra.anchors.cli import anchors_main

    argv = [
        "--model",
        str(model),
        "--problems",
        str(args.problems),
        "--out",
        str(out),
        "--samples",
        str(args.samples),
        "--temperature",
        "1",
        "--top-p",
        "1",
        "--max-new-tokens",
        "160",
        "--seed",
        "0",
        "--batch-rows",
        str(args.batch_rows),
        "--threads",
        "1",
        "--skip-unended",
    ]
    if not args.progress:
        argv.append("--no-progress")
    cpu0, wall0 = time.process_time(), time.time()
    code = anchors_main(argv)
    if code != 0:
        raise SystemExit(f"hicra anchors failed on {model} (exit {code})")
    summary = json.loads((out / "summary.json").read_text())
    timing = {
        "cpu_s": time.process_time() - cpu0,
        "wall_s": time.time() - wall0,
        "load1": Path("/proc/loadavg").read_text().split()[0],
    }
    timing_path = out / "timing.json"
    if (
        not timing_path.exists() or timing["cpu_s"] > 30
    ):  # keep the timing of the run that computed it
        timing_path.write_text(json.dumps(timing))
    return summary


def extract(summary: dict) -> dict:
    """The per-checkpoint figures that results.json keeps."""
    skipped = summary.get("n_skipped_traces", 0)
    out = {
        "n_traces": summary["n_traces"],
        "n_skipped": skipped,
        "accuracy": summary["n_traces_correct"] / max(summary["n_traces"] + skipped, 1),
        "n_sentences": summary["n_sentences"],
        "planning_share_of_sentences": summary["planning_share_of_sentences"],
    }
    for m in MEASURES:
        out[f"top_share/{m}"] = summary["top_anchors"][m]["planning_share"]
        out[f"top_ci/{m}"] = summary["top_anchors"][m]["ci95"]
        out[f"importance_share/{m}"] = summary["planning_share_of_importance"][m]
        out[f"importance_ci/{m}"] = summary.get("planning_share_of_importance_ci95", {}).get(
            m, [math.nan] * 2
        )
        c = summary["by_class"][m]
        out[f"mean_abs_planning/{m}"] = c["planning"]["mean_abs"]
        out[f"mean_abs_execution/{m}"] = c["execution"]["mean_abs"]
    out["by_role"] = {
        m: {k: v["mean_abs"] for k, v in summary.get("by_role", {}).get(m, {}).items()}
        for m in HEADLINE
    }
    out["by_role_n"] = {
        k: v["n"] for k, v in summary.get("by_role", {}).get(HEADLINE[0], {}).items()
    }
    out["top_anchor_roles"] = {m: summary.get("top_anchor_roles", {}).get(m, {}) for m in HEADLINE}
    return out


def collect(args: argparse.Namespace) -> dict:
    """Analyse (or read back) every requested checkpoint: {arm: {seed: {step: figures}}}, phases."""
    work = Path(args.work).expanduser()
    table: dict = {"checkpoints": {}, "phases": {}}
    for seed in args.seeds:
        for arm in args.arms:
            run = Path(args.runs) / arm / f"seed{seed}"
            if not wait_for(lambda run=run: (run / "metrics.jsonl").is_file(), f"{run}", args.wait):
                continue
            sft = Path(json.loads((run / "config.json").read_text())["model"])
            fixed = sorted(int(p) for p in args.points if p != "phases")
            for step in fixed:  # fixed steps first, each as soon as its checkpoint is written
                analyse_point(table, arm, seed, step, run, sft, work, args)
            if "phases" in args.points:

                def done(run: Path = run) -> bool:
                    return (
                        len(read_metrics(run)) >= args.steps
                        and len(checkpoint_steps(run)) >= args.steps // 20
                    )

                if not wait_for(done, f"finished run {run}", args.wait):
                    continue
                phases = phase_points(read_metrics(run), checkpoint_steps(run))
                table["phases"].setdefault(arm, {})[str(seed)] = phases
                for step in sorted(
                    set(phases.values()) | {0}
                ):  # 0: the SFT start, shared by every run
                    analyse_point(table, arm, seed, step, run, sft, work, args)
    return table


def analyse_point(
    table: dict,
    arm: str,
    seed: int,
    step: int,
    run: Path,
    sft: Path,
    work: Path,
    args: argparse.Namespace,
) -> None:
    """Analyse one checkpoint (waiting for it with --wait) and record its figures in `table`."""
    model = sft if step == 0 else run / "checkpoints" / f"step_{step:06d}"
    out = work / "sft" if step == 0 else work / arm / f"seed{seed}" / f"step_{step:04d}"
    if step and not wait_for(lambda: (model / "trainer_state.pt").is_file(), str(model), args.wait):
        return
    print(f"[{time.strftime('%H:%M:%S')}] {arm} seed {seed} step {step}: {model}", flush=True)
    figures = extract(analyse_checkpoint(model, out, args))
    figures["timing"] = (
        json.loads((out / "timing.json").read_text()) if (out / "timing.json").exists() else {}
    )
    table["checkpoints"].setdefault(arm, {}).setdefault(str(seed), {})[str(step)] = figures
    if args.save is not None:
        args.save(table)  # results.json after every checkpoint: a stopped job loses nothing


def refresh(args: argparse.Namespace) -> dict:
    """The table rebuilt from every finished checkpoint directory under WORK (no sampling), and
    the phases of every finished run: what `--refresh` writes."""
    work = Path(args.work).expanduser()
    table: dict = {"checkpoints": {}, "phases": {}}
    sft = work / "sft" / "summary.json"
    for arm in args.arms:
        for seed_dir in sorted((work / arm).glob("seed*")):
            seed = seed_dir.name[4:]
            steps = {
                int(p.parent.name.split("_")[1]): p for p in seed_dir.glob("step_*/summary.json")
            }
            if sft.is_file():
                steps[0] = sft
            for step, path in sorted(steps.items()):
                figures = extract(json.loads(path.read_text()))
                timing = path.parent / "timing.json"
                figures["timing"] = json.loads(timing.read_text()) if timing.exists() else {}
                table["checkpoints"].setdefault(arm, {}).setdefault(seed, {})[str(step)] = figures
            run = Path(args.runs) / arm / f"seed{seed}"
            if (run / "metrics.jsonl").is_file() and len(read_metrics(run)) >= args.steps:
                table["phases"].setdefault(arm, {})[seed] = phase_points(
                    read_metrics(run), checkpoint_steps(run)
                )
    return table


def merge(old: dict, new: dict) -> dict:
    for key in ("checkpoints", "phases"):
        for arm, seeds in new.get(key, {}).items():
            for seed, value in seeds.items():
                if key == "checkpoints":
                    old.setdefault(key, {}).setdefault(arm, {}).setdefault(seed, {}).update(value)
                else:
                    old.setdefault(key, {}).setdefault(arm, {})[seed] = value
    return old


PHASES = ("phase1", "turn", "phase2")


def _phase_value(data: dict, arm: str, seed: int, phase: str, key: str) -> float | None:
    """One quantity of one run at one of its phase checkpoints (None when not analysed)."""
    step = data.get("phases", {}).get(arm, {}).get(str(seed), {}).get(phase)
    fig = data["checkpoints"].get(arm, {}).get(str(seed), {}).get(str(step)) if step else None
    value = fig.get(key) if fig else None
    return value if value is not None and math.isfinite(value) else None


def _over_seeds(values: list[float | None], signed: bool = False) -> str:
    """'mean (n=k: lowest to highest)' over seeds: with two or three seeds a bootstrap
    interval says nothing, so the values' range is shown instead."""
    x = [v for v in values if v is not None]
    f = "{:+.2f}" if signed else "{:.2f}"
    if not x:
        return "n/a"
    if len(x) == 1:
        return f"{f.format(x[0])} (n=1)"
    return f"{f.format(sum(x) / len(x))} (n={len(x)}: {f.format(min(x))} to {f.format(max(x))})"


def report(data: dict, args: argparse.Namespace, out: Path) -> None:
    """results.md (per-run phase table, arm differences with the seed counts they rest on, every
    checkpoint) and anchors_rl.png."""
    arms = [a for a in args.arms if a in data.get("checkpoints", {})]
    lines = ["Thought anchors along the countdown RL runs (`benchmarks/bench_anchors_rl.py`).", ""]
    seeds = {a: sorted(int(s) for s in data.get("phases", {}).get(a, {})) for a in arms}
    if any(seeds.values()):
        lines.append(
            "Phase checkpoints (step) per run: "
            + "; ".join(f"{a}/seed{s}: {data['phases'][a][str(s)]}" for a in arms for s in seeds[a])
        )
        lines.append("")
        quantities = [
            ("accuracy", "base-trace accuracy"),
            ("planning_share_of_sentences", "planning share of sentences"),
        ]
        for m in HEADLINE:
            quantities += [
                (f"top_share/{m}", f"planning share of top 10%, {m}"),
                (f"importance_share/{m}", f"planning share of |imp|, {m}"),
            ]
        rows = []
        for key, label in quantities:
            for arm in arms:
                vals = {n: [_phase_value(data, arm, s, n, key) for s in seeds[arm]] for n in PHASES}
                rise = [
                    b - a if a is not None and b is not None else None
                    for a, b in zip(vals["phase1"], vals["phase2"])
                ]
                for s, d in zip(seeds[arm], rise):
                    cells = [_one_seed_cell(data, arm, s, n, key) for n in PHASES]
                    rows.append(
                        [label, f"{arm} seed {s}"] + cells + ["n/a" if d is None else f"{d:+.2f}"]
                    )
                if len(seeds[arm]) > 1:
                    cells = [_over_seeds(vals[n]) for n in PHASES] + [_over_seeds(rise, True)]
                    rows.append([label, f"{arm}, {len(seeds[arm])} seeds"] + cells)
        lines.append(
            "Per run: value [95% bootstrap interval over the checkpoint's traces] (step). Over "
            "seeds: mean (n = seeds: lowest to highest); seeds analysed: "
            + ", ".join(f"{a} {seeds[a]}" for a in arms)
            + "."
        )
        lines.append("")
        header = ["quantity", "run", "phase 1", "turn", "phase 2", "phase 2 - phase 1"]
        lines.append(markdown_table(header, rows))
        if len(arms) == 2:
            both = sorted(set(seeds[arms[0]]) & set(seeds[arms[1]]))
            rows = []
            for key, label in quantities[2:]:
                for name in PHASES:
                    per = {a: [_phase_value(data, a, s, name, key) for s in seeds[a]] for a in arms}
                    diffs = [
                        _phase_value(data, arms[1], s, name, key)
                        - _phase_value(data, arms[0], s, name, key)
                        if None
                        not in (
                            _phase_value(data, arms[1], s, name, key),
                            _phase_value(data, arms[0], s, name, key),
                        )
                        else None
                        for s in both
                    ]
                    spreads = [
                        f"{max(x) - min(x):.2f} (n={len(x)})"
                        if len(x := [v for v in per[a] if v is not None]) > 1
                        else "n/a (1 seed)"
                        for a in arms
                    ]
                    rows.append([label, name, _over_seeds(diffs, True)] + spreads)
            lines.append("")
            lines.append(
                f"{arms[1]} - {arms[0]}, paired by seed (seeds run in both arms: {both}), beside "
                "the spread between the seeds of one arm (highest - lowest): a difference between "
                "arms smaller than the spread within an arm is not evidence of an effect."
            )
            lines.append("")
            lines.append(
                markdown_table(
                    ["quantity", "phase", f"{arms[1]} - {arms[0]}"]
                    + [f"spread within {a}" for a in arms],
                    rows,
                )
            )
    lines.append(dense_table(data, arms))
    (out / "results.md").write_text("\n".join(lines) + "\n")
    draw(data, arms, out / "anchors_rl.png")


def _one_seed_cell(data: dict, arm: str, seed: int, phase: str, key: str) -> str:
    step = data["phases"].get(arm, {}).get(str(seed), {}).get(phase)
    fig = (
        data["checkpoints"].get(arm, {}).get(str(seed), {}).get(str(step))
        if step is not None
        else None
    )
    if not fig or fig.get(key) is None:
        return "n/a"
    ci_key = key.replace("top_share/", "top_ci/").replace("importance_share/", "importance_ci/")
    return f"{_with_ci(fig[key], fig.get(ci_key) if ci_key != key else None)} (step {step})"


def _with_ci(value: float, ci) -> str:
    if not ci or any(c is None or not math.isfinite(c) for c in ci):
        return f"{value:.2f}"
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def dense_table(data: dict, arms: list[str]) -> str:
    """Every analysed checkpoint: accuracy, base rate, top-10% planning shares, by-move |imp|."""
    rows = []
    for arm in arms:
        for seed, steps in sorted(data["checkpoints"].get(arm, {}).items()):
            for step, f in sorted(steps.items(), key=lambda kv: int(kv[0])):
                roles = f["by_role"].get(HEADLINE[0], {})
                rows.append(
                    [
                        arm,
                        seed,
                        step,
                        f"{f['accuracy']:.2f}",
                        f["n_sentences"],
                        f"{f['planning_share_of_sentences']:.2f}",
                    ]
                    + [f"{f[f'top_share/{m}']:.2f}" for m in HEADLINE]
                    + [
                        _with_ci(f[f"importance_share/{m}"], f.get(f"importance_ci/{m}"))
                        for m in HEADLINE
                    ]
                    + [
                        f"{roles.get(r, math.nan):.2f}"
                        for r in (
                            "choose (final attempt)",
                            "step (right)",
                            "step (wrong)",
                            "conclude after failed check",
                            "backtrack after failed check",
                        )
                    ]
                    + [f"{f.get('timing', {}).get('cpu_s', math.nan):.0f}"]
                )
    header = [
        "arm",
        "seed",
        "step",
        "acc",
        "sentences",
        "planning share",
        "top10 RI-acc",
        "top10 CF-KL",
        "|imp| share RI-acc [95% CI]",
        "|imp| share CF-KL [95% CI]",
        "choose(final)",
        "step right",
        "step wrong",
        "conclude after fail",
        "backtrack after fail",
        "CPU s",
    ]
    return (
        "\nEvery analysed checkpoint (planning shares, intervals: bootstrap over traces; "
        "mean |resampling accuracy importance| by move):\n\n" + markdown_table(header, rows)
    )


MOVES = (
    "choose (final attempt)",
    "backtrack after failed check",
    "conclude after failed check",
    "step (wrong)",
    "step (right)",
)


def draw(data: dict, arms: list[str], path: Path) -> None:
    """Left: planning share of the summed |importance| per checkpoint (dotted: planning share of
    the sentences). Right: mean |resampling importance (accuracy)| of the deciding moves."""
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(12, 4))
    colors = {"grpo": "tab:blue", "hicra": "tab:orange"}
    styles = dict(zip(MOVES, ("-", "--", "-.", ":", (0, (1, 3)))))
    m = HEADLINE[0]
    for arm in arms:
        for seed, steps in data["checkpoints"].get(arm, {}).items():
            xs = sorted(int(s) for s in steps)
            alpha = 1.0 if seed == "0" else 0.4
            label = f"{arm} seed {seed}"
            axes[0].plot(
                xs,
                [steps[str(s)][f"importance_share/{m}"] for s in xs],
                marker="o",
                ms=3,
                color=colors.get(arm),
                alpha=alpha,
                label=label,
            )
            axes[0].plot(
                xs,
                [steps[str(s)]["planning_share_of_sentences"] for s in xs],
                ls=":",
                lw=1,
                color=colors.get(arm),
                alpha=alpha,
            )
            if seed != "0":
                continue
            for move in MOVES:
                ys = [steps[str(s)]["by_role"][m].get(move, math.nan) for s in xs]
                axes[1].plot(
                    xs,
                    ys,
                    ls=styles[move],
                    marker=".",
                    color=colors.get(arm),
                    label=f"{arm}: {move}",
                )
    axes[0].set_ylabel("planning share of summed |importance|")
    axes[0].set_title(
        "resampling importance (accuracy); dotted: planning share of sentences", fontsize=9
    )
    axes[1].set_ylabel("mean |importance| (seed 0)")
    axes[1].set_title("by countdown move", fontsize=9)
    for ax in axes:
        ax.set_xlabel("RL step (0 = SFT start)")
    for phase_steps in data.get("phases", {}).get(arms[0], {}).get("0", {}).values():
        axes[0].axvline(phase_steps, color="grey", lw=0.5)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--runs",
        default="/work/coord/runs/countdown300/runs",
        help="root of <arm>/seed<k>/ run dirs",
    )
    p.add_argument("--arms", nargs="+", default=["grpo", "hicra"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument(
        "--points",
        nargs="+",
        default=["phases"],
        help="checkpoint steps, and/or 'phases' (the SFT start and three phase checkpoints)",
    )
    p.add_argument("--steps", type=int, default=300, help="length of a finished run")
    p.add_argument("--problems", type=int, default=20, help="base traces per checkpoint")
    p.add_argument("--samples", type=int, default=24, help="continuations per sentence boundary")
    p.add_argument("--batch-rows", type=int, default=512)
    p.add_argument(
        "--work", default="~/anchors_rl", help="per-checkpoint `hicra anchors` output dirs"
    )
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "anchors_rl"))
    p.add_argument(
        "--wait", action="store_true", help="wait for checkpoints and runs that are not there yet"
    )
    p.add_argument("--progress", action="store_true")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="only aggregate results.json into results.md/plot",
    )
    p.add_argument(
        "--refresh",
        action="store_true",
        help="rebuild results.json from the finished checkpoint directories under --work; report",
    )
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "results.json"
    data = json.loads(store.read_text()) if store.exists() else {}

    def save(table: dict) -> None:
        merged = merge(json.loads(store.read_text()) if store.exists() else {}, table)
        merged.setdefault("settings", {}).update(
            problems=args.problems,
            samples=args.samples,
            runs=args.runs,
            machine=machine_info(),
            max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )
        write_json(store, merged)

    args.save = None if args.report_only else save
    if args.refresh:
        save(refresh(args))
        data = json.loads(store.read_text())
    elif not args.report_only:
        save(collect(args))
        data = json.loads(store.read_text())
    report(data, args, out)
    print(f"wrote {out}/results.md and anchors_rl.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
