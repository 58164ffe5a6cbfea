"""The self-contained report page: figures embedded as base64 PNG, no external assets."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hicra.dynamics.analysis import RunAnalysis

FINAL_KEYS = (
    "accuracy",
    "val/accuracy",
    "reward/mean",
    "pass@1",
    "length/mean",
    "length/mean_words",
    "length/truncated_frac",
    "rel_perplexity/execution",
    "rel_perplexity/planning",
    "entropy/execution",
    "entropy/planning",
    "tokens/planning_fraction",
    "chars/planning_fraction",
    "semantic/entropy",
    "semantic/cond_entropy",
    "semantic/distinct_grams",
    "backtrack/rate",
)
EXAMPLE_CHARS = 2500

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
img{max-width:100%} .kind{font-weight:bold} .muted{color:#777;font-size:.9em}
pre.resp{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:.6em;font-size:.85em;max-height:28em;overflow:auto}
mark{background:#ffe08a;padding:0 .1em;border-radius:2px}
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.4g}"
    return html.escape(str(v))


def highlight(text: str, lexicon: Any) -> str:
    """HTML of `text` with each Strategic-Gram occurrence in <mark> (category as tooltip)."""
    if lexicon is None:
        return html.escape(text)
    out, last = [], 0
    for span in lexicon.find_grams(text):
        out.append(html.escape(text[last : span.start]))
        cat = lexicon.category(span.phrase) if span.phrase in lexicon else None
        title = html.escape(f"{span.phrase}" + (f" ({cat})" if cat else ""))
        out.append(f'<mark title="{title}">{html.escape(text[span.start : span.end])}</mark>')
        last = span.end
    out.append(html.escape(text[last:]))
    return "".join(out)


def _evidence_line(ev: dict[str, Any]) -> str:
    parts = []
    share = ev.get("share_of_drop_before_turn")
    if (
        ev.get("consolidation")
        and share is not None
        and not (isinstance(share, float) and math.isnan(share))
    ):
        parts.append(f"{100 * share:.0f}% of the execution drop before the turn")
    for key, label in (
        ("semantic_entropy_slope_after_turn", "semantic entropy"),
        ("accuracy_slope_after_turn", "accuracy"),
        ("semantic_entropy_slope_whole_run", "semantic entropy (whole run)"),
        ("accuracy_slope_whole_run", "accuracy (whole run)"),
        ("semantic_entropy_slope_after_onset", "semantic entropy after onset"),
        ("accuracy_slope_after_onset", "accuracy after onset"),
    ):
        s = ev.get(key)
        if s:
            parts.append(
                f"{label} slope {s['slope']:.3g}/step [{s['ci_low']:.3g}, {s['ci_high']:.3g}]"
            )
    if ev.get("reason"):
        parts.append(ev["reason"])
    return "; ".join(html.escape(p) for p in parts)


def render_page(
    runs: Sequence[RunAnalysis], figures: dict[str, Path], title: str, lexicon: Any, extra: str = ""
) -> str:
    """The report's HTML (figures from draw_figures, embedded); `extra` is HTML of further
    panels (e.g. the thought-anchors panel) placed after the final metrics."""
    h: list[str] = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    h.append(
        "<p class='muted'>Planning tokens are those inside a Strategic Gram of the lexicon; execution "
        "tokens are all others. Entropies in nats. Phase 1 = procedural consolidation (execution "
        "perplexity/entropy fall), phase 2 = strategic exploration (semantic entropy and accuracy rise). "
        "Method and thresholds: docs/phases.md; metric definitions: docs/metrics.md.</p>"
    )
    h.append(
        "<h2>Runs and detected phases</h2><table><tr><th>run</th><th>format</th><th>steps</th>"
        "<th>records read</th><th>kind</th><th>transition step</th><th>evidence</th></tr>"
    )
    for run in runs:
        steps = f"{run.steps[0]}–{run.steps[-1]} ({run.steps.size})" if run.steps.size else "-"
        t = run.phases.transition_step
        h.append(
            f"<tr><td>{html.escape(run.name)}<div class='muted'>{html.escape(run.source)}</div></td>"
            f"<td>{run.format}</td><td>{steps}</td><td>{run.records}</td>"
            f"<td class='kind'>{run.phases.kind}</td><td>{'-' if t is None else t}</td>"
            f"<td style='text-align:left'>{_evidence_line(run.phases.evidence)}</td></tr>"
        )
    h.append("</table>")
    h.append("<h2>The four panels</h2>")
    if "dynamics" in figures:
        h.append(_img(figures["dynamics"], "training dynamics: four panels"))
    if "extras" in figures:
        h.append("<h2>Task diagnostics</h2>" + _img(figures["extras"], "diagnostics"))
    h.append(
        "<h2>Final metrics</h2><p class='muted'>Mean of the last 10% of logged steps (1 to 5 steps).</p>"
    )
    finals = [run.final() for run in runs]
    keys = [k for k in FINAL_KEYS if any(k in f for f in finals)]
    keys += sorted(
        {k for f in finals for k in f if k.startswith(("task/", "pass@")) and k not in keys}
    )
    h.append(
        "<table><tr><th>metric</th>"
        + "".join(f"<th>{html.escape(r.name)}</th>" for r in runs)
        + "</tr>"
    )
    for k in keys:
        h.append(
            f"<tr><td>{html.escape(k)}</td>"
            + "".join(f"<td>{_fmt(f.get(k, float('nan')))}</td>" for f in finals)
            + "</tr>"
        )
    h.append("</table>")
    h.append(extra)
    missing = [(r.name, g, why) for r in runs for g, why in r.missing.items()]
    if missing:
        h.append("<h2>Missing metrics</h2><ul>")
        h += [
            f"<li><b>{html.escape(n)}</b>: {html.escape(g)}: {html.escape(w)}</li>"
            for n, g, w in missing
        ]
        h.append("</ul>")
    h.append(
        "<h2>Example responses</h2><p class='muted'>Strategic Grams (planning tokens) highlighted; "
        "lexicon: "
        + html.escape(
            ", ".join(sorted({str(getattr(lexicon or r.lexicon, "source", "-")) for r in runs}))
        )
        + ".</p>"
    )
    for run in runs:
        for when in ("early", "late"):
            for rec in run.examples.get(when, []):
                text = rec.get("response") or ""
                cut = text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " […]"
                meta = f"step {rec.get('step')}, reward {_fmt(rec.get('reward'))}, correct {_fmt(rec.get('correct'))}"
                h.append(f"<h3>{html.escape(run.name)}: {when} ({meta})</h3>")
                if rec.get("prompt"):
                    h.append(
                        f"<div class='muted'>prompt: {html.escape(str(rec['prompt'])[:400])}</div>"
                    )
                h.append(f"<pre class='resp'>{highlight(cut, lexicon or run.lexicon)}</pre>")
    configs = [(r.name, r.config) for r in runs if r.config]
    if configs:
        h.append("<h2>Configurations</h2>")
        for name, cfg in configs:
            h.append(
                f"<details><summary>{html.escape(name)}</summary><pre>"
                f"{html.escape(json.dumps(cfg, indent=2, sort_keys=True, default=str))}</pre></details>"
            )
    h.append("</body></html>")
    return "\n".join(h)
