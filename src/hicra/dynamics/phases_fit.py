"""Transition fits: where the monotone change of a noisy per-step series ends (a fall) or
starts (a rise), with a posterior interval.

A *transition* takes a series from one level to another over a window [a, b] with a shape
h (the fraction of the change done at relative time u = (t - a) / (b - a), h(0)=0, h(1)=1):

    y(t) = c + D * g(t) + s * slow(t) + noise,   g(t) = 0 (t <= a), h(u) (a < t < b), 1 (t >= b)

- fall (consolidation of the execution signal): a = the first step; the estimand is the END
  b; slow(t) = (t - b)_+ is the drift after it (phase 2 may keep moving the signal slowly).
- rise (onset of exploration): the estimand is the START a; slow(t) = (t - a)_- is the drift
  before it; b (a plateau, or the end of the run) is a nuisance.

What makes the edge a corner, and so an identifiable step, is that the drift is *slow*:
|s| <= rho * |D| * min(h'(edge), 1) / (b - a) (at most rho = half as steep as the transition at
that edge, and as its mean slope: a fast-then-slow rise is steep at its start, and half of
that slope is no slow drift) and |s| * (span of the slow segment) <= max_drift * |D| (after a
fall ends, or before a rise starts, the series moves by at most a quarter of the change: a
fall that goes on for another half of its size at a third of its rate has not ended).
The shapes (`SHAPES`: linear, fast-then-slow `log`, slow-then-fast `rlog`, truncated
`sigmoid`, a change in two stages with a pause between them `twostage`, `step`) all keep at
least ~30% of their mean slope at both edges; a change that approaches its level
asymptotically has no corner, and what is estimated then is the corner of the best-fitting
shape of this family (docs/phases.md, "What the turn is").

Because the drift may move the series by up to `max_drift` of the change, the last
`max_drift` of a change that slows down gradually cannot be told apart from the drift: where
such a fall's corner lies is soft. The step by which a share p of the change is done,
a + h^-1(p) (b - a), is not, for p <= 1 - max_drift: each candidate gives it, and the same
posterior gives its median and interval (`done_step`, p = `done_share` = 1 - max_drift by
default). For a fall it is the end of consolidation that the detector reports.

Each candidate (edge, nuisance edge, shape) is fitted by weighted least squares in closed
form (the slow-drift bound by projection onto s = +-kappa * D when the free fit breaks it).
Its weight is the profile likelihood exp(-(m / 2f) log RSS) on the m binned points, where
f >= 1 inflates for residual autocorrelation at the best fit (misspecified shapes and
correlated noise leave correlated residuals), so that the interval widens instead of lying.
`log_bf` compares the transition with a straight line (BIC penalty for the extra
parameter), the evidence that there is a corner at all. The posterior of the edge (uniform
prior over candidates), averaged with the straight line at 1:1 prior odds (a line is a fall
ending at the last step, a rise starting at the first), gives the point estimate (its median,
the estimate with the least expected absolute error) and the equal-tailed interval.

Why by hand: `ruptures` gives change points without intervals and only for its piecewise
costs (linear, constant), which are biased for log/sigmoid shapes; a grid posterior over a
shape family with the linear parameters solved in closed form is exact, fast (a few
thousand 3-column least squares per series, vectorised) and gives the interval for free.

    >>> import numpy as np
    >>> t = np.arange(100.0)
    >>> y = np.where(t < 30, 1 - t / 30, 0.0) + np.random.default_rng(0).normal(0, 0.02, 100)
    >>> fit = fit_transition(t, y, "fall")
    >>> abs(fit.step - 30) <= 2, fit.low <= 30 <= fit.high, fit.change < 0
    (True, True, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

MIN_POINTS = 10
"""Fewer finite points than this: no fit (the caller says why)."""
MAX_DRIFT = 0.25
"""The slow drift after a fall's end (before a rise's start) moves the series by at most this
share of the change (docs/phases.md, "What the turn is")."""


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _log_shape(k: float) -> tuple[Callable, float, float]:
    return (
        (lambda u: np.log1p(k * u) / math.log1p(k)),
        k / math.log1p(k),
        k / ((1 + k) * math.log1p(k)),
    )


def _rlog_shape(k: float) -> tuple[Callable, float, float]:
    h, d0, d1 = _log_shape(k)
    return (lambda u: 1.0 - h(1.0 - u)), d1, d0


def _sigmoid_shape(a: float) -> tuple[Callable, float, float]:
    lo, hi = _sig(-a), _sig(a)
    edge = 2 * a * hi * (1 - hi) / (hi - lo)
    return (lambda u: (_sig(a * (2 * u - 1)) - lo) / (hi - lo)), edge, edge


def _twostage_shape() -> tuple[Callable, float, float]:
    """Half of the change over the first third of the window, a pause over the middle third,
    the other half over the last third."""
    knots, done = np.array([0.0, 1 / 3, 2 / 3, 1.0]), np.array([0.0, 0.5, 0.5, 1.0])
    return (lambda u: np.interp(u, knots, done)), 1.5, 1.5


SHAPES: dict[str, tuple[Callable, float, float]] = {
    "linear": (lambda u: u, 1.0, 1.0),
    **{f"log{k:g}": _log_shape(k) for k in (2.0, 6.0, 20.0)},
    **{f"rlog{k:g}": _rlog_shape(k) for k in (2.0, 6.0)},
    **{f"sigmoid{a:g}": _sigmoid_shape(a) for a in (1.5, 2.5, 3.2)},
    "twostage": _twostage_shape(),
}
"""name -> (h, h'(0), h'(1)): fraction of the change done at relative time u in [0, 1] and
its slope at the two edges (relative to the mean slope 1). "step" is added by the fitter: a
jump between two logged points. "twostage" is a change in two stages with a pause between
them (docs/phases.md, Method)."""


@dataclass
class TransitionFit:
    """One series' transition (docs/phases.md lists the fields as evidence).

    step: posterior median of the edge (fall: end, rise: start), in steps; low/high: the
    `level` equal-tailed interval; half_step/half_low/half_high: the same for the step by
    which half of the change is done (how fast the change went); done_step/done_low/
    done_high: the same for the step by which `done_share` of the change is done (for a
    fall, the end of consolidation that the detector reports: docs/phases.md);
    map_step/shape: the single best candidate; change: D at
    the best candidate (start-to-end change, series units) and change_se its standard error
    (inflated by f); log_bf: log Bayes factor (BIC) of the transition against a straight
    line; edge_mass: posterior mass of the edge at the far end of the run (a fall still going
    at the end, or a rise that has not started); noise: robust sigma of one logged point;
    inflation: f; points / bins: finite points used / bins fitted.
    """

    direction: str
    step: float
    low: float
    high: float
    half_step: float
    half_low: float
    half_high: float
    done_share: float
    done_step: float
    done_low: float
    done_high: float
    map_step: float
    shape: str
    change: float
    change_se: float
    log_bf: float
    edge_mass: float
    start_level: float
    noise: float
    inflation: float
    points: int
    bins: int
    posterior: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    """(steps, mass): the posterior of the edge over its candidate steps (summing to 1), the
    straight line's share at the first (rise) or last (fall) step; not part of `to_dict`."""

    def to_dict(self) -> dict:
        return {
            k: (round(v, 6) if isinstance(v, float) else v)
            for k, v in asdict(self).items()
            if k != "posterior"
        }


# ------------------------------------------------------------------------------ data prep
def running_median(y: np.ndarray, window: int) -> np.ndarray:
    """Centred running median (window shrinks at the edges); NaNs ignored.

    >>> running_median(np.array([1.0, 9.0, 1.0, 1.0]), 3).tolist()
    [5.0, 1.0, 1.0, 1.0]
    """
    half = window // 2
    padded = np.concatenate(
        [np.full(half, np.nan), np.asarray(y, np.float64), np.full(half, np.nan)]
    )
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)  # (S, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window gives NaN
        return np.nanmedian(windows, axis=1)


def noise_sigma(y: np.ndarray) -> float:
    """Robust noise level of one point: 1.4826 * MAD of first differences / sqrt(2)."""
    d = np.diff(y[np.isfinite(y)])
    if d.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def despike(y: np.ndarray, smooth: np.ndarray, limit: float = 4.0) -> np.ndarray:
    """y with residuals from its running median clipped at `limit` robust sigmas: single-step
    outliers lose their pull on least squares, while corners the median rounds off stay."""
    resid = y - smooth
    scale = 1.4826 * np.median(np.abs(resid - np.median(resid)))
    if not np.isfinite(scale) or scale == 0:
        return y.copy()
    return smooth + np.clip(resid, -limit * scale, limit * scale)


def bin_points(x: np.ndarray, y: np.ndarray, max_bins: int) -> tuple[np.ndarray, ...]:
    """(centres, means, counts, first step, last step) of y over at most `max_bins`
    equal-width bins of x (duplicate steps, e.g. a resumed run that logged a step twice, are
    averaged; empty bins dropped).

    >>> bin_points(np.array([1.0, 1.0, 2.0]), np.array([0.0, 2.0, 5.0]), 10)[1].tolist()
    [1.0, 5.0]
    """
    ux = np.unique(x)
    if ux.size <= max_bins:
        idx = np.searchsorted(ux, x)
    else:
        edges = np.linspace(x.min(), x.max(), max_bins + 1)
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max_bins - 1)
    counts = np.bincount(idx)
    keep = counts > 0
    centres = np.bincount(idx, weights=x)[keep] / counts[keep]
    means = np.bincount(idx, weights=y)[keep] / counts[keep]
    first = np.full(counts.size, np.inf)
    last = np.full(counts.size, -np.inf)
    np.minimum.at(first, idx, x)
    np.maximum.at(last, idx, x)
    return centres, means, counts[keep].astype(np.float64), first[keep], last[keep]


# ------------------------------------------------------------------------------ least squares
def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched weighted least squares. X: (J, m, p), y, w: (m,) -> (beta (J, p), RSS (J,),
    inverse Gram (J, p, p)). A tiny ridge keeps all-zero columns (a slow segment with no
    points) solvable with coefficient 0."""
    J, _, p = X.shape
    G = np.empty((J, p, p))
    for i in range(p):  # matrix-vector products: far faster than a 3-operand einsum
        for k in range(i, p):
            G[:, i, k] = G[:, k, i] = (X[:, :, i] * X[:, :, k]) @ w
    r = np.stack([X[:, :, i] @ (w * y) for i in range(p)], axis=1)
    G = G + 1e-9 * (np.einsum("jpp->j", G)[:, None, None] + 1e-12) * np.eye(p)
    inv = np.linalg.inv(G)
    beta = np.einsum("jpq,jq->jp", inv, r)
    rss = float(w @ (y * y)) - np.einsum("jp,jp->j", beta, r)
    return beta, np.maximum(rss, 1e-300), inv


def _done_at(h, shares: tuple[float, ...]) -> np.ndarray:
    """(len(shares),) relative times u at which the shape h has done each share of its change.

    >>> _done_at(lambda u: u, (0.5, 0.75)).tolist()
    [0.5, 0.75]
    """
    u = np.linspace(0.0, 1.0, 4001)
    return np.interp(np.asarray(shares, np.float64), h(u), u)


EDGE_SPACING = 0.01
"""Candidate edges lie at most this far apart (in units of the run's length): bin centres, and
evenly spaced points between centres further apart (sparse logging, gaps)."""


def _edge_grid(t: np.ndarray, spacing: float = EDGE_SPACING) -> np.ndarray:
    """Candidate edge positions: the bin centres t and, between two centres further apart
    than `spacing` (sparse logging, a gap), evenly spaced points at most `spacing` apart. The
    prior of an edge (uniform over candidates) is then uniform over the run's time, not over
    its logged steps: an edge inside a gap or between two sparse points is a candidate too.

    >>> _edge_grid(np.array([0.0, 0.5, 1.0]), 0.25).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    pieces = [t[:1]]
    for lo, hi in zip(t[:-1], t[1:]):
        k = int(math.ceil((hi - lo) / spacing - 1e-9))
        pieces.append(np.linspace(lo, hi, max(k, 1) + 1)[1:])
    return np.concatenate(pieces)


def _candidates(t: np.ndarray, direction: str, rho: float, max_drift: float, shares=(0.5,)):
    """Yield (edge (J,), done (J, len(shares)), shape name, g (J, m), slow (J, m), kappa (J,))
    for every candidate; done: the times by which each share of the change is done.

    t: (m,) bin centres in normalised time (0 = first, 1 = last); the edges range over
    `_edge_grid(t)`. kappa: the slow-drift bound per unit of D (|s| <= kappa |D|; module
    docstring)."""
    grid = _edge_grid(t)
    n = grid.size
    if direction == "fall":
        b = grid[1:]
        a = np.zeros(b.size)
    else:
        a_list, b_list = [], []
        for i in range(n - 1):
            js = np.arange(i + 1, n)
            if js.size > 24:  # the plateau's start is a nuisance: 24 places suffice
                js = np.unique(np.linspace(i + 1, n - 1, 24).round().astype(int))
            a_list += [grid[i]] * js.size
            b_list += list(grid[js])
        a, b = np.array(a_list), np.array(b_list)
    for name, (h, d0, d1) in SHAPES.items():
        g = h(np.clip((t[None, :] - a[:, None]) / (b - a)[:, None], 0.0, 1.0))
        edge, name, g, slow, kappa = _with_slow(
            t, direction, a, b, g, d0 if direction == "rise" else d1, name, rho, max_drift
        )
        done = a[:, None] + _done_at(h, shares)[None, :] * (b - a)[:, None]  # (J, len(shares))
        yield edge, done, name, g, slow, kappa
    # step: a jump between two consecutive points; its edge is their midpoint
    jump = t[1:]
    g = (t[None, :] >= jump[:, None] - 1e-12).astype(np.float64)
    edge, name, g, slow, kappa = _with_slow(
        t, direction, t[:-1], jump, g, 1.0, "step", rho, max_drift
    )
    mid = (t[:-1] + jump) / 2
    yield mid, np.repeat(mid[:, None], len(shares), axis=1), name, g, slow, kappa


def _with_slow(t, direction, a, b, g, edge_slope, name, rho, max_drift):
    if direction == "fall":
        slow = np.maximum(t[None, :] - b[:, None], 0.0)
        span, edge = 1.0 - b, b
    else:
        slow = np.minimum(t[None, :] - a[:, None], 0.0)
        span, edge = a, a
    kappa = np.minimum(
        rho * min(edge_slope, 1.0) / np.maximum(b - a, 1e-12),
        max_drift / np.maximum(span, 1e-12),
    )
    return edge, name, g, slow, kappa


def _fit_family(t, y, w, direction, rho, max_drift, shares):
    """Every candidate's (edge (J,), done (J, len(shares)), RSS (J,), D (J,), var factor of D
    (J,), shape (J,)), the slow-drift bound enforced by projection where the free fit breaks
    it."""
    edges, halves, rss_all, d_all, dvar_all, names = [], [], [], [], [], []
    for edge, half, name, g, slow, kappa in _candidates(t, direction, rho, max_drift, shares):
        J, m = g.shape
        ones = np.ones((J, m))
        beta, rss, inv = _wls(np.stack([ones, g, slow], axis=2), y, w)
        D, s = beta[:, 1], beta[:, 2]
        best_D, best_var = D.copy(), inv[:, 1, 1].copy()
        broken = np.nonzero(np.abs(s) > kappa * np.abs(D) + 1e-12)[0]
        if broken.size:
            rss[broken] = np.inf
            for sign in (1.0, -1.0):
                Xp = np.stack(
                    [ones[broken], g[broken] + sign * kappa[broken, None] * slow[broken]], axis=2
                )
                bp, rp, ip = _wls(Xp, y, w)
                take = rp < rss[broken]
                idx = broken[take]
                rss[idx], best_D[idx], best_var[idx] = rp[take], bp[take, 1], ip[take, 1, 1]
        best_rss = rss
        edges.append(edge)
        halves.append(half)
        rss_all.append(best_rss)
        d_all.append(best_D)
        dvar_all.append(best_var)
        names += [name] * J
    return (
        np.concatenate(edges),
        np.concatenate(halves),
        np.concatenate(rss_all),
        np.concatenate(d_all),
        np.concatenate(dvar_all),
        np.array(names),
    )


def _lag1(resid: np.ndarray) -> float:
    if resid.size < 4 or not np.any(resid):
        return 0.0
    r = resid - resid.mean()
    return float(np.sum(r[1:] * r[:-1]) / np.sum(r * r))


def fit_transition(
    x,
    y,
    direction: str,
    *,
    max_bins: int = 100,
    rho: float = 0.5,
    max_drift: float = MAX_DRIFT,
    level: float = 0.95,
    done_share: float | None = None,
) -> TransitionFit | None:
    """Fit a fall (edge = its end) or a rise (edge = its start) to a series; None when it has
    fewer than MIN_POINTS distinct finite steps. done_share (default 1 - max_drift): the share
    of the change whose step is reported as `done_step` (for a fall: the end of consolidation,
    docs/phases.md).

    x: (S,) steps (any order, gaps and repeats allowed); y: (S,) values, NaN where not logged.
    """
    if direction not in ("fall", "rise"):
        raise ValueError(f"direction must be 'fall' or 'rise', not {direction!r}")
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[ok], kind="stable")
    x, y = x[ok][order], y[ok][order]
    if np.unique(x).size < MIN_POINTS:
        return None
    clean = despike(y, running_median(y, max(3, int(round(0.05 * x.size)) | 1)))
    centres, ym, w, first, last = bin_points(x, clean, max_bins)
    t0, span = centres[0], centres[-1] - centres[0]
    t = (centres - t0) / span  # (m,) normalised time
    scale = float(np.std(ym)) or 1.0
    ys = (ym - ym.mean()) / scale
    done_share = 1.0 - max_drift if done_share is None else done_share
    shares = (0.5, done_share)
    edges, done, rss, D, dvar, shapes = _fit_family(t, ys, w, direction, rho, max_drift, shares)
    m = t.size
    best = int(np.argmin(rss))
    _, rss_line, _ = _wls(np.stack([np.ones(m), t], axis=1)[None], ys, w)
    r1 = max(_lag1(_residuals(t, ys, w, direction, rho, max_drift, best)), 0.0)
    infl = float(np.clip((1 + r1) / (1 - min(r1, 0.9)), 1.0, 10.0))
    loglik = -(m / (2 * infl)) * np.log(rss)
    post = np.exp(loglik - loglik.max())
    log_marg = float(np.log(np.mean(post)) + loglik.max())
    log_line = float(-(m / (2 * infl)) * np.log(rss_line[0]))
    log_bf = log_marg - log_line - 0.5 * math.log(max(m / infl, 2.0))
    # Model averaging with the straight line, a transition spanning the whole run (a fall
    # ending at the last step, a rise starting at the first), at prior odds 1:1.
    weights = np.append(
        post / post.sum() / (1 + math.exp(-min(log_bf, 700))), 1 / (1 + math.exp(min(log_bf, 700)))
    )
    grid, mass = _marginal(np.append(edges, 1.0 if direction == "fall" else 0.0), weights)
    med, low, high = _quantiles(grid, mass, level)
    # the straight line does each share p of its change at u = p
    half_grid, half_mass = _marginal(np.append(done[:, 0], 0.5), weights)
    half_med, half_low, half_high = _quantiles(half_grid, half_mass, level)
    done_grid, done_mass = _marginal(np.append(done[:, 1], done_share), weights)
    done_med, done_low, done_high = _quantiles(done_grid, done_mass, level)
    near_end = grid >= 1.0 - 2 * float(np.median(np.diff(t))) - 1e-12
    to_step = lambda u: float(t0 + u * span)  # noqa: E731
    widen = lambda lo, hi: (  # noqa: E731
        float(first[max(_bin_at(t, lo, "right") - 1, 0)]),
        float(last[min(_bin_at(t, hi, "left") + 1, m - 1)]),
    )
    return TransitionFit(
        direction=direction,
        step=to_step(med),
        low=widen(low, high)[0],
        high=widen(low, high)[1],
        half_step=to_step(half_med),
        half_low=widen(half_low, half_high)[0],
        half_high=widen(half_low, half_high)[1],
        done_share=float(done_share),
        done_step=to_step(done_med),
        done_low=widen(done_low, done_high)[0],
        done_high=widen(done_low, done_high)[1],
        map_step=to_step(edges[best]),
        shape=str(shapes[best]),
        change=float(D[best] * scale),
        change_se=float(math.sqrt(max(rss[best] / max(m - 3, 1) * dvar[best] * infl, 0.0)) * scale),
        log_bf=log_bf,
        edge_mass=float(mass[near_end].sum()),
        start_level=float(np.median(ym[: max(1, m // 20)])),
        noise=noise_sigma(y),
        inflation=infl,
        points=int(x.size),
        bins=int(m),
        posterior=(t0 + grid * span, mass / mass.sum()),
    )


def _residuals(t, ys, w, direction, rho, max_drift, index):
    """Weighted residuals of candidate number `index` (the order of `_fit_family`)."""
    for edge, _half, _name, g, slow, kappa in _candidates(t, direction, rho, max_drift):
        if index >= edge.size:
            index -= edge.size
            continue
        g, slow, kappa = g[index][None], slow[index][None], kappa[index]
        ones = np.ones_like(g)
        beta, rss, _ = _wls(np.stack([ones, g, slow], axis=2), ys, w)
        fit = beta[0] @ np.stack([ones[0], g[0], slow[0]])
        if abs(beta[0, 2]) > kappa * abs(beta[0, 1]) + 1e-12:
            fits = []
            for sign in (1.0, -1.0):
                X = np.stack([ones, g + sign * kappa * slow], axis=2)
                bp, rp, _ = _wls(X, ys, w)
                fits.append((rp[0], X[0] @ bp[0]))
            fit = min(fits, key=lambda f: f[0])[1]
        return (ys - fit) * np.sqrt(w)
    return np.zeros_like(ys)


def _marginal(edges: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    grid, inv = np.unique(edges, return_inverse=True)
    return grid, np.bincount(inv, weights=post, minlength=grid.size)


def _quantiles(grid, mass, level) -> tuple[float, float, float]:
    cdf = np.cumsum(mass)
    cdf /= cdf[-1]
    q = lambda p: float(grid[min(int(np.searchsorted(cdf, p)), grid.size - 1)])  # noqa: E731
    return q(0.5), q((1 - level) / 2), q(1 - (1 - level) / 2)


def _bin_at(t: np.ndarray, u: float, side: str) -> int:
    """Index of the bin at or before (side="right") / at or after (side="left") time u. The
    interval is widened to the first step of the bin before its low end and the last step of
    the bin after its high end: an edge between two bins can lie anywhere between them."""
    i = int(np.searchsorted(t, u + (1e-12 if side == "right" else -1e-12), side=side))
    return min(max(i - 1 if side == "right" else i, 0), t.size - 1)
