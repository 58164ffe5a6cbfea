"""The report's figures (matplotlib, Agg backend, imported only here).

The paper's four panels, one run or several overlaid (one colour per run):
  a. relative perplexity by token class (execution solid, planning dashed);
  b. token entropy by class (same styles);
  c. semantic entropy of Strategic Grams (solid, left axis) with the control, the conditional
     entropy of the following n-gram (dotted, right axis);
  d. response length (solid, left axis) and accuracy (dashed, right axis).
Thin lines are the logged values, bold lines a running median. The detected transition is a
dashed vertical line in the run's colour; with one run, phase 1 (consolidation) is shaded grey
and phase 2 (exploration) green. A panel without data says which data it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hicra.dynamics.analysis import RunAnalysis
from hicra.dynamics.phases import running_median

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
PANELS = ("perplexity", "entropy", "semantic", "length_accuracy")
EXTRA_PREFIXES = (
    "task/",
    "backtrack/",
    "semantic/rate_",
    "semantic/entropy_",
    "pass@",
    "length/truncated_frac",
    "tokens/planning_fraction",
    "chars/planning_fraction",
    "semantic/distinct_grams",
)
"""Diagnostic series drawn as extra panels, in this order (task diagnostics first)."""


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _line(ax, run: RunAnalysis, key: str, color: str, style: str, label: str) -> bool:
    y = run.series.get(key)
    if y is None or not np.isfinite(y).any():
        return False
    ok = np.isfinite(y)
    x, y = run.steps[ok], y[ok]
    if y.size >= 9:
        ax.plot(x, y, color=color, linestyle=style, alpha=0.25, linewidth=0.8)
        ax.plot(
            x,
            running_median(y, max(3, (y.size // 12) | 1)),
            color=color,
            linestyle=style,
            linewidth=1.8,
            label=label,
        )
    else:
        ax.plot(
            x, y, color=color, linestyle=style, linewidth=1.6, marker="o", markersize=3, label=label
        )
    return True


def _phases(ax, runs: Sequence[RunAnalysis]) -> None:
    for i, run in enumerate(runs):
        t = run.phases.transition_step
        if t is None or not run.steps.size:
            continue
        color = COLORS[i % len(COLORS)]
        if len(runs) == 1 and run.phases.kind in ("two_phase", "consolidation_stall"):
            ax.axvspan(
                run.steps[0], t, color="0.85", alpha=0.5, zorder=0, label="phase 1: consolidation"
            )
            if run.phases.kind == "two_phase":
                ax.axvspan(
                    t,
                    run.steps[-1],
                    color="#c7e9c0",
                    alpha=0.4,
                    zorder=0,
                    label="phase 2: exploration",
                )
        ax.axvline(t, color=color, linestyle="--", linewidth=1.0, alpha=0.8)


def _empty(ax, why: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5,
        0.5,
        "not available:\n" + why,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=9,
        color="0.4",
        wrap=True,
    )


def _name(runs, i, suffix):
    return f"{runs[i].name} {suffix}" if len(runs) > 1 else suffix


def panel(ax, which: str, runs: Sequence[RunAnalysis]) -> None:
    """Draw one of PANELS for all runs on `ax`."""
    drawn = False
    twin = None
    if which == "perplexity":
        ax.set_title("a. relative perplexity by token class")
        ax.set_ylabel("perplexity / first step")
        for i, run in enumerate(runs):
            c = COLORS[i % len(COLORS)]
            drawn |= _line(ax, run, "rel_perplexity/execution", c, "-", _name(runs, i, "execution"))
            drawn |= _line(ax, run, "rel_perplexity/planning", c, "--", _name(runs, i, "planning"))
        why = "needs per-token log-probs (logp) and a planning mask"
    elif which == "entropy":
        ax.set_title("b. token entropy by class")
        ax.set_ylabel("mean entropy (nats)")
        for i, run in enumerate(runs):
            c = COLORS[i % len(COLORS)]
            drawn |= _line(ax, run, "entropy/execution", c, "-", _name(runs, i, "execution"))
            drawn |= _line(ax, run, "entropy/planning", c, "--", _name(runs, i, "planning"))
        why = "needs per-token entropies of the next-token distribution"
    elif which == "semantic":
        ax.set_title("c. semantic entropy of Strategic Grams")
        ax.set_ylabel("semantic entropy (nats)")
        twin = ax.twinx()
        twin.set_ylabel("control: H(next 3 words | SG) (nats)", fontsize=8)
        for i, run in enumerate(runs):
            c = COLORS[i % len(COLORS)]
            drawn |= _line(ax, run, "semantic/entropy", c, "-", _name(runs, i, "semantic entropy"))
            _line(
                twin,
                run,
                "semantic/cond_entropy",
                c,
                ":",
                _name(runs, i, "control (cond. entropy)"),
            )
        why = "needs response texts and a lexicon"
    else:
        ax.set_title("d. response length and accuracy")
        ax.set_ylabel("length")
        twin = ax.twinx()
        twin.set_ylabel("accuracy")
        for i, run in enumerate(runs):
            c = COLORS[i % len(COLORS)]
            key = "length/mean" if "length/mean" in run.series else "length/mean_words"
            unit = "tokens" if key == "length/mean" else "words"
            drawn |= _line(ax, run, key, c, "-", _name(runs, i, f"length ({unit})"))
            acc = next(
                (k for k in ("val/accuracy", "accuracy", "reward/mean") if k in run.series), None
            )
            if acc is not None:
                drawn |= _line(twin, run, acc, c, "--", _name(runs, i, acc))
        why = "needs texts or token masks, and rewards"
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    for a in (ax, twin):
        if a is not None:
            a.ticklabel_format(axis="y", useOffset=False)
    if not drawn:
        _empty(ax, why)
        return
    _phases(ax, runs)
    handles, labels = ax.get_legend_handles_labels()
    if twin is not None:
        h2, l2 = twin.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    seen = {}
    for h, lab in zip(handles, labels):
        seen.setdefault(lab, h)
    ax.legend(seen.values(), seen.keys(), fontsize=7, loc="best")


def extra_keys(runs: Sequence[RunAnalysis], limit: int = 24) -> list[str]:
    """Diagnostic series present in any run (task/*, backtrack rate, pass@k, ...), grouped in
    EXTRA_PREFIXES order, at most `limit`."""
    keys: set[str] = set()
    for run in runs:
        for k, v in run.series.items():
            if k.startswith(EXTRA_PREFIXES) and np.isfinite(v).sum() >= 2:
                keys.add(k)
    rank = {p: i for i, p in enumerate(EXTRA_PREFIXES)}
    group = lambda k: min(rank[p] for p in EXTRA_PREFIXES if k.startswith(p))  # noqa: E731
    return sorted(keys, key=lambda k: (group(k), k))[:limit]


def draw_figures(
    runs: Sequence[RunAnalysis], out_dir: Path, dpi: int = 110, separate_panels: bool = True
) -> dict[str, Path]:
    """Write dynamics.png (2x2), extras.png and (separate_panels) one PNG per panel;
    returns name -> path."""
    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    for ax, which in zip(axes.flat, PANELS):
        panel(ax, which, runs)
    fig.tight_layout()
    paths["dynamics"] = out_dir / "dynamics.png"
    fig.savefig(paths["dynamics"], dpi=dpi)
    plt.close(fig)
    for which in PANELS if separate_panels else ():
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        panel(ax, which, runs)
        fig.tight_layout()
        paths[which] = out_dir / f"{which}.png"
        fig.savefig(paths[which], dpi=dpi)
        plt.close(fig)
    keys = extra_keys(runs)
    if keys:
        cols = min(3, len(keys))
        rows = (len(keys) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.2 * rows), squeeze=False)
        for ax, key in zip(axes.flat, keys):
            for i, run in enumerate(runs):
                _line(ax, run, key, COLORS[i % len(COLORS)], "-", run.name)
            _phases(ax, runs)
            ax.set_title(key, fontsize=10)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            if len(runs) > 1:
                ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(keys) :]:
            ax.axis("off")
        fig.tight_layout()
        paths["extras"] = out_dir / "extras.png"
        fig.savefig(paths["extras"], dpi=dpi)
        plt.close(fig)
    return paths
