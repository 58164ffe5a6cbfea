"""Training-dynamics reports: PNG figures and a self-contained HTML page.

    >>> from hicra.reports import build_report                      # doctest: +SKIP
    >>> build_report(["runs/grpo", "runs/hicra"], Path("report"))    # doctest: +SKIP
    PosixPath('report/report.html')

matplotlib is imported only when figures are drawn (Agg backend, no display needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_report"]


def build_report(
    runs: Sequence[Any],
    out_dir: str | Path,
    title: str = "hicra training dynamics",
    *,
    lexicon: Any = None,
    progress: bool = False,
    separate_panels: bool = True,
    anchors: Sequence[str | Path] | None = None,
) -> Path:
    """Write out_dir/report.html (figures embedded) and the PNGs beside it; returns the page.

    runs: run directories / dumps (paths, analysed with `hicra.dynamics.analysis.analyze_run`
        and the given lexicon) or `RunAnalysis` objects, overlaid in the same panels.
    lexicon: computes text metrics of runs given as paths and highlights the examples
        (default: each run's own lexicon from its config.json, else the published Strategic
        Grams).
    anchors: `hicra anchors` output directories: adds the thought-anchors panel (importance
        of planning vs execution sentences) after the dynamics panels.
    """
    from hicra.dynamics.analysis import RunAnalysis, analyze_run
    from hicra.reports.figures import draw_figures
    from hicra.reports.html import render_page

    analyses = [
        r if isinstance(r, RunAnalysis) else analyze_run(r, lexicon=lexicon, progress=progress)
        for r in runs
    ]
    if not analyses:
        raise ValueError("build_report needs at least one run")
    _unique_names(analyses)
    summaries = None
    if anchors:  # read before anything is written
        from hicra.reports.anchors import anchors_panel, draw_anchors_figure, load_summaries

        summaries = load_summaries(anchors)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = draw_figures(analyses, out, separate_panels=separate_panels)
    extra = ""
    if summaries is not None:
        extra = anchors_panel(summaries, draw_anchors_figure(summaries, out / "anchors.png"))
    page = out / "report.html"
    page.write_text(render_page(analyses, figures, title, lexicon, extra=extra), encoding="utf-8")
    return page


def _unique_names(runs: Sequence[Any]) -> None:
    """Two runs called `run` become `run` and `run (2)` so legends stay readable."""
    seen: dict[str, int] = {}
    for run in runs:
        n = seen.get(run.name, 0) + 1
        seen[run.name] = n
        if n > 1:
            run.name = f"{run.name} ({n})"
