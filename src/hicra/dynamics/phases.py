"""Phase detection: where procedural consolidation ends and strategic exploration starts.

The paper (section 4) reads two phases by eye: execution-token perplexity/entropy falls, then
flattens (phase 1, consolidation); then a measure of strategic diversity rises with accuracy
(phase 2, exploration). Here both edges are estimated, each with a 95% interval
(docs/phases.md, "What the turn is"):

- consolidation_end: the step by which three quarters (1 - `phases_fit.MAX_DRIFT`) of the
  execution signal's fall are done, from a fit of the fall (linear, fast-then-slow,
  slow-then-fast, sigmoid, step shapes, then a slow drift; `phases_fit.fit_transition`).
  The corner where the fall turns into drift (`evidence["consolidation_corner"]`) is also
  reported, but for a fall that slows down gradually it is soft: its last quarter cannot be
  told apart from phase 2's slow drift (docs/phases.md, "What the turn is");
- exploration_onset: where the exploration signal's rise starts (the same fit, mirrored),
  pooled with the rises of accuracy and response length where they rise with it
  (`pooled_onset`).

Signals (first present with >= `min_steps` logged steps):
execution `PhaseConfig.execution_series` (a task-provided execution-error rate first, e.g. the
countdown world's `task/execution_error`, then the execution tokens' relative perplexity,
entropy, NLL); exploration `PhaseConfig.exploration_series` (a task-provided strategy-level
series first, e.g. the countdown world's `task/strategy_entropy`, then the paper's
`semantic/entropy`); accuracy `ACCURACY_SERIES`; response length `PhaseConfig.length_series`
(read for the exploration onset only). A task that knows its errors and strategies
exactly measures the phases directly; token statistics can move for other reasons (on the
countdown demo the execution tokens' entropy falls late, with the retries of phase 2, while
the slips fell in the first ~30 steps: docs/phases.md).

Kind (thresholds are `PhaseConfig` fields; the trends after the turn are read from the
consolidation's corner on):
- "two_phase": a consolidation (a fall with a corner: log Bayes factor against a straight line
  >= `min_log_bf`, a drop of >= `min_change_z` standard errors and >= `min_relative_drop` of
  the start level, ending before the last points), then the exploration signal rises (a rise
  fit with the same evidence, or a significant slope after the turn) and accuracy too when
  logged. However short the consolidation, it is reported with its interval;
- "exploration_only": no consolidation (flat or no corner), and exploration and accuracy rise;
- "consolidation_stall": a consolidation, then nothing rises and accuracy (exploration when no
  accuracy is logged) gains less than `stall_max_accuracy_gain` even at its upper bound;
- "inconclusive": anything else, with `evidence["reason"]` in one line: too few logged steps
  (how many, how many needed), text-only data (no execution series: the exploration onset
  is still reported), a fall still going at the end of the run, no clear post-turn trend.

`transition_step` is what the report marks: the consolidation end (two_phase, stall, and
inconclusive runs with a consolidation), the first step for exploration_only (phase 1 over
before the run started), the exploration onset for text-only data; else None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hicra.dynamics.metrics import relative_perplexity
from hicra.dynamics.phases_fit import (
    TransitionFit,
    _quantiles,
    despike,
    fit_transition,
    noise_sigma,
    running_median,
)

__all__ = [
    "ACCURACY_SERIES",
    "EXECUTION_SERIES",
    "EXPLORATION_SERIES",
    "KINDS",
    "LENGTH_SERIES",
    "PhaseConfig",
    "PhaseResult",
    "Slope",
    "TASK_EXECUTION_SERIES",
    "TOKEN_EXECUTION_SERIES",
    "detect_phases",
    "despike",
    "noise_sigma",
    "ols_slope",
    "running_median",
    "series_from_metrics",
]

KINDS = ("two_phase", "exploration_only", "consolidation_stall", "inconclusive")
TASK_EXECUTION_SERIES = "task/execution_error"
"""A task-provided per-step rate of execution errors (a task that verifies its execution steps
logs it through its diagnostics summary, e.g. the countdown world: arithmetic slips in the
first attempt). The detector prefers it to the execution tokens' statistics."""
TOKEN_EXECUTION_SERIES = ("rel_perplexity/execution", "entropy/execution", "nll/execution")
EXECUTION_SERIES = (TASK_EXECUTION_SERIES, *TOKEN_EXECUTION_SERIES)
EXPLORATION_SERIES = ("task/strategy_entropy", "semantic/entropy")
ACCURACY_SERIES = ("val/accuracy", "accuracy", "reward/mean")
LENGTH_SERIES = (
    "length/mean",
    "length/mean_words",
    "response_length/mean",
    "completions/mean_length",
)
"""Mean response length: hicra's own metrics (tokens, or words for text-only dumps), verl's
and TRL's names."""


@dataclass(frozen=True)
class PhaseConfig:
    """Thresholds of the phase detector (docs/phases.md explains each choice)."""

    min_steps: int = 10
    """Fewer distinct logged steps than this in a series: it cannot show a turn."""
    execution_series: tuple[str, ...] = EXECUTION_SERIES
    """Execution (phase 1) signals, first present wins: a task-provided execution-error rate
    (logged as task/execution_error), else the execution tokens' relative perplexity, entropy,
    NLL. `TOKEN_EXECUTION_SERIES` gives the token statistics alone."""
    exploration_series: tuple[str, ...] = EXPLORATION_SERIES
    """Exploration signals, first present wins: a task-provided strategy-level diversity
    (logged as task/strategy_entropy), else the semantic entropy of Strategic Grams."""
    min_log_bf: float = 3.0
    """A corner needs this log Bayes factor against a straight line (about 20:1)."""
    min_change_z: float = 3.0
    """... and a change of at least this many standard errors."""
    min_relative_drop: float = 0.03
    """A consolidation drops the execution signal by at least this fraction of its start."""
    max_end_mass: float = 0.5
    """A fall whose end has this much posterior mass at the last points has not ended."""
    confidence: float = 0.95
    """Level of the intervals on the turn and of the slope intervals."""
    max_bins: int = 100
    """Series longer than this are averaged into this many bins before the fit (a turn is then
    resolved to 1% of the run, well inside the interval)."""
    stall_max_accuracy_gain: float = 0.05
    """Stall: even at the upper confidence bound, accuracy gains less than this (absolute)
    over the whole post-turn window (or the exploration signal less than
    `stall_max_semantic_gain` nats when accuracy is not logged)."""
    stall_max_semantic_gain: float = 0.1
    """See stall_max_accuracy_gain."""
    joint_onset: bool = True
    """Estimate the exploration onset from the exploration signal's rise together with the
    rises of accuracy and response length (one onset shared by them, each with its own shape
    and size), each used where it rises significantly and its interval overlaps the
    exploration's; else from the exploration signal alone (`pooled_onset`)."""
    onset_slack: float = 0.05
    """A companion's onset (accuracy's, length's) may lie this far (a fraction of the run)
    before or after the exploration's: its posterior is spread over that much on either side
    before it is pooled (`pooled_onset`)."""
    length_series: tuple[str, ...] = LENGTH_SERIES
    """Response-length series for the joint onset, first present wins; () leaves length out."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.onset_slack < 0.5:
            raise ValueError(
                f"PhaseConfig.onset_slack: expected a fraction of the run in [0, 0.5), "
                f"got {self.onset_slack!r}"
            )


@dataclass
class Slope:
    """OLS slope of a series against the step, with its confidence interval (per step)."""

    slope: float
    low: float
    high: float
    n: int

    @property
    def rises(self) -> bool:
        return self.low > 0

    @property
    def falls(self) -> bool:
        return self.high < 0


@dataclass
class PhaseResult:
    """Detected phases of one run.

    transition_step: the step the report marks (module docstring); None when there is none.
    kind: one of KINDS.
    consolidation_end / exploration_onset: {"step", "ci_low", "ci_high"} (steps, 95%
    interval), or None when not found.
    evidence: the numbers behind the kind (docs/phases.md lists them).
    signals: which logged series played which role.
    """

    transition_step: int | None
    kind: str
    evidence: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, str] = field(default_factory=dict)
    consolidation_end: dict[str, float] | None = None
    exploration_onset: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ols_slope(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> Slope:
    """Slope of y on x with a t-distribution confidence interval; NaNs dropped. The standard
    error is widened by sqrt((1 + r) / (1 - r)) for a positive lag-1 autocorrelation r of
    the residuals (logged metrics are often correlated from step to step).

    >>> s = ols_slope(np.arange(5.0), 2 * np.arange(5.0) + 1)
    >>> round(s.slope, 6), round(s.low, 6)
    (2.0, 2.0)
    """
    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(x) == 0:
        return Slope(float("nan"), float("nan"), float("nan"), int(x.size))
    if np.ptp(y) == 0:  # a constant series: exactly flat
        return Slope(0.0, 0.0, 0.0, int(x.size))
    fit = stats.linregress(x, y)
    resid = y - (fit.intercept + fit.slope * x)
    r = 0.0
    if resid.size > 4 and np.any(resid):
        r = float(np.clip(np.sum(resid[1:] * resid[:-1]) / np.sum(resid * resid), 0.0, 0.9))
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 2) * fit.stderr * math.sqrt((1 + r) / (1 - r))
    return Slope(float(fit.slope), float(fit.slope - half), float(fit.slope + half), int(x.size))


def series_from_metrics(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-step metric dicts -> (steps (S,), {name: (S,) float with NaN where absent}).

    Adds rel_perplexity/<class> from nll/<class> (or perplexity/<class>).
    """
    rows = sorted(rows, key=lambda r: r["step"])
    steps = np.array([int(r["step"]) for r in rows], dtype=np.int64)
    names: list[str] = []
    for r in rows:
        for k, v in r.items():
            if (
                k not in ("step", "time")
                and k not in names
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
            ):
                names.append(k)
    series = {}
    for k in names:
        vals = []
        for r in rows:
            v = r.get(k)
            vals.append(
                float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
            )
        series[k] = np.array(vals, dtype=np.float64)
    for cls in ("planning", "execution", "all"):
        if f"nll/{cls}" in series:
            series[f"rel_perplexity/{cls}"] = relative_perplexity(series[f"nll/{cls}"])
        elif f"perplexity/{cls}" in series:
            with np.errstate(divide="ignore", invalid="ignore"):
                series[f"rel_perplexity/{cls}"] = relative_perplexity(
                    np.log(series[f"perplexity/{cls}"])
                )
    return steps, series


def _logged(x: np.ndarray, y: np.ndarray) -> int:
    return int(np.unique(x[np.isfinite(y)]).size)


def _pick(x, series: Mapping[str, np.ndarray], names: Sequence[str], min_points: int) -> str | None:
    for name in names:
        if name in series and _logged(x, series[name]) >= min_points:
            return name
    return None


def _slope_dict(s: Slope) -> dict[str, float]:
    return {"slope": s.slope, "ci_low": s.low, "ci_high": s.high, "n": s.n}


def _turn(fit: TransitionFit) -> dict[str, float]:
    return {"step": round(fit.step, 1), "ci_low": round(fit.low, 1), "ci_high": round(fit.high, 1)}


def _end(fit: TransitionFit) -> dict[str, float]:
    """The end of consolidation: the step by which `done_share` of the fall is done."""
    return {
        "step": round(fit.done_step, 1),
        "ci_low": round(fit.done_low, 1),
        "ci_high": round(fit.done_high, 1),
    }


def _significant(fit: TransitionFit | None, config: PhaseConfig, sign: int) -> bool:
    """A change in direction `sign` (-1 fall, +1 rise) of >= min_change_z standard errors
    whose edge is not at the last points (a rise that has not started, a fall not ended)."""
    return bool(
        fit is not None
        and sign * fit.change > 0
        and abs(fit.change) >= config.min_change_z * fit.change_se
        and fit.edge_mass < config.max_end_mass
    )


def _corner(fit: TransitionFit | None, config: PhaseConfig, sign: int) -> bool:
    """... and a corner: the transition beats a straight line by `min_log_bf`."""
    return _significant(fit, config, sign) and fit.log_bf >= config.min_log_bf


def detect_phases(
    steps: Sequence[int], series: Mapping[str, Sequence[float]], config: PhaseConfig = PhaseConfig()
) -> PhaseResult:
    """Detect the two-phase dynamic from per-step series (see the module docstring).

    steps: (S,) logged steps (repeats, e.g. of a resumed run, are averaged). series: name ->
    (S,) values, NaN where absent.
    """
    x = np.asarray(steps, dtype=np.float64)
    data = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
    n = int(np.unique(x).size)
    exec_name = _pick(x, data, config.execution_series, config.min_steps)
    xp_name = _pick(x, data, config.exploration_series, config.min_steps)
    acc_name = _pick(x, data, ACCURACY_SERIES, config.min_steps)
    signals = {
        k: v
        for k, v in (("execution", exec_name), ("exploration", xp_name), ("accuracy", acc_name))
        if v
    }
    evidence: dict[str, Any] = {"steps": n}
    if n < config.min_steps or (exec_name is None and xp_name is None):
        counts = [
            _logged(x, data[k])
            for k in (*config.execution_series, *config.exploration_series)
            if k in data
        ]
        if not counts and n >= config.min_steps:
            evidence["reason"] = (
                "no execution or exploration series (needs per-token logp/entropy, response "
                "texts, task/execution_error or task/strategy_entropy)"
            )
        else:
            evidence["reason"] = (
                f"too few logged steps for a turn: {max(counts or [n])} seen in the "
                f"execution/exploration series, at least {config.min_steps} needed"
            )
        return PhaseResult(None, "inconclusive", evidence, signals)
    fall = (
        fit_transition(
            x, data[exec_name], "fall", max_bins=config.max_bins, level=config.confidence
        )
        if exec_name
        else None
    )
    rise = (
        fit_transition(x, data[xp_name], "rise", max_bins=config.max_bins, level=config.confidence)
        if xp_name
        else None
    )
    if fall is not None:
        evidence["execution_fit"] = fall.to_dict()
    if rise is not None:
        evidence["exploration_fit"] = rise.to_dict()
    # a rise with a corner, or a significant rise without one (a rise from the start: the fit
    # averages in the straight line, so its posterior then sits at the first step)
    rises = _corner(rise, config, +1) or (
        _significant(rise, config, +1) and ols_slope(x, data[xp_name], config.confidence).rises
    )
    onset = _turn(rise) if rises else None
    if onset is not None and config.joint_onset:
        len_name = _pick(x, data, config.length_series, config.min_steps)
        companions = {"accuracy": acc_name, "length": len_name}
        onset = _joint_onset(x, data, companions, rise, onset, evidence, config)
    if onset is not None:
        evidence["exploration_onset_step"] = onset["step"]
    result = PhaseResult(None, "inconclusive", evidence, signals, None, onset)
    if exec_name is None:
        evidence["reason"] = (
            "no execution-token series (text-only data): phase 1 cannot be measured"
        )
        evidence.setdefault("missing", []).append(
            "execution entropy/perplexity (needs per-token logp or entropy)"
        )
        start = x.min() if onset is None else onset["step"]
        _slopes(evidence, "after_onset", x, data, start, xp_name, acc_name, config)
        result.transition_step = None if onset is None else int(round(onset["step"]))
        return result
    consolidation = _corner(fall, config, -1) and abs(
        fall.change
    ) >= config.min_relative_drop * abs(fall.start_level)
    evidence["consolidation"] = consolidation
    _execution_evidence(evidence, x, data[exec_name], fall, config)
    if consolidation:
        # phase 2's trends are read from the fall's corner on, where only drift is left
        turn = fall.step
        result.consolidation_end = _end(fall)
        result.transition_step = int(round(fall.done_step))
        evidence["consolidation_corner"] = _turn(fall)
        xp, acc = _slopes(evidence, "after_turn", x, data, turn, xp_name, acc_name, config)
        explores = (onset is not None and rise.high > turn) or (xp is not None and xp.rises)
        if explores and (acc is None or acc.rises):
            result.kind = "two_phase"
        elif not explores and _stalls(xp, acc, float(x.max() - turn), config):
            result.kind = "consolidation_stall"
        else:
            evidence["reason"] = (
                "consolidation found, but the post-turn trend is neither a clear rise nor a stall"
            )
        return result
    xp, acc = _slopes(evidence, "whole_run", x, data, x.min(), xp_name, acc_name, config)
    if _corner(fall, config, -1):
        evidence["reason"] = (
            "the execution drop is too small against its start level to call a consolidation"
        )
    elif (
        fall is not None
        and fall.change < 0
        and fall.edge_mass >= config.max_end_mass
        and fall.log_bf >= config.min_log_bf
    ):
        evidence["reason"] = (
            "the execution signal is still falling at the end of the run: "
            "consolidation has not ended"
        )
        return result
    if (onset is not None or (xp is not None and xp.rises)) and (acc is None or acc.rises):
        result.kind, result.transition_step = "exploration_only", int(x.min())
        evidence.pop("reason", None)
        return result
    evidence.setdefault(
        "reason", "no consolidation and no significant rise of exploration and accuracy"
    )
    return result


def _joint_onset(x, data, names, rise: TransitionFit, onset, evidence, config: PhaseConfig):
    """The onset shared by the exploration signal's rise and the companions' (`names`: role ->
    series name or None) where they rise with it (`pooled_onset`); else `onset`, the
    exploration fit's. Records `<role>_fit` and `onset_from` in `evidence`."""
    fits = {}
    for role, name in names.items():
        if name is None:
            continue
        fit = fit_transition(
            x, data[name], "rise", max_bins=config.max_bins, level=config.confidence
        )
        if fit is not None:
            fits[role] = fit
            evidence[f"{role}_fit"] = fit.to_dict()
    if not fits:
        return onset
    pooled = pooled_onset(x, rise, fits, config)
    evidence["onset_from"] = "+".join(["exploration", *(pooled[1] if pooled else [])])
    return onset if pooled is None else pooled[0]


def pooled_onset(
    x,
    rise: TransitionFit,
    companions: Mapping[str, TransitionFit],
    config: PhaseConfig,
    weight: float | None = None,
) -> tuple[dict[str, float], list[str]] | None:
    """({step, ci_low, ci_high}, the companions used): the onset of several rises pooled, or
    None where no companion rises significantly with an interval that meets the exploration's
    (`rise`).

    The paper's phase 2 raises strategic diversity together with accuracy and length, so their
    rises carry information on the same onset; on a noisy exploration signal most of it. Each
    series keeps its own shape, size and end; the posteriors of the onset (one grid of the run,
    each candidate's mass spread uniformly over the span halfway to its neighbours) of the
    exploration and of each companion used are pooled log-linearly, each raised to `weight`
    (default 1 / the number pooled: their geometric mean, renormalised), not multiplied
    (`weight` 1): the fits share their shape family, so where a shape misleads one it misleads
    the others, and a product would be sure of the wrong step (measured: the product's 95%
    interval covered 82% of round 5's onsets, the pool's 95%; docs/phases.md). A companion is
    used only when it rises significantly and its interval overlaps the exploration's, so that
    one that rose from the start (consolidation alone can raise accuracy) does not drag the
    onset. Nor need a companion start exactly with the exploration (longer responses can come
    before new strategies): its onset is the exploration's plus an offset of up to
    `config.onset_slack` of the run either way, uniform, so its posterior is spread over that
    window (convolved with a box) before pooling; a sharp companion then bounds the onset to a
    window instead of fixing it. The interval is widened by 1.5 bins of the exploration fit on
    each side, as a single fit's is to the steps of the bins around it."""
    used = [
        role
        for role, fit in companions.items()
        if _significant(fit, config, +1)
        and fit.low <= rise.high
        and rise.low <= fit.high
        and fit.posterior is not None
    ]
    if not used or rise.posterior is None:
        return None
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    edges = np.linspace(lo, hi, 401)  # 400 cells
    w = 1.0 / (len(used) + 1) if weight is None else weight
    box = np.ones(2 * int(round(config.onset_slack * 400)) + 1)
    log_mass = np.zeros(400)
    with np.errstate(divide="ignore"):
        for fit in (rise, *(companions[r] for r in used)):
            mass = _cell_mass(*fit.posterior, edges)
            if fit is not rise:
                mass = np.convolve(mass, box, mode="same")
            log_mass += w * np.log(mass)
    if not np.isfinite(log_mass).any():
        return None
    mass = np.exp(log_mass - log_mass.max())
    step, low, high = _quantiles(0.5 * (edges[1:] + edges[:-1]), mass, config.confidence)
    pad = 1.5 * (hi - lo) / max(rise.bins, 1)
    onset = {
        "step": round(step, 1),
        "ci_low": round(max(lo, low - pad), 1),
        "ci_high": round(min(hi, high + pad), 1),
    }
    return onset, used


def _cell_mass(steps: np.ndarray, mass: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(C,) the posterior mass in each cell between `edges` (C + 1,), each candidate step's
    mass spread uniformly over the span halfway to its neighbours (within the edges)."""
    if steps.size == 1:
        return np.diff((edges >= steps[0]).astype(float))
    bounds = np.concatenate(
        [
            [1.5 * steps[0] - 0.5 * steps[1]],
            0.5 * (steps[1:] + steps[:-1]),
            [1.5 * steps[-1] - 0.5 * steps[-2]],
        ]
    )
    bounds = np.clip(bounds, edges[0], edges[-1])  # the first and last keep all their mass
    return np.diff(np.interp(edges, bounds, np.concatenate([[0.0], np.cumsum(mass)])))


def _execution_evidence(evidence, x, y, fall: TransitionFit | None, config: PhaseConfig) -> None:
    """Levels, share of the drop before the turn, and slopes before/after it (raw series)."""
    if fall is None:
        return
    ok = np.isfinite(y)
    xe, ye = x[ok], y[ok]
    order = np.argsort(xe, kind="stable")
    xe, ye = xe[order], ye[order]
    smooth = running_median(ye, max(3, int(round(0.05 * ye.size)) | 1))
    k = int(np.clip(np.searchsorted(xe, fall.step), 1, ye.size - 1))
    start, at_turn = float(smooth[0]), float(smooth[k])
    end = float(np.median(smooth[-max(1, ye.size // 20) :]))
    total = start - end
    evidence.update(
        execution_start=start,
        execution_at_turn=at_turn,
        execution_end=end,
        execution_drop_before_turn=start - at_turn,
        share_of_drop_before_turn=(start - at_turn) / total
        if total > max(fall.noise, 1e-12)
        else float("nan"),
        noise_sigma=fall.noise,
        execution_slope_before=_slope_dict(ols_slope(xe[: k + 1], ye[: k + 1], config.confidence)),
        execution_slope_after=_slope_dict(ols_slope(xe[k:], ye[k:], config.confidence)),
    )


def _slopes(evidence, where, x, data, start, xp_name, acc_name, config):
    """Slopes of the exploration signal, semantic entropy and accuracy from `start` on."""
    after = x >= start

    def slope(name):
        return None if name is None else ols_slope(x[after], data[name][after], config.confidence)

    xp, acc = slope(xp_name), slope(acc_name)
    if xp is not None:
        evidence[f"exploration_slope_{where}"] = _slope_dict(xp)
    if (
        "semantic/entropy" in data
        and np.isfinite(data["semantic/entropy"]).sum() >= config.min_steps
    ):
        evidence[f"semantic_entropy_slope_{where}"] = _slope_dict(slope("semantic/entropy"))
    if acc is not None:
        evidence[f"accuracy_slope_{where}"] = _slope_dict(acc)
    if xp is None:
        evidence.setdefault("missing", []).append(
            "exploration signal (no texts or no lexicon, no task/strategy_entropy)"
        )
    if acc is None:
        evidence.setdefault("missing", []).append("accuracy (no rewards logged)")
    return xp, acc


def _stalls(xp: Slope | None, acc: Slope | None, span: float, config: PhaseConfig) -> bool:
    """No pivot after the consolidation: nothing rises significantly, and the lead series
    (accuracy, else the exploration signal) gains less than the tolerance even at its upper
    confidence bound (a significant decline always qualifies)."""
    if any(s is not None and s.rises for s in (xp, acc)):
        return False
    lead, tol = (
        (acc, config.stall_max_accuracy_gain)
        if acc is not None
        else (xp, config.stall_max_semantic_gain)
    )
    if lead is None or not math.isfinite(lead.slope):
        return False
    return lead.high * span < tol
