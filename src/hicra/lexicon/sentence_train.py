"""Training and grouped cross-validation of the `sentence` detector (scikit-learn).

Folds are grouped by *problem* (`LabelledTrace.problem`): the traces of one problem (two
models, correct and incorrect) share its numbers and words, so a fold that trains on one of
them and scores another measures memory of the problem, not what a new problem will get. The
dev file has 5 problems of 4 traces each; outer and inner folds are leave-one-problem-out.

`fit_head(traces)`:

1. **first stage**: a logistic regression on the feature blocks of
   `hicra.lexicon.sentence_detector` (uni and bi binary, emb and hand standardised, the dense
   blocks scaled by `DENSE_SCALE`), L2; its C is the one of `C_GRID` with the best
   out-of-fold AUC in an inner grouped CV on the training traces;
2. **second stage**: a logistic regression (C = `CONTEXT_C`, standardised) on
   `hicra.lexicon.sentence_context.context_features` of the first stage's *out-of-fold*
   logits (so it learns how much to trust scores of sentences the first stage never saw);
3. **threshold**: the highest at which the second stage's out-of-fold recall, in the same
   inner folds, is still >= ``target_recall``;
4. the first stage is refitted on every training trace, and both stages are folded into one
   `SentenceHead` (exactly: `collapse` is checked against sklearn in the tests).

`cross_validate(traces, folds)`: outer grouped K-fold by problem; each fold runs `fit_head` on
its training traces only and runs the resulting detector end to end on the held-out text.
No held-out problem is ever seen by its classifier, its C or its threshold.
docs/detectors.md lists what was tried and measured.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hicra.lexicon.labelled import (
    LabelledTrace,
    covered_chars,
    detected_sentences,
    evaluate,
    operating_points,
)
from hicra.lexicon.sentence_context import CONTEXT_FEATURES, context_features
from hicra.lexicon.sentence_detector import (
    BIGRAM_BUCKETS,
    VOCAB_SIZE,
    SentenceDetector,
    SentenceHead,
    SentenceTokens,
    distinct,
    sentence_tokens,
)

C_GRID = (0.003, 0.01, 0.03, 0.1)
CONTEXT_C = 1.0
DENSE_SCALE = 0.1
N_DIMS = VOCAB_SIZE + BIGRAM_BUCKETS  # sparse columns before the dense blocks


def trace_tokens(traces: Sequence[LabelledTrace]) -> list[SentenceTokens]:
    """The labelled sentences of each trace, tokenised."""
    return [sentence_tokens(t.text, t.starts, t.ends) for t in traces]


def design(tokens: Sequence[SentenceTokens], table: np.ndarray):
    """(sparse binary uni|bi block (S, N_DIMS), dense emb (S, 384), hand (S, 5)) over all traces."""
    import scipy.sparse as sp

    blocks, embs, hands = [], [], []
    for tok in tokens:
        n_sent = len(tok.starts)
        ids, sent = tok.ids, tok.sentence
        uni = distinct(sent * VOCAB_SIZE + ids)
        same = sent[1:] == sent[:-1]
        pair = (ids[:-1][same] * VOCAB_SIZE + ids[1:][same]) % BIGRAM_BUCKETS
        bi = distinct(sent[1:][same] * BIGRAM_BUCKETS + pair)
        rows = np.concatenate([uni // VOCAB_SIZE, bi // BIGRAM_BUCKETS])
        cols = np.concatenate([uni % VOCAB_SIZE, VOCAB_SIZE + bi % BIGRAM_BUCKETS])
        blocks.append(
            sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_sent, N_DIMS))
        )
        counts = np.maximum(np.bincount(sent, minlength=n_sent), 1)
        average = sp.csr_matrix(
            (1.0 / counts[sent], (sent, np.arange(len(ids)))), shape=(n_sent, len(ids))
        )
        embs.append(np.asarray(average @ table[ids], dtype=np.float64))
        hands.append(tok.hand)
    return sp.vstack(blocks).tocsr(), np.vstack(embs), np.vstack(hands)


class _Scaled:
    """Standardisation of the dense blocks, fitted on training rows only."""

    def __init__(self, emb: np.ndarray, hand: np.ndarray):
        self.mu_e, self.sd_e = emb.mean(0), emb.std(0) + 1e-8
        self.mu_h, self.sd_h = hand.mean(0), hand.std(0) + 1e-8

    def matrix(self, sparse, emb, hand):
        import scipy.sparse as sp

        dense = (
            np.hstack([(emb - self.mu_e) / self.sd_e, (hand - self.mu_h) / self.sd_h]) * DENSE_SCALE
        )
        return sp.hstack([sparse, sp.csr_matrix(dense)]).tocsr()


def _fit(sparse, emb, hand, y, c: float = 0.1):
    from sklearn.linear_model import LogisticRegression

    scaled = _Scaled(emb, hand)
    model = LogisticRegression(C=c, max_iter=5000).fit(scaled.matrix(sparse, emb, hand), y)
    return model, scaled


def collapse(
    model,
    scaled: _Scaled,
    table: np.ndarray,
    threshold: float,
    meta: dict,
    context: tuple[np.ndarray, float] | None = None,
) -> SentenceHead:
    """Fold a fitted first stage and its standardisation into a SentenceHead (same logits).

    ``context``: the second stage's (weights on raw context features, bias), from
    `fit_context`; None gives the identity stage (planning logit = first-stage logit).
    """
    w = model.coef_[0].astype(np.float64)
    w_sparse, w_emb, w_hand = (
        w[:N_DIMS],
        w[N_DIMS : N_DIMS + table.shape[1]],
        w[N_DIMS + table.shape[1] :],
    )
    w_emb = w_emb * DENSE_SCALE / scaled.sd_e
    w_hand = w_hand * DENSE_SCALE / scaled.sd_h
    bias = float(model.intercept_[0] - w_emb @ scaled.mu_e - w_hand @ scaled.mu_h)
    bigram = w_sparse[VOCAB_SIZE:]
    index = np.flatnonzero(bigram)
    if context is None:
        context = (np.eye(1, CONTEXT_FEATURES)[0], 0.0)
    return SentenceHead(
        token_mean=(table.astype(np.float64) @ w_emb).astype(np.float32),
        token_bag=w_sparse[:VOCAB_SIZE].astype(np.float32),
        bigram_index=index.astype(np.int64),
        bigram_weight=bigram[index].astype(np.float32),
        hand_weight=w_hand,
        bias=bias,
        context_weight=np.asarray(context[0], dtype=np.float64),
        context_bias=float(context[1]),
        threshold=float(threshold),
        meta=meta,
    )


def fit_context(features: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Second stage: (weights (12,), bias) of a standardised logistic regression, folded back
    onto the raw context features."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = features.mean(0), features.std(0) + 1e-8
    model = LogisticRegression(C=CONTEXT_C, max_iter=5000).fit((features - mu) / sd, y)
    weight = model.coef_[0] / sd
    return weight, float(model.intercept_[0] - weight @ mu)


def threshold_for_recall(probability: np.ndarray, truth: np.ndarray, target_recall: float) -> float:
    """The highest threshold t with recall(probability >= t) >= target_recall.

    >>> threshold_for_recall(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 0, 1, 0], bool), 0.5)
    0.9
    """
    positives = np.sort(probability[truth])[::-1]
    need = max(1, int(np.ceil(target_recall * len(positives))))
    return float(positives[need - 1])


def problem_folds(problems: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of a GroupKFold by problem (at least 2 groups needed)."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(set(problems.tolist()))
    if n_groups < 2:
        raise ValueError("grouped cross-validation needs traces of at least 2 problems")
    return list(GroupKFold(min(folds, n_groups)).split(problems, groups=problems))


def choose_c(
    first_stage: Callable[[np.ndarray, np.ndarray, float], np.ndarray],
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    grid: Sequence[float] = C_GRID,
) -> tuple[float, float, np.ndarray]:
    """(AUC, C, out-of-fold logits) of the C of ``grid`` whose out-of-fold logits rank ``y``
    best (the first on a tie); ``first_stage(train, test, c)`` fits on the train rows and
    returns the logits of the test rows."""
    from sklearn.metrics import roc_auc_score

    best = (-1.0, grid[0], np.zeros(len(y)))
    for c in grid:
        oof = np.zeros(len(y))
        for train, test in splits:
            oof[test] = first_stage(train, test, c)
        auc = float(roc_auc_score(y, oof))
        best = max(best, (auc, c, oof), key=lambda b: b[0])
    return best


def fit_second_stage(
    oof: np.ndarray,
    row: np.ndarray,
    hand: np.ndarray,
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    target_recall: float,
) -> tuple[tuple[np.ndarray, float], float]:
    """(context stage fitted on every row, threshold): the second stage reads the first
    stage's out-of-fold logits ``oof``; the threshold is the highest whose out-of-fold recall
    over ``splits`` is still >= ``target_recall``."""
    features = context_features(oof, row, hand)
    oof2 = np.zeros(len(y))
    for train, test in splits:
        weight, bias = fit_context(features[train], y[train])
        oof2[test] = features[test] @ weight + bias
    threshold = threshold_for_recall(1.0 / (1.0 + np.exp(-oof2)), y, target_recall)
    return fit_context(features, y), threshold


def fit_head(
    traces: Sequence[LabelledTrace],
    table: np.ndarray,
    target_recall: float = 0.8,
    inner_folds: int = 5,
    meta: dict | None = None,
    tokens: Sequence[SentenceTokens] | None = None,
) -> SentenceHead:
    """Both stages trained on ``traces``; C and threshold from inner folds (module docstring)."""
    tokens = trace_tokens(traces) if tokens is None else tokens
    sparse, emb, hand = design(tokens, table)
    y = np.concatenate([t.planning for t in traces])
    row = np.concatenate([[i] * len(t.starts) for i, t in enumerate(traces)])
    problems = np.concatenate([[t.problem] * len(t.starts) for t in traces])
    splits = problem_folds(problems, inner_folds)

    def first_stage(train: np.ndarray, test: np.ndarray, c: float) -> np.ndarray:
        model, scaled = _fit(sparse[train], emb[train], hand[train], y[train], c)
        return model.decision_function(scaled.matrix(sparse[test], emb[test], hand[test]))

    auc, c, oof = choose_c(first_stage, y, splits)
    context, threshold = fit_second_stage(oof, row, hand, y, splits, target_recall)
    model, scaled = _fit(sparse, emb, hand, y, c)
    meta = dict(
        meta or {},
        C=c,
        C_grid=list(C_GRID),
        inner_oof_auc=auc,
        context_C=CONTEXT_C,
        dense_scale=DENSE_SCALE,
        target_recall=target_recall,
        inner_folds=len(splits),
        traces=len(traces),
        problems=len(set(problems.tolist())),
        sentences=int(len(y)),
        planning_sentences=int(y.sum()),
    )
    return collapse(model, scaled, table, threshold, meta, context)


def cross_validate(
    traces: Sequence[LabelledTrace],
    table: np.ndarray,
    folds: int = 5,
    target_recall: float = 0.8,
    inner_folds: int = 5,
    span_mode: str = "sentence",
    progress: Any = None,
) -> dict[str, Any]:
    """Outer CV grouped by problem, end to end on the held-out text; pooled and per-fold
    metrics, and ``curve``: `operating_points` of the pooled held-out planning logits (for
    ``span_mode="grams"`` a sentence without a published gram counts as never detected)."""
    from hicra.lexicon.lexicon import StrategicLexicon

    tokens = trace_tokens(traces)
    detected: list[np.ndarray] = [np.zeros(0, bool)] * len(traces)
    scores: list[np.ndarray] = [np.zeros(0)] * len(traces)
    lexicon = StrategicLexicon.default()
    per_fold = []
    covered = total = 0
    splits = problem_folds(np.array([t.problem for t in traces]), folds)
    for k, (train, test) in enumerate(splits):
        head = fit_head(
            [traces[i] for i in train],
            table,
            target_recall,
            inner_folds,
            tokens=[tokens[i] for i in train],
        )
        detector = SentenceDetector(head, span_mode)
        for i in test:
            detected[i] = detected_sentences(detector, traces[i])
            scores[i] = head.planning_logits(tokens[i])
            if span_mode == "grams":
                has_gram = detected_sentences(lexicon, traces[i])
                scores[i] = np.where(has_gram, scores[i], -np.inf)
        c, n = covered_chars(detector, [traces[i] for i in test])
        covered, total = covered + c, total + n
        fold = evaluate([detected[i] for i in test], [traces[i] for i in test])
        per_fold.append(
            {key: fold[key] for key in ("precision", "recall", "f1", "detected_share", "lift")}
            | {
                "threshold": head.threshold,
                "C": head.meta["C"],
                "test_traces": len(test),
                "test_problems": sorted({traces[i].problem for i in test}),
            }
        )
        if progress:
            progress(
                f"fold {k + 1}/{len(splits)}: precision {fold['precision']:.3f} "
                f"recall {fold['recall']:.3f} threshold {head.threshold:.3f} C {head.meta['C']}"
            )
    result = evaluate(detected, list(traces))
    result["folds"] = per_fold
    result["covered_char_share"] = covered / max(total, 1)
    result["curve"] = operating_points(
        np.concatenate(scores), np.concatenate([t.planning for t in traces])
    )
    return result


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
