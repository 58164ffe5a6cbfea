"""Phase detection: where procedural consolidation ends and strategic exploration drives gains.

The paper (section 4) reads two phases by eye: execution-token perplexity/entropy falls sharply
then flattens (phase 1, consolidation); then semantic entropy of Strategic Grams rises with
accuracy (phase 2, exploration). Here it is a number:

1. Pick the execution series (first present: rel_perplexity/execution, entropy/execution,
   nll/execution), the exploration series (semantic/entropy) and the accuracy series
   (val/accuracy, accuracy, reward/mean).
2. Smooth each with a running median (window `smooth_frac` of the steps, odd, >= 3), and
   despike the execution series: residuals from the median clipped at 4 robust sigmas (robust
   to single-step outliers without rounding off the corner).
3. The turn is the knee of the despiked execution series: the breakpoint of the best
   two-segment continuous piecewise-linear fit (ruptures `Binseg`, cost "clinear", one
   breakpoint: the exhaustive single-split search, each segment >= `min_segment_frac` of the
   steps).
4. Evidence: share of the execution drop achieved before the turn; noise level (robust sigma of
   step-to-step differences); OLS slopes with `confidence` intervals (t distribution) of the
   raw execution series before / after, and of semantic entropy and accuracy after the turn.
5. Kind (thresholds are `PhaseConfig` fields, documented in docs/phases.md):
   - "two_phase": a real consolidation (drop before the turn > `min_drop_sigmas` noise sigmas
     and > `min_relative_drop` of the start level, slope before < 0 significantly, share
     before >= `min_share_before`, turn after the first `absent_frac` of the run) followed by a
     significant rise of semantic entropy and of accuracy (when logged);
   - "exploration_only": no consolidation (phase 1 absent) but semantic entropy and accuracy
     rise significantly over the whole run; transition_step = the first step;
   - "consolidation_stall": a consolidation, then neither semantic entropy nor accuracy rises
     significantly, and accuracy (semantic entropy when no accuracy is logged), even at its
     upper confidence bound, gains less than `stall_max_accuracy_gain` over the rest of the
     run (flat or declining, measured precisely enough): like the paper's Llama-3.1-8B-Base;
   - "inconclusive": anything else, including pure noise, too few steps, and text-only data
     without an execution series (phase 1 cannot be measured; the exploration evidence is still
     reported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hicra.dynamics.metrics import relative_perplexity

KINDS = ("two_phase", "exploration_only", "consolidation_stall", "inconclusive")
EXECUTION_SERIES = ("rel_perplexity/execution", "entropy/execution", "nll/execution")
EXPLORATION_SERIES = ("semantic/entropy",)
ACCURACY_SERIES = ("val/accuracy", "accuracy", "reward/mean")


@dataclass(frozen=True)
class PhaseConfig:
    """Thresholds of the phase detector (docs/phases.md explains each choice)."""

    smooth_frac: float = 0.08
    """Running-median window as a fraction of the number of steps (odd, at least 3)."""
    min_steps: int = 10
    """Fewer logged steps than this: "inconclusive"."""
    min_segment_frac: float = 0.1
    """Each side of the turn spans at least this fraction of the steps (and 3 steps)."""
    min_drop_sigmas: float = 3.0
    """Consolidation: the smoothed execution drop before the turn exceeds this many noise sigmas."""
    min_relative_drop: float = 0.03
    """... and this fraction of the series' start level."""
    min_share_before: float = 0.6
    """Consolidation ends at the turn: at least this share of the whole drop happened before it."""
    absent_frac: float = 0.12
    """A knee within this first fraction of the run counts as phase 1 absent (brief or none)."""
    confidence: float = 0.95
    """Two-sided level of the slope confidence intervals."""
    stall_max_accuracy_gain: float = 0.05
    """Stall: even at the upper confidence bound, accuracy gains less than this (absolute)
    over the whole post-turn window (or semantic entropy less than `stall_max_semantic_gain`
    nats when accuracy is not logged)."""
    stall_max_semantic_gain: float = 0.1
    """See stall_max_accuracy_gain."""


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

    transition_step: the step where consolidation ends (None when not found).
    kind: one of KINDS.
    evidence: the numbers behind the kind (docs/phases.md lists them).
    signals: which logged series played which role.
    """

    transition_step: int | None
    kind: str
    evidence: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ols_slope(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> Slope:
    """Slope of y on x with a t-distribution confidence interval; NaNs dropped.

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
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 2) * fit.stderr
    return Slope(float(fit.slope), float(fit.slope - half), float(fit.slope + half), int(x.size))


def running_median(y: np.ndarray, window: int) -> np.ndarray:
    """Centred running median (window shrinks at the edges); NaNs ignored.

    >>> running_median(np.array([1.0, 9.0, 1.0, 1.0]), 3).tolist()
    [5.0, 1.0, 1.0, 1.0]
    """
    half = window // 2
    out = np.empty_like(y, dtype=np.float64)
    for i in range(y.size):
        seg = y[max(0, i - half) : i + half + 1]
        seg = seg[np.isfinite(seg)]
        out[i] = np.median(seg) if seg.size else np.nan
    return out


def noise_sigma(y: np.ndarray) -> float:
    """Robust noise level: 1.4826 * MAD of first differences / sqrt(2)."""
    d = np.diff(y[np.isfinite(y)])
    if d.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def despike(y: np.ndarray, smooth: np.ndarray, limit: float = 4.0) -> np.ndarray:
    """y with residuals from its running median clipped at `limit` robust sigmas: outliers lose
    their pull on a least-squares fit, while the corners the median would round off stay."""
    resid = y - smooth
    scale = 1.4826 * np.median(np.abs(resid - np.median(resid)))
    if not np.isfinite(scale) or scale == 0:
        return smooth
    return smooth + np.clip(resid, -limit * scale, limit * scale)


def knee_index(y: np.ndarray, min_size: int) -> int:
    """Index where the second segment of the best 2-piece continuous linear fit starts."""
    import ruptures

    if y.size < 2 * min_size:
        return y.size // 2
    algo = ruptures.Binseg(model="clinear", min_size=min_size, jump=1).fit(y.reshape(-1, 1))
    return int(algo.predict(n_bkps=1)[0])


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


def _pick(series: Mapping[str, np.ndarray], names: Sequence[str], min_points: int) -> str | None:
    for name in names:
        if name in series and np.isfinite(series[name]).sum() >= min_points:
            return name
    return None


def _slope_dict(s: Slope) -> dict[str, float]:
    return {"slope": s.slope, "ci_low": s.low, "ci_high": s.high, "n": s.n}


def detect_phases(
    steps: Sequence[int], series: Mapping[str, Sequence[float]], config: PhaseConfig = PhaseConfig()
) -> PhaseResult:
    """Detect the two-phase dynamic from per-step series (see the module docstring).

    steps: (S,) logged steps, increasing. series: name -> (S,) values (NaN where absent).
    """
    x = np.asarray(steps, dtype=np.float64)
    data = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
    n = x.size
    exec_name = _pick(data, EXECUTION_SERIES, config.min_steps)
    sem_name = _pick(data, EXPLORATION_SERIES, config.min_steps)
    acc_name = _pick(data, ACCURACY_SERIES, config.min_steps)
    signals = {
        k: v
        for k, v in (("execution", exec_name), ("exploration", sem_name), ("accuracy", acc_name))
        if v
    }
    evidence: dict[str, Any] = {"steps": int(n)}
    if n < config.min_steps:
        evidence["reason"] = f"only {n} logged steps (< {config.min_steps})"
        return PhaseResult(None, "inconclusive", evidence, signals)
    window = max(3, int(round(config.smooth_frac * n)) | 1)
    min_size = max(3, int(math.ceil(config.min_segment_frac * n)))

    def after(name: str | None, i: int) -> Slope | None:
        return None if name is None else ols_slope(x[i:], data[name][i:], config.confidence)

    if exec_name is None:
        return _text_only(x, data, sem_name, acc_name, window, min_size, config, evidence, signals)

    ex = data[exec_name]
    ok = np.isfinite(ex)
    xe, ye = x[ok], ex[ok]
    smooth = running_median(ye, window)
    k = knee_index(despike(ye, smooth), min_size)
    k = min(max(k, 1), ye.size - 1)
    turn_step = int(xe[k])
    turn = int(np.searchsorted(x, turn_step))
    sigma = noise_sigma(ye)
    start, at_turn = smooth[0], smooth[k]
    end = float(np.median(smooth[-max(1, min_size // 2) :]))
    drop_before = start - at_turn
    drop_total = start - end
    # a share of a drop lost in the noise means nothing
    share = drop_before / drop_total if drop_total > max(sigma, 1e-12) else float("nan")
    before = ols_slope(xe[: k + 1], ye[: k + 1], config.confidence)
    after_exec = ols_slope(xe[k:], ye[k:], config.confidence)
    evidence.update(
        execution_start=float(start),
        execution_at_turn=float(at_turn),
        execution_end=end,
        execution_drop_before_turn=float(drop_before),
        share_of_drop_before_turn=float(share),
        noise_sigma=sigma,
        execution_slope_before=_slope_dict(before),
        execution_slope_after=_slope_dict(after_exec),
    )
    consolidation = bool(
        drop_before > config.min_drop_sigmas * sigma
        and drop_before > config.min_relative_drop * abs(start)
        and before.falls
        and share >= config.min_share_before
    )
    absent = not consolidation or k < config.absent_frac * ye.size
    evidence["consolidation"] = consolidation and not absent
    if not absent:
        sem, acc = after(sem_name, turn), after(acc_name, turn)
        _put(evidence, "after_turn", sem_name, sem, acc_name, acc)
        explores = _explores(sem, acc)
        if explores:
            return PhaseResult(turn_step, "two_phase", evidence, signals)
        if _stalls(sem, acc, float(x[-1] - x[turn]), config):
            return PhaseResult(turn_step, "consolidation_stall", evidence, signals)
        evidence["reason"] = (
            "consolidation found, but the post-turn trend is neither a clear rise nor a stall"
        )
        return PhaseResult(turn_step, "inconclusive", evidence, signals)
    sem, acc = after(sem_name, 0), after(acc_name, 0)
    _put(evidence, "whole_run", sem_name, sem, acc_name, acc)
    if _explores(sem, acc):
        return PhaseResult(int(x[0]), "exploration_only", evidence, signals)
    evidence["reason"] = (
        "no significant consolidation and no significant rise of semantic entropy and accuracy"
    )
    return PhaseResult(None, "inconclusive", evidence, signals)


def _explores(sem: Slope | None, acc: Slope | None) -> bool:
    """Exploration drives gains: semantic entropy rises, and accuracy too when logged."""
    return sem is not None and sem.rises and (acc is None or acc.rises)


def _stalls(sem: Slope | None, acc: Slope | None, span: float, config: PhaseConfig) -> bool:
    """No pivot after the consolidation: nothing rises significantly, and the lead series
    (accuracy, else semantic entropy) gains less than the tolerance even at its upper
    confidence bound (a significant decline always qualifies)."""
    if any(s is not None and s.rises for s in (sem, acc)):
        return False
    lead, tol = (
        (acc, config.stall_max_accuracy_gain)
        if acc is not None
        else (sem, config.stall_max_semantic_gain)
    )
    if lead is None or not math.isfinite(lead.slope):
        return False
    return lead.high * span < tol


def _put(
    evidence: dict,
    where: str,
    sem_name: str | None,
    sem: Slope | None,
    acc_name: str | None,
    acc: Slope | None,
) -> None:
    if sem is not None:
        evidence[f"semantic_entropy_slope_{where}"] = _slope_dict(sem)
    if acc is not None:
        evidence[f"accuracy_slope_{where}"] = _slope_dict(acc)
    if sem is None:
        evidence.setdefault("missing", []).append("semantic/entropy (no texts or no lexicon)")
    if acc is None:
        evidence.setdefault("missing", []).append("accuracy (no rewards logged)")


def _text_only(
    x, data, sem_name, acc_name, window, min_size, config, evidence, signals
) -> PhaseResult:
    """No execution series: phase 1 cannot be measured; report where exploration starts."""
    evidence["reason"] = "no execution-token series (text-only data): phase 1 cannot be measured"
    evidence.setdefault("missing", []).append(
        "execution entropy/perplexity (needs per-token logp or entropy)"
    )
    if sem_name is None:
        return PhaseResult(None, "inconclusive", evidence, signals)
    ys = data[sem_name]
    ok = np.isfinite(ys)
    smooth = running_median(ys[ok], window)
    k = min(max(knee_index(smooth, min_size), 1), smooth.size - 1)
    onset = int(x[ok][k])
    i = int(np.searchsorted(x, onset))
    sem = ols_slope(x[i:], ys[i:], config.confidence)
    acc = None if acc_name is None else ols_slope(x[i:], data[acc_name][i:], config.confidence)
    evidence["exploration_onset_step"] = onset
    _put(evidence, "after_onset", sem_name, sem, acc_name, acc)
    return PhaseResult(onset if _explores(sem, acc) else None, "inconclusive", evidence, signals)
