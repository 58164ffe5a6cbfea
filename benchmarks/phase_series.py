"""Synthetic training-dynamics series with a known turn, for bench_phases.py and the tests.

Each case is what `hicra analyze` hands the phase detector: logged steps and per-step series
(execution signal `entropy/execution`, exploration signal `semantic/entropy` or the
task-provided `task/strategy_entropy`, `accuracy`, from round 7 on the mean response length
`length/mean` or `response_length/mean`), plus the truth. The truth is the same
quantity the detector estimates (docs/phases.md, "What the turn is"):

- consolidation_end: the step by which three quarters (END_SHARE = 1 - MAX_DRIFT) of the
  execution signal's fall are done (`meta["fall_window_end"]` keeps the end of its
  transition window, the corner after which the signal is flat or drifts slowly);
- exploration_onset: the step where the exploration signal's rise STARTS (before it the
  signal is flat or drifts slowly).

A transition over [a, b] follows a shape h (fraction of the change done at relative time u):
main shapes "linear", "log" (fast then slow, log(1 + k u) / log(1 + k), k in [3, 10]),
"sigmoid" (logistic truncated at +-s, s in [2, 3], rescaled to [0, 1]) and "step" (the whole
change at one step); held-out shapes "exp" ((1 - e^(-k u)) / (1 - e^(-k)), k in [1, 2.5]) and
"broken" (a line with a slope break: 70% of the change in the first 40% of the window);
round-3 held-out shapes (`ROUND3_SHAPES`, drawn after the end of consolidation was redefined)
"power" (1 - (1 - u)^p, p in [1.3, 2.5]: no corner at its end), "hyper" ((1 + k) u / (1 + k u),
k in [2, 8]) and "segments" (three line segments, each 0.3-0.7 times as steep as the one
before, random widths); round-4 shapes "tanh", "gompertz" and "twostage" (a ramp, a pause,
a second ramp); round-5 shapes "stages" (two smooth stages of any proportions with a pause
between them), "hill" (an S curve with a slow start) and "root" (u^p, p < 1). The drift
around a transition is kept slow: at most half the transition's slope at that edge, and at
most 15-20% of its size in total.

Noise is set by a signal-to-noise ratio snr = |size of the change| / (sd of one logged point),
log-uniform over `SNR_RANGES`, the range measured on real runs (bench_phases.py documents
where the numbers come from); held-out cases use AR(1) (phi 0.2-0.5) or Student-t noise
instead of Gaussian, round 3 Laplace or AR(1) with phi 0.5-0.7. Irregular logging:
log_every 2/5/10, a gap, points missing in one series, a resumed stretch logged twice,
single-step spikes.

    >>> case = make_case(0)
    >>> all(np.asarray(v).size == case.steps.size for v in case.series.values())
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.signal import lfilter

from hicra.dynamics.phases_fit import MAX_DRIFT

FAMILIES = {  # family -> share of the cases
    "two_phase": 0.34,
    "consolidation_stall": 0.10,
    "exploration_only": 0.16,
    "noise": 0.14,
    "monotone": 0.14,
    "sparse": 0.12,
}
MAIN_SHAPES = ("linear", "log", "sigmoid", "step")
HELDOUT_SHAPES = ("exp", "broken")
ROUND3_SHAPES = ("power", "hyper", "segments")
"""Held-out round 3 (drawn after the end of consolidation was redefined, never tuned on):
other concave and segmented shapes, with other noise (Laplace, or AR(1) with phi 0.5-0.7)."""
ROUND4_SHAPES = ("tanh", "gompertz", "twostage")
"""Held-out round 4 (drawn after the onset's candidate grid and AR(1) likelihood were changed,
never used for a choice): a concave tanh, an asymmetric S (Gompertz) and a change in two
stages with a pause between them, with other noise (Gaussian whose sd drifts over the run,
or AR(1) with phi 0.3-0.6 and Laplace innovations)."""
ROUND5_SHAPES = ("stages", "hill", "root")
"""Held-out round 5 (drawn after the fitter gained its two-stage shape, never used for a
choice): changes in two smooth stages of any proportions and pause, a Hill S curve (slow start)
and a root (u^p, p < 1: steepest at the start), with other noise (Student-t with 4 degrees of
freedom, or AR(1) with phi 0.1-0.4 whose sd grows or shrinks by up to 3x over the run)."""
ROUND6_SHAPES = (*MAIN_SHAPES, *HELDOUT_SHAPES, *ROUND3_SHAPES, *ROUND4_SHAPES, *ROUND5_SHAPES)
"""Held-out round 6 (drawn after the onset became the one shared by the exploration signal and
accuracy, never used for a choice): any shape of the rounds before, and an accuracy that
follows the exploration signal only loosely, the assumption that change leans on. Accuracy's
phase-2 rise gets its own shape, its own window and an onset 5% of the run before to 10% after
the exploration's (truth: the exploration's), and consolidation alone may raise it by up to
half of its phase-2 gain. Noise: accuracy's is binomial-like (its sd follows sqrt(p (1 - p)) of
the current accuracy), the other series' Gaussian or AR(1) (phi 0.2-0.6) with 2% of the points
spikes of 4-8 sd. Round 7 (`heldout7`, drawn after the onset became the one shared with
response length as well) is round 6 with a response-length series that follows the
exploration loosely (`_length`). Round 8 (`heldout8`, drawn after the companions' onsets
were given a slack) is round 7 with length's onset up to 10% of the run after the
exploration's as well as before."""
END_SHARE = 1.0 - MAX_DRIFT
"""The end of consolidation is the step by which this share of the fall is done
(docs/phases.md, "What the turn is")."""
SNR_RANGES = {"execution": (4.0, 60.0), "exploration": (2.5, 60.0), "accuracy": (1.5, 40.0)}
"""Log-uniform range of |change| / noise sd of one logged point, per signal."""
HELDOUT_SEED_OFFSET = 1_000_000
"""Held-out round r (1, 2, ...) draws its cases from seeds r * HELDOUT_SEED_OFFSET + seed. Round 1
was run once against the first version of the detector; when the method changed after its
failures had been studied, round 2 (fresh seeds, same held-out shapes and noise) was drawn to
measure the changed detector on cases nobody had looked at. Round 2's misses were studied in
turn (the end of gradual falls) and the end of consolidation redefined; round 3 (fresh seeds,
ROUND3_SHAPES, other noise) measures that. Round 3's onset misses were studied in turn (the
onset's candidates and its noise model changed); round 4 (fresh seeds, ROUND4_SHAPES, other
noise) measures that. Round 4's misses (changes in two stages) were studied in turn and the
fitter gained a two-stage shape; round 5 (fresh seeds, ROUND5_SHAPES, other noise) measures
that. Round 5's onset misses (low SNR) led to the onset shared with accuracy's rise; round 6
(fresh seeds, ROUND6_SHAPES, accuracy loosely coupled, other noise) measures that. Round 6's
onset misses (low SNR, accuracy on its own schedule) led to the onset shared with response
length too; round 7 (fresh seeds, round 6's shapes and noise, a length series that follows
the exploration loosely) measures that. Round 7's onset coverage (89.7%) led to the slack
of the companions' onsets; round 8 (fresh seeds, round 7 with length's onset 10% of the run
before to 10% after the exploration's) measures that."""


@dataclass
class Case:
    """One synthetic run: steps (S,) (may repeat), series name -> (S,) (NaN = not logged)."""

    seed: int
    family: str
    steps: np.ndarray
    series: dict[str, np.ndarray]
    length: int
    consolidation_end: float | None = None
    exploration_onset: float | None = None
    text_only: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def shape(name: str, rng: np.random.Generator):
    """(h, edge slope at u=0, edge slope at u=1, label) of a named shape with drawn parameters."""
    if name == "linear":
        return (lambda u: u), 1.0, 1.0, "linear"
    if name == "log":
        k = rng.uniform(3, 10)
        return (
            (lambda u: np.log1p(k * u) / math.log1p(k)),
            k / math.log1p(k),
            k / ((1 + k) * math.log1p(k)),
            f"log{k:.1f}",
        )
    if name == "sigmoid":
        s = rng.uniform(2, 3)
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        lo, hi = sig(-s), sig(s)
        edge = 2 * s * hi * (1 - hi) / (hi - lo)
        return (lambda u: (sig(s * (2 * u - 1)) - lo) / (hi - lo)), edge, edge, f"sigmoid{s:.1f}"
    if name == "exp":
        k = rng.uniform(1, 2.5)
        c = 1 - math.exp(-k)
        return (lambda u: (1 - np.exp(-k * u)) / c), k / c, k * math.exp(-k) / c, f"exp{k:.1f}"
    if name == "broken":
        return (
            (lambda u: np.where(u < 0.4, 0.7 * u / 0.4, 0.7 + 0.3 * (u - 0.4) / 0.6)),
            1.75,
            0.5,
            "broken",
        )
    if name == "power":  # concave with no corner at its end: the slope falls to 0
        p = rng.uniform(1.3, 2.5)
        return (lambda u: 1 - (1 - u) ** p), p, 0.0, f"power{p:.1f}"
    if name == "hyper":  # hyperbolic saturation, end slope 1 / (1 + k) of the mean
        k = rng.uniform(2, 8)
        return (lambda u: (1 + k) * u / (1 + k * u)), 1 + k, 1 / (1 + k), f"hyper{k:.1f}"
    if name == "segments":  # three line segments, each slower than the one before
        widths = rng.dirichlet([2.0, 2.0, 2.0])
        r = rng.uniform(0.3, 0.7)
        slopes = np.array([1.0, r, r * r])
        slopes /= float(slopes @ widths)  # mean slope 1
        knots = np.concatenate([[0.0], np.cumsum(widths)])
        done = np.concatenate([[0.0], np.cumsum(slopes * widths)])
        return (
            (lambda u: np.interp(u, knots, done)),
            float(slopes[0]),
            float(slopes[-1]),
            f"segments{r:.1f}",
        )
    if name == "tanh":  # concave, end slope > 0
        k = rng.uniform(1, 3)
        th = math.tanh(k)
        return (lambda u: np.tanh(k * u) / th), k / th, k * (1 - th * th) / th, f"tanh{k:.1f}"
    if name == "gompertz":  # asymmetric S: slow start, long approach
        beta, gam = rng.uniform(2, 5), rng.uniform(3, 6)
        f = lambda u: np.exp(-beta * np.exp(-gam * u))  # noqa: E731
        f0, f1 = float(f(0.0)), float(f(1.0))
        dfu = lambda u: beta * gam * math.exp(-gam * u) * float(f(u))  # noqa: E731
        return (
            (lambda u: (f(u) - f0) / (f1 - f0)),
            dfu(0.0) / (f1 - f0),
            dfu(1.0) / (f1 - f0),
            f"gompertz{beta:.1f}_{gam:.1f}",
        )
    if name == "twostage":  # a ramp, a pause, a second ramp
        q, w1, v = rng.uniform(0.4, 0.7), rng.uniform(0.2, 0.4), rng.uniform(0.5, 0.7)
        return (
            (lambda u: np.interp(u, [0.0, w1, v, 1.0], [0.0, q, q, 1.0])),
            q / w1,
            (1 - q) / (1 - v),
            f"twostage{q:.1f}",
        )
    if name == "stages":  # two smooth stages of any proportions, a pause between them
        q, w1 = rng.uniform(0.25, 0.75), rng.uniform(0.15, 0.45)
        v = min(w1 + rng.uniform(0.1, 0.35), 0.85)
        s = rng.uniform(1.0, 2.0)
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        lo, hi = sig(-s), sig(s)
        ramp = lambda x: (sig(s * (2 * np.clip(x, 0.0, 1.0) - 1)) - lo) / (hi - lo)  # noqa: E731
        edge = 2 * s * hi * (1 - hi) / (hi - lo)
        return (
            (lambda u: q * ramp(u / w1) + (1 - q) * ramp((u - v) / (1 - v))),
            q / w1 * edge,
            (1 - q) / (1 - v) * edge,
            f"stages{q:.1f}",
        )
    if name == "hill":  # an S curve u^n / (c^n + u^n): slow start, rescaled to end at 1
        n, c = rng.uniform(1.5, 3.0), rng.uniform(0.15, 0.4)
        end = 1 / (c**n + 1)
        return (
            (lambda u: u**n / (c**n + u**n) / end),
            0.0,
            n * c**n / (c**n + 1) ** 2 / end,
            f"hill{n:.1f}_{c:.2f}",
        )
    if name == "root":  # u^p, p < 1: steepest at the start
        p = rng.uniform(0.3, 0.7)
        return (lambda u: u**p), math.inf, p, f"root{p:.1f}"
    if name == "step":
        return None, math.inf, math.inf, "step"
    raise ValueError(name)


def done_at(h, share: float) -> float:
    """Relative time u at which the shape h has done `share` of its change (a step: 1)."""
    if h is None:
        return 1.0
    u = np.linspace(0.0, 1.0, 20001)
    return float(np.interp(share, h(u), u))


def progress(t: np.ndarray, a: float, b: float, h) -> np.ndarray:
    """Fraction of a transition over [a, b] done at steps t (a step: all of it at b)."""
    if h is None or b <= a:
        return (t >= b).astype(np.float64)
    return h(np.clip((t - a) / (b - a), 0.0, 1.0))


def _ar1(rng, sd, phi, innovations):
    """AR(1) x[i] = phi x[i-1] + innovations[i], started from a N(0, sd) draw (marginal sd = sd
    when the innovations have sd sd * sqrt(1 - phi^2))."""
    x = innovations.copy()
    x[0] = rng.normal(0, sd)
    return lfilter([1.0], [1.0, -phi], x)


def _noise(rng, n, sd, heldout):
    if not heldout or sd == 0:
        return rng.normal(0, sd, n)
    if heldout >= 6:
        if rng.random() < 0.5:
            e = rng.normal(0, sd, n)
        else:
            phi = rng.uniform(0.2, 0.6)
            e = _ar1(rng, sd, phi, rng.normal(0, sd * math.sqrt(1 - phi**2), n))
        spikes = rng.random(n) < 0.02
        return e + spikes * rng.choice([-1.0, 1.0], n) * rng.uniform(4, 8, n) * sd
    if heldout >= 5:
        if rng.random() < 0.5:  # Student-t, 4 degrees of freedom, sd = sd
            return rng.standard_t(4, n) * sd / math.sqrt(2.0)
        phi = rng.uniform(0.1, 0.4)  # AR(1), sd growing or shrinking by up to 3x, RMS sd = sd
        scale = np.linspace(1.0, math.exp(rng.uniform(-1.1, 1.1)), n)
        e = rng.normal(0, sd * math.sqrt(1 - phi**2), n)
        return _ar1(rng, sd, phi, e) * scale / math.sqrt(np.mean(scale**2))
    if heldout >= 4:
        if rng.random() < 0.5:  # Gaussian whose sd drifts over the run (RMS sd = sd)
            scale = np.exp(rng.uniform(-0.7, 0.7) * np.linspace(-1.0, 1.0, n))
            return rng.normal(0, 1.0, n) * sd * scale / math.sqrt(np.mean(scale**2))
        phi = rng.uniform(0.3, 0.6)  # AR(1) with Laplace innovations, marginal sd = sd
        e = rng.laplace(0, sd * math.sqrt(1 - phi**2) / math.sqrt(2), n)
        return _ar1(rng, sd, phi, e)
    if heldout >= 3 and rng.random() < 0.5:
        return rng.laplace(0, sd / math.sqrt(2), n)  # Laplace, sd = sd
    if rng.random() < 0.5:  # AR(1), marginal sd = sd
        phi = rng.uniform(0.5, 0.7) if heldout >= 3 else rng.uniform(0.2, 0.5)
        e = rng.normal(0, sd * math.sqrt(1 - phi**2), n)
        return _ar1(rng, sd, phi, e)
    return rng.standard_t(3, n) * sd / math.sqrt(3.0)  # Student-t, 3 dof, sd = sd


def _snr(rng, signal):
    lo, hi = SNR_RANGES[signal]
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _fall(t, rng, T, end, shapes, drift_max=0.15):
    """Execution signal falling from the first step to `end`, then a slow drift. Returns
    (series, drop, shape label, the step by which END_SHARE of the fall is done)."""
    h, _, d1, label = shape(rng.choice(shapes), rng)
    level = math.exp(rng.uniform(math.log(0.05), math.log(2.0)))
    drop = rng.uniform(0.1, 0.6) * level
    y = level - drop * progress(t, 1.0, end, h)
    rest = max(T - end, 1.0)
    slope = rng.uniform(-drift_max, drift_max) * drop / rest
    if math.isfinite(d1):
        slope = float(
            np.clip(slope, -0.5 * d1 * drop / max(end - 1, 1), 0.5 * d1 * drop / max(end - 1, 1))
        )
    done = 1.0 + done_at(h, END_SHARE) * (end - 1.0)
    return y + slope * np.maximum(t - end, 0), drop, label, done


def _rise(t, rng, T, onset, shapes, window=None):
    """Exploration signal flat (slow drift) until `onset`, then rising over a window."""
    h, d0, _, label = shape(rng.choice(shapes), rng)
    base = rng.uniform(0.5, 3.0)
    size = rng.uniform(0.1, 0.5) * base
    width = window if window is not None else rng.uniform(0.3, 1.0) * max(T - onset, 1.0)
    if h is None:  # a step rises at the onset
        width = 0.0
    y = base + size * progress(t, onset, onset + width, h)
    if onset > 1:
        slope = rng.uniform(-0.2, 0.1) * size / (onset - 1)
        if math.isfinite(d0):
            cap = 0.5 * d0 * size / max(width, 1.0)
            slope = float(np.clip(slope, -cap, cap))
        y = y + slope * np.minimum(t - onset, 0)
    return y, size, label, (onset, onset + width, h)


def _accuracy_noise(rng, acc, n, sd, heldout):
    """(n,) up to round 5 `_noise`; round 6: binomial-like, its sd following sqrt(p (1 - p)) of
    the current accuracy `acc` (a scalar or (n,)), RMS sd = sd."""
    if heldout < 6:
        return _noise(rng, n, sd, heldout)
    spread = np.sqrt(np.clip(np.broadcast_to(acc * (1 - acc), (n,)), 0.01, None))
    return rng.normal(0, 1, n) * spread / math.sqrt(np.mean(spread**2)) * sd


def _accuracy_rise(t, rng, T, window, shapes, heldout, meta):
    """(T,) 0 -> 1: accuracy's phase-2 rise. Up to round 5 it follows the exploration signal's
    window (a, b) and shape h; in round 6 it has its own shape, width and a shifted onset."""
    a, b, h = window
    if heldout < 6:
        return progress(t, a, b, h)
    h_acc, _, _, meta["accuracy_shape"] = shape(rng.choice(shapes), rng)
    start = float(np.clip(a + rng.uniform(-0.05, 0.10) * T, 1.0, 0.95 * T))
    width = 0.0 if h_acc is None else rng.uniform(0.3, 1.0) * max(T - start, 1.0)
    meta["accuracy_onset"] = round(start, 1)
    return progress(t, start, start + width, h_acc)


def make_case(
    seed: int, family: str | None = None, heldout: int = 0, length: bool | None = None
) -> Case:
    """The synthetic run of `seed` (family drawn from FAMILIES unless given). heldout: 0 (or
    False) for the dev set, the held-out round (1 or True, 2, ...) for held-out cases.
    length: add a response-length series (`_length`; default: from round 7 on). It is drawn
    from its own generator, so every other series of the case is the same with or without it."""
    heldout = int(heldout)
    if length is None:
        length = heldout >= 7
    rng = np.random.default_rng(seed + HELDOUT_SEED_OFFSET * heldout)
    if family is None:
        names = list(FAMILIES)
        family = str(rng.choice(names, p=np.array([FAMILIES[n] for n in names])))
    shapes = (
        ROUND6_SHAPES
        if heldout >= 6
        else ROUND5_SHAPES
        if heldout >= 5
        else ROUND4_SHAPES
        if heldout >= 4
        else ROUND3_SHAPES
        if heldout >= 3
        else HELDOUT_SHAPES
        if heldout
        else MAIN_SHAPES
    )
    if family == "sparse":
        return _sparse(seed, rng)
    T = int(round(math.exp(rng.uniform(math.log(50), math.log(1000)))))
    t = np.arange(1, T + 1, dtype=np.float64)
    meta: dict[str, Any] = {"family": family}
    text_only = family != "consolidation_stall" and rng.random() < 0.3
    end = onset = None
    flat = lambda base: np.full(T, base)  # noqa: E731
    ex_level = math.exp(rng.uniform(math.log(0.05), math.log(2.0)))
    ex_size = (
        rng.uniform(0.1, 0.6) * ex_level
    )  # a notional change size: the noise scale of flat series
    acc0 = rng.uniform(0.05, 0.4)
    acc_gain = rng.uniform(0.1, 0.4)
    if family in ("two_phase", "consolidation_stall"):
        end = float(rng.uniform(0.05, 0.8) * T)
        ex, ex_size, meta["fall_shape"], done = _fall(t, rng, T, end, shapes)
        meta["fall_window_end"] = end
        consolidation_gain = rng.uniform(0.0, 0.5 if heldout >= 6 else 0.3) * acc_gain
        if family == "two_phase":
            onset = float(np.clip(end + rng.uniform(-0.05, 0.15) * T, 0.03 * T, 0.85 * T))
            xp, xp_size, meta["rise_shape"], (a, b, h) = _rise(t, rng, T, onset, shapes)
            acc = (
                acc0
                + consolidation_gain
                * progress(t, 1.0, end, None if meta["fall_shape"] == "step" else (lambda u: u))
                + acc_gain * _accuracy_rise(t, rng, T, (a, b, h), shapes, heldout, meta)
            )
        else:
            xp_size = rng.uniform(0.1, 0.5) * 2.0
            xp = 2.0 - rng.uniform(0.0, 0.3) * xp_size * np.maximum(t - end, 0) / max(T - end, 1)
            acc = (
                acc0
                + consolidation_gain * np.minimum(t / end, 1.0)
                - rng.uniform(0, 0.05) * np.maximum(t - end, 0) / max(T - end, 1)
            )
            acc_gain = max(consolidation_gain, 0.05)
    elif family == "exploration_only":
        onset = 1.0 if rng.random() < 0.3 else float(rng.uniform(0.05, 0.6) * T)
        ex = ex_level + rng.uniform(-0.05, 0.05) * ex_level * t / T
        # a step at the first step would be no rise at all
        rise_shapes = tuple(s for s in shapes if s != "step") if onset == 1.0 else shapes
        xp, xp_size, meta["rise_shape"], (a, b, h) = _rise(t, rng, T, onset, rise_shapes)
        acc = acc0 + acc_gain * _accuracy_rise(t, rng, T, (a, b, h), rise_shapes, heldout, meta)
    elif family == "noise":
        ex, xp, acc = flat(ex_level), flat(2.0), flat(acc0)
        xp_size = rng.uniform(0.1, 0.5) * 2.0
    elif family == "monotone":
        variant = str(rng.choice(["fall", "rise", "both"]))
        meta["variant"] = variant
        ex = ex_level - (ex_size * (t - 1) / (T - 1) if variant in ("fall", "both") else 0.0)
        xp_size = rng.uniform(0.1, 0.5) * 2.0
        rising = variant in ("rise", "both")
        xp = 2.0 + (xp_size * (t - 1) / (T - 1) if rising else 0.0)
        acc = acc0 + (acc_gain * (t - 1) / (T - 1) if rising else 0.0)
        onset = 1.0 if rising else None
    else:
        raise ValueError(f"unknown family {family!r}")
    snr = {k: _snr(rng, k) for k in SNR_RANGES}
    meta["snr"] = {k: round(v, 2) for k, v in snr.items()}
    series = {
        "entropy/execution": ex + _noise(rng, T, ex_size / snr["execution"], heldout),
        "exploration": xp + _noise(rng, T, xp_size / snr["exploration"], heldout),
        "accuracy": acc + _accuracy_noise(rng, acc, T, acc_gain / snr["accuracy"], heldout),
    }
    steps, series = _irregular(rng, t, series, meta)
    xp_name = "task/strategy_entropy" if rng.random() < 0.3 else "semantic/entropy"
    series[xp_name] = series.pop("exploration")
    if length:
        name, series[name] = _length(seed, heldout, t, steps, family, onset, shapes, meta)
    if text_only:
        del series["entropy/execution"]
        end = None
    elif end is not None:
        end = done
    meta.update(text_only=text_only, exploration_series=xp_name, heldout=heldout)
    return Case(seed, family, steps, series, T, end, onset, text_only, meta)


LENGTH_SNR = (3.0, 100.0)
"""Log-uniform range of the length series' |phase-2 gain| / noise sd (measured: 25 on the
countdown world's runs, 16 x 8 responses a step; large-batch runs are smoother)."""


def _length(seed, heldout, t, steps, family, onset, shapes, meta):
    """(name, (S,) series): mean response length at the logged `steps`, from its own generator.

    The paper's phase 2 makes responses longer along with strategic diversity and accuracy.
    With the dev generator (`--set dev-length`, for screening) length rises from the
    exploration's onset with its own shape and window. From round 7 on it follows the
    exploration loosely: its onset 10% of the run before to 5% after the exploration's
    (longer responses can come first: on the countdown world backtracking lengthens them
    before the strategies diversify), from round 8 on up to 10% after it too; in 20% of the
    runs it does not rise in phase 2 at all; during a consolidation it may fall or rise by up
    to 30% of its phase-2 gain; 20% of its points may be missing."""
    rng = np.random.default_rng([seed, heldout, 7])
    T = t.size
    base = rng.uniform(50.0, 800.0)
    gain = rng.uniform(0.15, 1.0) * base
    loose = heldout >= 7
    y = np.full(T, base)
    rises = onset is not None and family in ("two_phase", "exploration_only")
    if rises and not (loose and rng.random() < 0.2):
        start = float(onset)
        if loose:
            late = 0.05 if heldout == 7 else 0.10
            start = float(np.clip(start + rng.uniform(-0.10, late) * T, 1.0, 0.95 * T))
        options = tuple(s for s in shapes if s != "step") if start <= 1.0 else shapes
        h, _, _, meta["length_shape"] = shape(rng.choice(options), rng)
        width = 0.0 if h is None else rng.uniform(0.3, 1.0) * max(T - start, 1.0)
        y = y + gain * progress(t, start, start + width, h)
        meta["length_onset"] = round(start, 1)
    elif family == "monotone" and meta.get("variant") in ("rise", "both"):
        y = y + gain * (t - 1) / (T - 1)
    end = meta.get("fall_window_end")
    if loose and end is not None:
        y = y + rng.uniform(-0.3, 0.3) * gain * np.minimum(t / end, 1.0)
    sd = gain / math.exp(rng.uniform(*np.log(LENGTH_SNR)))
    meta["snr"]["length"] = round(gain / sd, 2)
    idx = steps.astype(int) - 1
    clean = y[idx]
    out = clean + _noise(rng, T, sd, heldout)[idx]
    dup = np.concatenate([[False], idx[1:] == idx[:-1]])
    out[dup] = clean[dup] + rng.normal(0, sd, dup.sum())  # a fresh sample, not a copy
    if rng.random() < 0.2:
        out[rng.random(out.size) < rng.uniform(0.1, 0.3)] = np.nan
        meta.setdefault("missing", []).append("length")
    return ("length/mean" if rng.random() < 0.7 else "response_length/mean"), out


def _irregular(rng, t, series, meta):
    """Log every k steps, cut a gap, drop points of single series, log a resumed stretch
    twice, add single-step spikes. Returns (steps (S,), series name -> (S,))."""
    T = t.size
    every = int(rng.choice([1, 2, 5, 10], p=[0.55, 0.15, 0.15, 0.15]))
    while every > 1 and T / every < 25:
        every = {10: 5, 5: 2, 2: 1}[every]
    keep = (t % every == 0) | (t == 1) | (t == T)
    meta["log_every"] = every
    if rng.random() < 0.2:
        width = int(rng.uniform(0.05, 0.15) * T)
        start = int(rng.integers(1, max(T - width, 2)))
        keep &= ~((t >= start) & (t < start + width))
        meta["gap"] = [start, start + width]
    idx = np.nonzero(keep)[0]
    if rng.random() < 0.1:  # resumed from an earlier checkpoint: a stretch logged twice
        width = max(2, int(rng.uniform(0.03, 0.1) * idx.size))
        start = int(rng.integers(0, max(idx.size - width, 1)))
        idx = np.sort(np.concatenate([idx, idx[start : start + width]]), kind="stable")
        meta["resumed"] = [int(t[idx[start]]), width]
    out = {}
    for name, y in series.items():
        y = y[idx].copy()
        dup = np.concatenate([[False], idx[1:] == idx[:-1]])
        sd = float(np.std(np.diff(y[~dup]))) / math.sqrt(2) if (~dup).sum() > 2 else 0.0
        y[dup] += rng.normal(0, sd, dup.sum())  # a fresh sample, not a copy
        if rng.random() < 0.2:
            drop = rng.random(y.size) < rng.uniform(0.1, 0.3)
            y[drop] = np.nan
            meta.setdefault("missing", []).append(name)
        if rng.random() < 0.3:
            spikes = rng.random(y.size) < 0.01
            y[spikes] += rng.choice([-1, 1], spikes.sum()) * rng.uniform(5, 10, spikes.sum()) * sd
        out[name] = y
    return t[idx], out


def _sparse(seed, rng) -> Case:
    """Too few logged steps for any turn (3-9): the detector must say so."""
    n = int(rng.integers(3, 10))
    T = int(rng.integers(n, 1000))
    steps = np.unique(np.linspace(1, T, n).round())
    m = steps.size
    series = {
        "entropy/execution": 1 - 0.3 * steps / T + rng.normal(0, 0.01, m),
        "semantic/entropy": 2 + 0.3 * steps / T + rng.normal(0, 0.02, m),
        "accuracy": 0.2 + 0.2 * steps / T + rng.normal(0, 0.02, m),
    }
    return Case(
        seed, "sparse", steps, series, T, None, None, False, {"family": "sparse", "points": m}
    )
