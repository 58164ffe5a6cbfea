"""The mining report: what was kept, why, and at what cost (Markdown and JSON)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hicra.mining.mining import MiningResult


def report_json(result: MiningResult, extra: dict | None = None) -> str:
    """The whole result (config, stats, every cluster) as JSON."""
    d = result.to_dict()
    if extra:
        d["run"] = extra

    def clean(x):
        if isinstance(x, float) and math.isnan(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(d), indent=1, ensure_ascii=False)


def report_markdown(result: MiningResult, extra: dict | None = None, examples: int = 8) -> str:
    """A readable report: pipeline counts, timings, then each kept cluster."""
    s, c = result.stats, result.config
    t = s.get("timings", {})
    lines = ["# Strategic-Gram mining report", ""]
    if extra:
        lines += [f"- {k}: {v}" for k, v in extra.items()] + [""]
    lines += [
        "## Pipeline",
        "",
        f"- documents (successful solutions): {s.get('documents')}",
        f"- distinct {c.n_min}-{c.n_max}-grams: {s.get('distinct_ngrams')}",
        f"- with DF >= {s.get('min_df')}: {s.get('after_min_df')}",
        f"- after dropping fragments (closed_ratio {c.closed_ratio}): {s.get('after_closed')}",
        f"- candidates embedded: {s.get('candidates')}",
        f"- clusters ({s.get('method')}): {s.get('clusters')}; kept (top {c.keep_top:.0%} by "
        f"Cluster DF): {s.get('kept_clusters')}",
        f"- lexicon size: {s.get('lexicon_size')} phrases",
        "- time (s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in t.items()),
        f"- peak memory (max RSS): {s.get('peak_rss_mb')} MB",
        "",
        "## Kept clusters",
        "",
        "| rank | Cluster DF | size | category | members (DF), highest first |",
        "|---|---|---|---|---|",
    ]
    for cl in result.kept:
        shown = ", ".join(
            f"`{m}` ({d})" for m, d in zip(cl.members[:examples], cl.member_df[:examples])
        )
        more = f", ... (+{len(cl.members) - examples})" if len(cl.members) > examples else ""
        cat = cl.category or "-"
        if cl.category_similarity is not None:
            cat += f" ({cl.category_similarity:.2f})"
        lines.append(f"| {cl.id} | {cl.df} | {len(cl.members)} | {cat} | {shown}{more} |")
    return "\n".join(lines) + "\n"


def write_reports(
    result: MiningResult, prefix: str | Path, extra: dict | None = None
) -> list[Path]:
    """Write ``<prefix>.md`` and ``<prefix>.json``; returns their paths."""
    prefix = Path(prefix)
    md, js = prefix.with_name(prefix.name + ".md"), prefix.with_name(prefix.name + ".json")
    md.write_text(report_markdown(result, extra), encoding="utf-8")
    js.write_text(report_json(result, extra) + "\n", encoding="utf-8")
    return [md, js]
