"""The phase detector on real runs: noise levels of real metrics, and the countdown world's
ground truth.

    python benchmarks/phases_real.py noise [RUNS_ROOT]       # SNR of real series -> out/phases_real/
    python benchmarks/phases_real.py world [RUN_OR_ROOT ...] # detector vs the world's diagnostics

`noise` measures, for every per-step series the benchmark generator imitates, the ratio of
the size of its change to the noise of one logged point (snr = range of a running median over
10% of the run / robust sd of one point from step-to-step differences) and the lag-1
autocorrelation of its residuals, on
- the accuracy curves of every run in benchmarks/results/*/results.json (the efficiency
  benchmarks: 9 arms x 5 seeds x 160 steps, 4 arms x 5 seeds x 300 steps, one 200-step run);
- every hicra run directory under RUNS_ROOT (default: the demo recipe's 300-step countdown
  runs), all of its series: execution entropy and relative perplexity, semantic entropy,
  the task's strategy entropy, accuracy, the world's first-attempt slips and backtracking.
bench_phases.py's SNR_RANGES cover what this prints (docs/phases.md has the table).

`world` takes run directories (a `metrics.jsonl`), or roots holding them one or two levels
down (`<arm>/` or `<arm>/seed<k>/`), and keeps the finished ones (a `bench_done.json`, or
as many steps as the run's `config.json` asked for, or `--steps`). On each it compares the
detector's consolidation end and exploration onset with the same fits on the world's exact
diagnostics: the end of the fall of `task/first_attempt_exec_error` (arithmetic slips in the
first attempt) and the start of the rise of `task/backtrack_after_failed_check`. The
detector runs twice: as `hicra analyze` does now (the task's execution-error rate
`task/execution_error` = the first-attempt slips, so its consolidation end is the truth's by
construction), and on the execution tokens alone (`TOKEN_EXECUTION_SERIES`, what a task
without such a diagnostic gives). Runs logged before the task logged `task/execution_error`
or `task/strategy_entropy` get them from `task/first_attempt_exec_error` and from their
saved rollouts (16 responses a step); `hicra analyze` as logged is shown too.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline_phases  # noqa: E402
from common import markdown_table, out_dir, write_json  # noqa: E402
from hicra.dynamics.phases_fit import (  # noqa: E402
    fit_transition,
    noise_sigma,
    running_median,
)

HERE = Path(__file__).resolve().parent
DEFAULT_RUNS = Path("/work/coord/runs/countdown300/runs")
SIGNALS = {  # generator role -> series measured
    "execution": ("entropy/execution", "rel_perplexity/execution", "task/first_attempt_exec_error"),
    "exploration": (
        "semantic/entropy",
        "task/strategy_entropy",
        "task/strategy_entropy_pooled",
        "task/distinct_strategies",
        "task/backtrack_after_failed_check",
        "length/mean",
    ),
    "accuracy": ("accuracy",),
}


def measure(steps: np.ndarray, y: np.ndarray) -> dict | None:
    """{snr, noise, change, lag1} of one series (None when fewer than 20 points)."""
    ok = np.isfinite(y)
    _x, y = np.asarray(steps, float)[ok], np.asarray(y, float)[ok]
    if y.size < 20:
        return None
    smooth = running_median(y, max(5, int(0.1 * y.size) | 1))
    sd = noise_sigma(y)
    resid = y - smooth
    lag1 = float(np.sum(resid[1:] * resid[:-1]) / np.sum(resid * resid)) if np.any(resid) else 0.0
    change = float(np.nanmax(smooth) - np.nanmin(smooth))
    return {
        "snr": change / sd if sd > 0 else math.inf,
        "noise": sd,
        "change": change,
        "lag1": lag1,
        "points": int(y.size),
    }


def read_run(run_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from hicra.dynamics.phases import series_from_metrics

    rows = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if line.strip()
    ]
    return series_from_metrics(rows)


def noise_main(runs_root: Path, out: Path, steps_needed: int) -> dict:
    table: dict[str, list] = {}
    for path in sorted(HERE.glob("results/*/results.json")):
        data = json.loads(path.read_text())
        for arm, seeds in data.get("runs", {}).items():
            for seed, run in seeds.items():
                m = measure(np.array(run["steps"]), np.array(run["accuracy"], float))
                if m:
                    table.setdefault("accuracy (efficiency results.json)", []).append(
                        m | {"run": f"{path.parent.name}/{arm}/{seed}"}
                    )
    for run_dir in sorted(p.parent for p in runs_root.glob("*/*/metrics.jsonl")):
        steps, series = read_run(run_dir)
        if steps.size == 0 or steps.max() < steps_needed:
            continue  # a run still going has not made its changes yet
        add_strategy_entropy(run_dir, steps, series)
        for _role, names in SIGNALS.items():
            for name in names:
                if name in series:
                    m = measure(steps, series[name])
                    if m:
                        table.setdefault(f"{name} (countdown 300-step runs)", []).append(
                            m | {"run": str(run_dir.relative_to(runs_root))}
                        )
    rows = []
    for name, ms in table.items():
        snr = np.array([m["snr"] for m in ms])
        lag = np.array([m["lag1"] for m in ms])
        rows.append(
            [
                name,
                len(ms),
                f"{np.min(snr):.1f}",
                f"{np.median(snr):.1f}",
                f"{np.max(snr):.1f}",
                f"{np.median(lag):.2f}",
            ]
        )
    text = (
        "# Noise of real per-step series\n\nsnr = range of a running median (10% of the run) / "
        "robust sd of one logged point; lag1 = autocorrelation of the residuals from that "
        "median.\n\n"
        + markdown_table(
            ["series", "runs", "snr min", "snr median", "snr max", "lag1 median"], rows
        )
    )
    write_json(out / "noise.json", table)
    (out / "noise.md").write_text(text)
    print(text)
    return table


def add_strategy_entropy(run_dir: Path, steps: np.ndarray, series: dict[str, np.ndarray]) -> None:
    """task/strategy_entropy (and _pooled) recomputed from the saved rollouts (16 responses a
    step) when the run did not log it."""
    if "task/strategy_entropy" in series or not (run_dir / "rollouts").is_dir():
        return
    import pyarrow.parquet as pq

    from hicra.tasks.countdown import CountdownTask
    from hicra.tasks.countdown.problems import make_problem

    task = CountdownTask()
    values = np.full(steps.size, np.nan)
    pooled = np.full(steps.size, np.nan)
    index = {int(s): i for i, s in enumerate(steps)}
    for path in sorted((run_dir / "rollouts").glob("step_*.parquet")):
        table = pq.read_table(path, columns=["step", "prompt", "response"]).to_pylist()
        step = int(table[0]["step"])
        if step not in index:
            continue
        diagnostics = []
        for r in table:  # prompt = "numbers a b c target t :"
            words = r["prompt"].split()
            numbers = tuple(int(w) for w in words[1 : words.index("target")])
            problem = make_problem(numbers, int(words[words.index("target") + 1]), task.config)
            diagnostics.append(task.score(problem, r["response"]).diagnostics)
        summary = task.summarize_diagnostics(diagnostics)
        values[index[step]], pooled[index[step]] = (
            summary["strategy_entropy"],
            summary["strategy_entropy_pooled"],
        )
    series["task/strategy_entropy"] = values
    series["task/strategy_entropy_pooled"] = pooled


def find_runs(paths: list[Path]) -> list[tuple[str, Path]]:
    """(label, run directory) of every run under `paths`: a run directory itself, or one or
    two levels down (`<arm>/`, `<arm>/seed<k>/`); the label is the path below the root given,
    prefixed with the root's last two folders."""
    found = []
    for root in paths:
        if (root / "metrics.jsonl").is_file():
            found.append(("/".join(root.parts[-3:]), root))
            continue
        for pattern in ("*/metrics.jsonl", "*/*/metrics.jsonl"):
            for p in sorted(root.glob(pattern)):
                found.append(
                    ("/".join((*root.parts[-2:], *p.parent.relative_to(root).parts)), p.parent)
                )
    return found


def finished(run_dir: Path, steps: np.ndarray, steps_needed: int | None) -> bool:
    """A bench_done.json, or as many steps as asked (--steps, else the run's config.json)."""
    if (run_dir / "bench_done.json").is_file():
        return True
    if steps_needed is None and (run_dir / "config.json").is_file():
        steps_needed = json.loads((run_dir / "config.json").read_text()).get("steps")
    return bool(steps.size and steps_needed and steps.max() >= steps_needed)


def world_main(paths: list[Path], out: Path, steps_needed: int | None) -> dict:
    from hicra.dynamics.analysis import analyze_run
    from hicra.dynamics.phases import TASK_EXECUTION_SERIES, TOKEN_EXECUTION_SERIES, detect_phases

    results, curves = [], []
    for label, run_dir in find_runs(paths):
        steps, series = read_run(run_dir)
        if not finished(run_dir, steps, steps_needed):
            print(
                f"skip {run_dir} (not finished: {int(steps.max()) if steps.size else 0} steps)",
                file=sys.stderr,
            )
            continue
        logged = dict(series)
        add_strategy_entropy(run_dir, steps, series)
        if TASK_EXECUTION_SERIES not in series:  # logged before the task logged it
            series[TASK_EXECUTION_SERIES] = series["task/first_attempt_exec_error"]
        slips = fit_transition(steps, series["task/first_attempt_exec_error"], "fall")
        backtrack = fit_transition(steps, series["task/backtrack_after_failed_check"], "rise")
        phases = detect_phases(steps, series)
        tokens = detect_phases(steps, series, _config(execution_series=TOKEN_EXECUTION_SERIES))
        semantic = detect_phases(steps, series, _config(exploration_series=("semantic/entropy",)))
        analysis = analyze_run(run_dir)  # the real `hicra analyze` path, as logged
        old = baseline_phases.detect_phases(steps, logged)
        results.append(
            {
                "run": label,
                "steps": int(steps.max()),
                "truth_consolidation_end": _edge(slips),
                "truth_exploration_onset": _edge(backtrack),
                "detector": _phase(phases),
                "detector_execution_tokens": _phase(tokens),
                "detector_semantic_entropy": _phase(semantic),
                "hicra_analyze": _phase(analysis.phases),
                "previous_detector": {"kind": old.kind, "transition_step": old.transition_step},
            }
        )
        curves.append((steps, series))
        print(json.dumps(results[-1]), file=sys.stderr)
    if results:
        plot_world(results, curves, out / "world.png")
    rows = []
    for r in results:
        d, t, a, p = (
            r["detector"],
            r["detector_execution_tokens"],
            r["hicra_analyze"],
            r["previous_detector"],
        )
        rows.append(
            [
                r["run"],
                _fmt(r["truth_consolidation_end"]),
                _fmt((r["truth_consolidation_end"] or {}).get("corner")),
                _fmt(r["truth_exploration_onset"]),
                _fmt(d["exploration_onset"]),
                f"{d['kind']} @ {d['transition_step']}",
                _fmt(t["consolidation_end"]),
                f"{t['kind']} @ {t['transition_step']}",
                f"{a['kind']} @ {a['transition_step']}",
                f"{p['kind']} @ {p['transition_step']}",
            ]
        )
    header = [
        "run",
        "consolidation end (3/4 of the fall): world (slips) = detector",
        "corner of the fall: world = detector",
        "exploration onset: world (backtracking)",
        "detector (strategy entropy)",
        "detector: kind @ turn",
        "execution tokens only: consolidation end",
        "kind @ turn",
        "hicra analyze as logged",
        "previous detector",
    ]
    text = (
        "# The detector on the countdown world's runs\n\nThe world's truth comes from its exact "
        "diagnostics, fitted with the same transition family: consolidation end = the step by "
        "which 3/4 of the fall of task/first_attempt_exec_error (arithmetic slips in the first "
        "attempt) are done, corner = where that fall turns into a drift, exploration "
        "onset = start of the rise of task/backtrack_after_failed_check. The detector reads "
        "the task's execution-error rate task/execution_error (the same first-attempt slips, "
        "so its consolidation end and corner are the truth's by construction) and "
        "task/strategy_entropy; 'execution tokens only' is the detector on "
        "rel_perplexity/execution instead (a task without an execution diagnostic); 'as "
        "logged' is `hicra analyze` on the run directory as the code of this tree reads it. "
        "Steps [95% interval].\n\n" + markdown_table(header, rows)
    )
    write_json(out / "world.json", results)
    (out / "world.md").write_text(text)
    print(text)
    return {"runs": results}


def plot_world(results: list[dict], curves: list, path: Path) -> None:
    """One row per run: execution signals with the consolidation ends (left), exploration
    signals with the onsets (right); grey = the world's truth (on the left also the detector's,
    which reads the same slips), colour = the detector on the execution tokens (left) and on
    strategy entropy (right)."""
    from common import plt

    pyplot = plt()
    fig, axes = pyplot.subplots(len(results), 2, figsize=(12, 2.4 * len(results)), squeeze=False)
    panels = (
        (
            ("task/first_attempt_exec_error", "rel_perplexity/execution"),
            "truth_consolidation_end",
            ("detector_execution_tokens", "consolidation_end"),
            "tab:blue",
        ),
        (
            ("task/backtrack_after_failed_check", "task/strategy_entropy", "semantic/entropy"),
            "truth_exploration_onset",
            ("detector", "exploration_onset"),
            "tab:green",
        ),
    )
    for row, (res, (steps, series)) in zip(axes, zip(results, curves)):
        for ax, (names, truth_key, (detector, est_key), colour) in zip(row, panels):
            for name, style in zip(names, ("-", "--", ":")):
                y = running_median(series[name], 9)
                lo, hi = np.nanmin(y), np.nanmax(y)
                ax.plot(steps, (y - lo) / (hi - lo or 1), style, color="k", lw=1.2, label=name)
            for turn, c, label in (
                (res[truth_key], "0.6", "world's truth"),
                (res[detector][est_key], colour, detector.replace("_", " ")),
            ):
                if turn:
                    ax.axvspan(turn["ci_low"], turn["ci_high"], color=c, alpha=0.3, label=label)
                    ax.axvline(turn["step"], color=c, lw=1.5)
            ax.set_title(f"{res['run']}", fontsize=9)
            ax.legend(fontsize=6, loc="center right")
            ax.set_yticks([])
    axes[-1][0].set_xlabel("step")
    axes[-1][1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)


def _config(**fields):
    from hicra.dynamics.phases import PhaseConfig

    return PhaseConfig(**fields)


def _edge(fit) -> dict | None:
    """A rise's start, or a fall's end (the step by which 3/4 of it are done, as the detector
    reports it) with its corner."""
    if fit is None:
        return None
    corner = {
        "step": round(fit.step, 1),
        "ci_low": round(fit.low, 1),
        "ci_high": round(fit.high, 1),
    }
    if fit.direction == "rise":
        return {**corner, "change": fit.change, "change_se": fit.change_se, "log_bf": fit.log_bf}
    return {
        "step": round(fit.done_step, 1),
        "ci_low": round(fit.done_low, 1),
        "ci_high": round(fit.done_high, 1),
        "corner": corner,
        "half": {"step": fit.half_step, "ci_low": fit.half_low, "ci_high": fit.half_high},
        "change": fit.change,
        "change_se": fit.change_se,
        "log_bf": fit.log_bf,
    }


def _phase(res) -> dict:
    fit = res.evidence.get("execution_fit")
    half = (
        None
        if not fit
        else {"step": fit["half_step"], "ci_low": fit["half_low"], "ci_high": fit["half_high"]}
    )
    return {
        "execution_half": half,
        "consolidation_corner": res.evidence.get("consolidation_corner"),
        "kind": res.kind,
        "transition_step": res.transition_step,
        "consolidation_end": res.consolidation_end,
        "exploration_onset": res.exploration_onset,
        "signals": res.signals,
        "reason": res.evidence.get("reason"),
    }


def _fmt(turn: dict | None) -> str:
    return "-" if not turn else f"{turn['step']:.0f} [{turn['ci_low']:.0f}, {turn['ci_high']:.0f}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("noise", "world"))
    p.add_argument(
        "runs",
        nargs="*",
        type=Path,
        default=[DEFAULT_RUNS],
        help="run directories, or roots of <arm>/ or <arm>/seed<k>/ run directories",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="only runs that reached this step (default: a bench_done.json or the steps of "
        "the run's config.json; noise: 300)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default benchmarks/out/phases_real)",
    )
    args = p.parse_args(argv)
    out = out_dir("phases_real", args.out)
    if args.what == "noise":
        noise_main(args.runs[0], out, args.steps or 300)
    else:
        world_main(args.runs, out, args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
