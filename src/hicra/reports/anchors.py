"""The thought-anchors panel: sentence importance by class, from `hicra anchors` summaries.

Reads plain summary dicts (OUT/summary.json of `hicra anchors`), never the anchors package, so
the training-dynamics report can show the panel beside its own (`build_report(..., anchors=)`)
and `hicra anchors` writes a page with the panel alone (`write_anchors_report`).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MEASURES = (
    "resampling_importance_accuracy",
    "resampling_importance_kl",
    "counterfactual_importance_accuracy",
    "counterfactual_importance_kl",
)
SHORT = {
    "resampling_importance_accuracy": "resampling, accuracy",
    "resampling_importance_kl": "resampling, KL",
    "counterfactual_importance_accuracy": "counterfactual, accuracy",
    "counterfactual_importance_kl": "counterfactual, KL",
}

Named = Sequence[tuple[str, dict[str, Any]]]


def load_summaries(dirs: Sequence[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    """(name, summary) of each `hicra anchors` output directory (or summary.json path); an
    InputError naming the file when one is missing or not a JSON object."""
    from hicra.errors import InputError, first_line

    out = []
    for d in dirs:
        path = Path(d)
        path = path / "summary.json" if path.is_dir() else path
        if not path.is_file():
            raise InputError(
                f"--anchors {path}: no anchors summary (run `hicra anchors --out {Path(d)}` first)"
            )
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as err:  # not JSON, not UTF-8
            raise InputError(f"--anchors {path}: not valid JSON ({first_line(err)})") from None
        if not isinstance(summary, dict):
            raise InputError(f"--anchors {path}: expected the JSON object `hicra anchors` writes")
        out.append((path.parent.name, summary))
    return out


def _f(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.0f}%" if pct else f"{v:.3g}"


def _error_bar(value: float, ci: Sequence[float]) -> tuple[float, float]:
    """(below, above) distances of a CI from its value; 0 where the CI is undefined."""
    if any(math.isnan(c) for c in ci) or math.isnan(value):
        return 0.0, 0.0
    return max(value - ci[0], 0.0), max(ci[1] - value, 0.0)


def draw_anchors_figure(summaries: Named, path: Path) -> Path:
    """Two panels: planning share among the top anchors vs among all sentences (per measure),
    and mean |importance| of planning vs execution sentences."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    width = 0.8 / max(len(summaries), 1)
    for k, (name, s) in enumerate(summaries):
        x = [i + k * width for i in range(len(MEASURES))]
        shares = [s["top_anchors"][m]["planning_share"] for m in MEASURES]
        errors = [_error_bar(sh, s["top_anchors"][m]["ci95"]) for sh, m in zip(shares, MEASURES)]
        bars = axes[0].bar(x, shares, width, yerr=list(zip(*errors)), capsize=2, label=name)
        axes[0].hlines(
            s["planning_share_of_sentences"],
            x[0] - width / 2,
            x[-1] + width / 2,
            colors=bars.patches[0].get_facecolor(),
            linestyles="dotted",
        )
        ratio = [
            s["by_class"][m]["planning"]["mean_abs"] / s["by_class"][m]["execution"]["mean_abs"]
            if s["by_class"][m]["execution"]["mean_abs"]
            else float("nan")
            for m in MEASURES
        ]
        axes[1].bar(x, ratio, width, label=name)
    for ax in axes:
        ax.set_xticks(
            [i + 0.4 - width / 2 for i in range(len(MEASURES))],
            [SHORT[m] for m in MEASURES],
            rotation=15,
            fontsize=8,
        )
    top = int(round(100 * summaries[0][1].get("top_fraction", 0.1))) if summaries else 10
    axes[0].set_ylabel(f"planning share of top {top}% anchors")
    axes[0].set_title("bars: top anchors (95% CI); dotted: all sentences", fontsize=9)
    axes[1].set_ylabel("mean |importance|: planning / execution")
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def anchors_panel(summaries: Named, figure: Path | None = None) -> str:
    """The panel's HTML: the figure, one table per measure, and countdown roles when present."""
    h = [
        "<h2>Thought anchors: which sentences decide the answer</h2>",
        "<p class='muted'>Each sentence resampled as in Thought Anchors (Bogdan et al. 2025): continuations "
        "with the sentence kept vs replaced by a resample; counterfactual = replacements with MiniLM "
        "cosine &lt; 0.8 only. Top anchors = the top share of sentences by |importance|, pooled over "
        "traces. Definitions: docs/anchors.md.</p>",
    ]
    if figure is not None and figure.is_file():
        data = base64.b64encode(figure.read_bytes()).decode("ascii")
        h.append(f'<img alt="thought anchors by class" src="data:image/png;base64,{data}">')
    h.append(
        "<table><tr><th>anchors run</th><th>traces (correct)</th><th>sentences</th>"
        "<th>planning share of sentences</th><th>detector</th><th>samples</th></tr>"
    )
    for name, s in summaries:
        h.append(
            f"<tr><td>{html.escape(name)}</td><td>{s['n_traces']} ({s.get('n_traces_correct', '-')})</td>"
            f"<td>{s['n_sentences']}</td><td>{_f(s['planning_share_of_sentences'], True)}</td>"
            f"<td>{html.escape(str(s.get('detector', '-')))}</td><td>{s.get('samples', '-')}</td></tr>"
        )
    h.append("</table>")
    h.append(
        "<table><tr><th>run / measure</th><th>mean |imp| planning</th><th>mean |imp| execution</th>"
        "<th>planning share of |imp|</th><th>planning share of top anchors [95% CI]</th></tr>"
    )
    for name, s in summaries:
        for m in MEASURES:
            c, t = s["by_class"][m], s["top_anchors"][m]
            ci = t["ci95"]
            h.append(
                f"<tr><td>{html.escape(name)}: {SHORT[m]}</td><td>{_f(c['planning']['mean_abs'])}</td>"
                f"<td>{_f(c['execution']['mean_abs'])}</td>"
                f"<td>{_f(s['planning_share_of_importance'][m], True)}</td>"
                f"<td>{_f(t['planning_share'], True)} [{_f(ci[0], True)}, {_f(ci[1], True)}]</td></tr>"
            )
    h.append("</table>")
    for name, s in summaries:
        if "by_role" not in s:
            continue
        roles = sorted({r for m in MEASURES for r in s["by_role"][m]})
        h.append(
            f"<h3>{html.escape(name)}: mean |importance| by countdown move</h3><table><tr><th>move</th><th>n</th>"
            + "".join(f"<th>{SHORT[m]}</th>" for m in MEASURES)
            + "</tr>"
        )
        for r in roles:
            n = s["by_role"][MEASURES[0]].get(r, {}).get("n", 0)
            h.append(
                f"<tr><td>{html.escape(r)}</td><td>{n}</td>"
                + "".join(
                    f"<td>{_f(s['by_role'][m].get(r, {}).get('mean_abs'))}</td>" for m in MEASURES
                )
                + "</tr>"
            )
        h.append("</table>")
    return "\n".join(h)


def write_anchors_report(
    summaries: Named, page: Path, title: str = "hicra thought anchors"
) -> Path:
    """A self-contained page with the anchors panel (figure saved beside it as anchors.png)."""
    from hicra.reports.html import CSS

    page = Path(page)
    page.parent.mkdir(parents=True, exist_ok=True)
    figure = draw_anchors_figure(summaries, page.with_name("anchors.png"))
    body = anchors_panel(summaries, figure)
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>",
        encoding="utf-8",
    )
    return page
