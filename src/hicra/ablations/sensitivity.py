"""The paper's robustness check: do the dynamics survive dropping 30% of the lexicon?

The paper reports that dropping a random 30% of the Strategic Grams leaves the dynamics
curves qualitatively the same. `lexicon_sensitivity` recomputes the text metrics of
`hicra.dynamics.step_metrics` (semantic entropy, distinct grams, SG rate, character share,
...) on the same responses with the full lexicon and with ``draws`` random 70% subsets, and
compares them:

- per step series (a run directory): Pearson and Spearman correlation of each metric's curve
  under the full vs the dropped lexicon, and whether the overall trend (sign of the
  least-squares slope against step) agrees;
- a single corpus (one "step"): the values side by side and their relative difference.

"Qualitatively the same" is read as: high correlation and the same trend sign for every
metric; the report gives the numbers and leaves the verdict to the reader.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from hicra.ablations.quality import drop_phrases

TEXT_METRIC_PREFIXES = ("semantic/", "chars/", "backtrack/")


def text_metrics(texts: list[str], lexicon) -> dict[str, float]:
    """The lexicon-dependent text metrics of `hicra.dynamics.step_metrics` for one step."""
    from hicra.dynamics import step_metrics

    return {
        k: float(v)
        for k, v in step_metrics(texts, lexicon).items()
        if k.startswith(TEXT_METRIC_PREFIXES)
    }


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def _rank(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x)


def _slope(steps: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(steps[ok], y[ok], 1)[0])


@dataclass
class MetricSensitivity:
    """One metric, full vs dropped lexicon."""

    metric: str
    full: list[float]
    """Per step with the full lexicon."""
    dropped: list[list[float]]
    """Per draw, per step with the dropped lexicon."""
    pearson: list[float] = field(default_factory=list)
    """Per draw: correlation of the two curves (NaN for fewer than 3 steps)."""
    spearman: list[float] = field(default_factory=list)
    trend_agrees: list[bool | None] = field(default_factory=list)
    """Per draw: same sign of the slope against step (None for one step)."""
    relative_difference: list[float] = field(default_factory=list)
    """Per draw: mean over steps of (dropped - full) / |full|."""


@dataclass
class Sensitivity:
    steps: list[int]
    frac: float
    seeds: list[int]
    lexicon_size: int
    metrics: list[MetricSensitivity]

    def to_dict(self) -> dict:
        return asdict(self)

    def markdown(self) -> str:
        lines = [
            f"# Lexicon sensitivity: drop {self.frac:.0%} of {self.lexicon_size} phrases, "
            f"{len(self.seeds)} draws, {len(self.steps)} step(s)",
            "",
            "| metric | full (mean) | dropped (mean) | rel. diff | Pearson (min) | "
            "Spearman (min) | trend agrees |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in self.metrics:

            def nanmin(v):
                v = [x for x in v if not math.isnan(x)]
                return f"{min(v):.3f}" if v else "n/a"

            agree = [a for a in m.trend_agrees if a is not None]
            lines.append(
                f"| {m.metric} | {np.nanmean(m.full):.4g} | {np.nanmean(m.dropped):.4g} | "
                f"{np.nanmean(m.relative_difference):+.1%} | {nanmin(m.pearson)} | "
                f"{nanmin(m.spearman)} | {f'{sum(agree)}/{len(agree)}' if agree else 'n/a'} |"
            )
        return "\n".join(lines) + "\n"


def lexicon_sensitivity(
    texts_by_step: dict[int, list[str]], lexicon, frac: float = 0.3, seeds: list[int] | None = None
) -> Sensitivity:
    """Text metrics per step with ``lexicon`` vs with each random ``1 - frac`` subset of it.

    ``texts_by_step``: step -> the responses of that step (one entry for a plain corpus).
    """
    seeds = list(range(5)) if seeds is None else list(seeds)
    steps = sorted(texts_by_step)
    full = [text_metrics(texts_by_step[s], lexicon) for s in steps]
    dropped = []
    for seed in seeds:
        sub = drop_phrases(lexicon, frac, seed)
        dropped.append([text_metrics(texts_by_step[s], sub) for s in steps])
    names = sorted({k for m in full for k in m})
    x = np.asarray(steps, dtype=float)
    out = []
    for name in names:
        f = np.array([m.get(name, np.nan) for m in full], dtype=float)
        ms = MetricSensitivity(metric=name, full=f.tolist(), dropped=[])
        for per_step in dropped:
            d = np.array([m.get(name, np.nan) for m in per_step], dtype=float)
            ms.dropped.append(d.tolist())
            ms.pearson.append(_corr(f, d))
            ms.spearman.append(_corr(_rank(f), _rank(d)) if len(f) >= 3 else float("nan"))
            if len(steps) >= 2:
                sf, sd = _slope(x, f), _slope(x, d)
                ms.trend_agrees.append(
                    bool(np.sign(sf) == np.sign(sd))
                    if np.isfinite(sf) and np.isfinite(sd)
                    else None
                )
            else:
                ms.trend_agrees.append(None)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = (d - f) / np.abs(f)
            rel = rel[np.isfinite(rel)]
            ms.relative_difference.append(float(rel.mean()) if rel.size else float("nan"))
        out.append(ms)
    return Sensitivity(steps=steps, frac=frac, seeds=seeds, lexicon_size=len(lexicon), metrics=out)


def run_texts_by_step(run_dir: str, text_field: str = "response") -> dict[int, list[str]]:
    """step -> response texts of a run directory's rollouts (docs/run-directory.md)."""
    from hicra.runs import RunReader

    reader = RunReader(run_dir)
    out: dict[int, list[str]] = {}
    for step in reader.rollout_steps():
        out[step] = [
            r[text_field]
            for r in reader.iter_rollouts([step], columns=[text_field])
            if isinstance(r.get(text_field), str)
        ]
    if not out:
        raise ValueError(f"{run_dir}: no rollouts/step_*.parquet files to read responses from")
    return out
