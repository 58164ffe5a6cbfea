"""Sentence importance from resampled continuations: the estimators of Thought Anchors.

Notation (Bogdan, Macar, Nanda, Conmy 2025, "Thought Anchors", arXiv:2506.19143). A trace is
sentences S_1..S_n. R_i is a set of continuations sampled from the prompt plus S_1..S_{i-1}:
each one writes its own first sentence T_i (the replacement of S_i) and ends in an answer.
So R_i is "S_i replaced by a resample" and R_{i+1} is "S_i kept". Continuations without an
answer are dropped first (as the authors' code does), acc(R) is the share of the rest that is
correct, and P_R is the distribution of their answers. With D_i = {r in R_i : cos(T_i, S_i) <
threshold} (all-MiniLM-L6-v2 embeddings, threshold 0.8) and Sim_i the rest of R_i:

    accuracy                            = acc(R_i)
    resampling_importance_accuracy      = acc(R_{i+1}) - acc(R_i)
    resampling_importance_kl            = KL(P_{R_i} || P_{R_{i+1}})
    counterfactual_importance_accuracy  = acc(D_i) - acc(R_{i+1})
    counterfactual_importance_kl        = KL(P_{D_i} || P_{R_{i+1} + Sim_i})
    different_trajectories_fraction     = |D_i| / |R_i|
    overdeterminedness                  = 1 - #distinct(T_i) / |R_i|

These are the definitions of the authors' released analysis code (`analyze_rollouts.py`), which
produced the importances they published (our `thought_anchors_dev.jsonl.gz` holds some):
KL over answer strings with additive smoothing alpha = 1e-9 on the union of both supports
(`kl_smoothing`), and the signs as written: resampling accuracy is kept minus replaced, the
counterfactual accuracy is replaced (by a different sentence) minus kept. An estimator whose
sets are empty is 0, as there. Sentences are ranked as anchors by |value| (KL is >= 0).

    >>> kept = [Resample("5", True, 1.0, "x")] * 4
    >>> removed = [Resample("5", True, 0.9, "x"), Resample("3", False, 0.2, "y")]
    >>> imp = sentence_importance(removed, kept)
    >>> imp["resampling_importance_accuracy"], imp["counterfactual_importance_accuracy"]
    (0.5, -1.0)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

MEASURES = (
    "resampling_importance_accuracy",
    "resampling_importance_kl",
    "counterfactual_importance_accuracy",
    "counterfactual_importance_kl",
)
SIMILARITY_THRESHOLD = 0.8
KL_SMOOTHING = 1e-9


@dataclass(frozen=True)
class Resample:
    """One continuation from a sentence boundary.

    answer: the final answer it reaches, normalised ("" = none: dropped by every estimator).
    correct: whether that answer is right.
    similarity: cosine similarity of its first sentence T_i to the original S_i (NaN = not
        compared, e.g. the continuations that keep S_i).
    replacement: its first sentence T_i.
    """

    answer: str
    correct: bool
    similarity: float = math.nan
    replacement: str = ""


def answered(rollouts: Sequence[Resample]) -> list[Resample]:
    """The continuations that reached an answer (the only ones the estimators use)."""
    return [r for r in rollouts if r.answer]


def accuracy(rollouts: Sequence[Resample]) -> float:
    """Share of answered continuations that are correct (0 when none answered, as published)."""
    rows = answered(rollouts)
    return sum(r.correct for r in rows) / len(rows) if rows else 0.0


def answer_kl(
    p_rollouts: Sequence[Resample], q_rollouts: Sequence[Resample], alpha: float = KL_SMOOTHING
) -> float:
    """KL(P || Q) in nats between the answer distributions of two sets of continuations.

    Counts are smoothed by `alpha` over the union of answers seen in either set; 0 when either
    set has no answer. Written out by hand: a dozen lines over a Counter, where scipy's
    `entropy(p, q)` would need the same support bookkeeping around it.

    >>> a, b = [Resample("1", True)] * 2, [Resample("1", True), Resample("2", False)]
    >>> round(answer_kl(a, b, alpha=1.0), 4)  # p = (3/4, 1/4), q = (2/4, 2/4)
    0.1308
    """
    p_counts = Counter(r.answer for r in answered(p_rollouts))
    q_counts = Counter(r.answer for r in answered(q_rollouts))
    if not p_counts or not q_counts:
        return 0.0
    support = set(p_counts) | set(q_counts)
    p_total = sum(p_counts.values()) + alpha * len(support)
    q_total = sum(q_counts.values()) + alpha * len(support)
    kl = 0.0
    for answer in support:
        p = (p_counts[answer] + alpha) / p_total
        q = (q_counts[answer] + alpha) / q_total
        kl += p * math.log(p / q)
    return max(0.0, kl)


def sentence_importance(
    removed: Sequence[Resample],
    kept: Sequence[Resample],
    threshold: float = SIMILARITY_THRESHOLD,
    alpha: float = KL_SMOOTHING,
) -> dict[str, float]:
    """The importances of sentence S_i from R_i (`removed`, with similarities) and R_{i+1} (`kept`).

    Returns the keys of MEASURES plus accuracy, kept_accuracy, different_trajectories_fraction,
    overdeterminedness and the counts n_removed, n_kept, n_dissimilar (answered rows only).
    """
    # the accuracy difference needs both sets sampled (an all-unanswered set has accuracy 0,
    # as published); everything else uses answered continuations only
    sampled = bool(removed) and bool(kept)
    removed, kept = answered(removed), answered(kept)
    # a NaN similarity (not compared) never counts as "different"
    dissimilar = [r for r in removed if r.similarity < threshold]
    similar = [r for r in removed if not r.similarity < threshold]
    out = {
        "accuracy": accuracy(removed),
        "kept_accuracy": accuracy(kept),
        "n_removed": float(len(removed)),
        "n_kept": float(len(kept)),
        "n_dissimilar": float(len(dissimilar)),
        "different_trajectories_fraction": len(dissimilar) / len(removed) if removed else 0.0,
        "overdeterminedness": 1.0 - len({r.replacement for r in removed}) / len(removed)
        if removed
        else 0.0,
    }
    out["resampling_importance_accuracy"] = accuracy(kept) - accuracy(removed) if sampled else 0.0
    out["resampling_importance_kl"] = answer_kl(removed, kept, alpha)
    has_cf = bool(dissimilar) and bool(kept)
    out["counterfactual_importance_accuracy"] = (
        accuracy(dissimilar) - accuracy(kept) if has_cf else 0.0
    )
    out["counterfactual_importance_kl"] = (
        answer_kl(dissimilar, [*kept, *similar], alpha) if has_cf else 0.0
    )
    return out
