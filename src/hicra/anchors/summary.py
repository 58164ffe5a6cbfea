"""Summaries of per-trace anchor results: importance by class, and who the top anchors are.

For every measure of `estimators.MEASURES`, over the analysed sentences of all traces:

- `by_class`: count, mean, mean |value| and median |value| of planning and execution sentences;
- `planning_share_of_importance`: sum of |value| over planning sentences / sum over all (and
  its 95% bootstrap interval over traces);
- `top_anchors`: the top `top_fraction` of sentences pooled over traces, ranked by |value|
  (ties broken by position), and the planning share among them, with a 95% bootstrap interval
  over traces; `planning_share_of_sentences` is the base rate it compares with;
- countdown traces also get `by_role` (mean |value| per world move: a choice in the final or an
  earlier attempt, a right or wrong step, a check, a backtrack, a conclusion, the last two
  split by whether they follow a failed check) and `top_anchor_roles` (the role of each
  trace's own top sentence).

    >>> s = {"class": "planning", "index": 0, "importance": {m: 1.0 for m in MEASURES}}
    >>> summarize([{"key": "a", "correct": True, "sentences": [s]}])["top_anchors"][MEASURES[0]]["planning_share"]
    1.0
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from hicra.anchors.estimators import MEASURES


def role_label(role: dict[str, Any]) -> str:
    """A countdown clause's role as one label (see the module doc)."""
    move = role.get("move", "other")
    if move == "choose":
        return "choose (final attempt)" if role.get("final_attempt") else "choose (earlier attempt)"
    if move == "step":
        return "step (wrong)" if role.get("wrong") else "step (right)"
    if move in ("backtrack", "conclude"):
        return f"{move} after failed check" if role.get("after_failed_check") else move
    return move


def _rows(results: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(trace number, sentence) for every analysed sentence."""
    return [
        (t, s) for t, result in enumerate(results) for s in result["sentences"] if "importance" in s
    ]


def _top(values: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the top ceil(fraction * n) entries by |value| (stable: earlier rows win ties)."""
    k = max(1, math.ceil(fraction * len(values)))
    return np.argsort(-np.abs(values), kind="stable")[:k]


def _share_top(values: np.ndarray, planning: np.ndarray, fraction: float) -> float:
    return float(planning[_top(values, fraction)].mean()) if len(values) else math.nan


def bootstrap_share(
    values: np.ndarray,
    planning: np.ndarray,
    trace_ids: np.ndarray,
    fraction: float,
    reps: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile interval of the top-anchor planning share, resampling traces."""
    traces = np.unique(trace_ids)
    if len(traces) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    members = {t: np.flatnonzero(trace_ids == t) for t in traces}
    shares = []
    for _ in range(reps):
        rows = np.concatenate([members[t] for t in rng.choice(traces, size=len(traces))])
        shares.append(_share_top(values[rows], planning[rows], fraction))
    low, high = np.percentile(shares, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_importance_share(
    values: np.ndarray, planning: np.ndarray, trace_ids: np.ndarray, reps: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the planning share of summed |importance|, resampling traces."""
    traces = np.unique(trace_ids)
    if len(traces) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    members = {t: np.flatnonzero(trace_ids == t) for t in traces}
    shares = []
    for _ in range(reps):
        rows = np.concatenate([members[t] for t in rng.choice(traces, size=len(traces))])
        total = np.abs(values[rows]).sum()
        if total:
            shares.append(np.abs(values[rows][planning[rows]]).sum() / total)
    if not shares:
        return math.nan, math.nan
    low, high = np.percentile(shares, [2.5, 97.5])
    return float(low), float(high)


def _stats(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {"n": 0, "mean": math.nan, "mean_abs": math.nan, "median_abs": math.nan}
    return {
        "n": int(len(values)),
        "mean": float(values.mean()),
        "mean_abs": float(np.abs(values).mean()),
        "median_abs": float(np.median(np.abs(values))),
    }


def summarize(
    results: list[dict[str, Any]], top_fraction: float = 0.1, seed: int = 0
) -> dict[str, Any]:
    """The summary dict of per-trace results (see the module doc)."""
    rows = _rows(results)
    trace_ids = np.array([t for t, _ in rows], dtype=np.int64)
    planning = np.array([s["class"] == "planning" for _, s in rows], dtype=bool)
    correct = np.array([bool(results[t].get("correct")) for t, _ in rows], dtype=bool)
    labels = (
        [role_label(s["role"]) for _, s in rows if "role" in s]
        if rows and "role" in rows[0][1]
        else None
    )
    out: dict[str, Any] = {
        "n_traces": len(results),
        "n_traces_correct": int(sum(bool(r.get("correct")) for r in results)),
        "n_sentences": len(rows),
        "planning_share_of_sentences": float(planning.mean()) if len(rows) else math.nan,
        "top_fraction": top_fraction,
        "by_class": {},
        "planning_share_of_importance": {},
        "planning_share_of_importance_ci95": {},
        "top_anchors": {},
    }
    if labels is not None:
        out["by_role"], out["top_anchor_roles"] = {}, {}
    for measure in MEASURES:
        values = np.array([s["importance"][measure] for _, s in rows], dtype=np.float64)
        out["by_class"][measure] = {
            "planning": _stats(values[planning]),
            "execution": _stats(values[~planning]),
        }
        total = float(np.abs(values).sum())
        out["planning_share_of_importance"][measure] = (
            float(np.abs(values[planning]).sum()) / total if total else math.nan
        )
        out["planning_share_of_importance_ci95"][measure] = bootstrap_importance_share(
            values, planning, trace_ids, seed=seed
        )
        top = {
            "k": int(max(1, math.ceil(top_fraction * len(values)))) if len(values) else 0,
            "planning_share": _share_top(values, planning, top_fraction),
            "ci95": bootstrap_share(values, planning, trace_ids, top_fraction, seed=seed),
        }
        for name, keep in (("correct_traces", correct), ("incorrect_traces", ~correct)):
            top[name] = (
                _share_top(values[keep], planning[keep], top_fraction) if keep.any() else math.nan
            )
        out["top_anchors"][measure] = top
        if labels is not None:
            label_array = np.array(labels)
            out["by_role"][measure] = {
                lab: _stats(values[label_array == lab]) for lab in sorted(set(labels))
            }
            firsts = Counter()
            for t in np.unique(trace_ids):
                mine = np.flatnonzero(trace_ids == t)
                firsts[labels[mine[_top(values[mine], 0.0)[0]]]] += 1
            out["top_anchor_roles"][measure] = dict(firsts.most_common())
    return out
