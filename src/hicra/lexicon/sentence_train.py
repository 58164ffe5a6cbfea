"""Training and grouped cross-validation of the `sentence` detector (scikit-learn).

`fit_head(traces)`: one logistic regression on the feature blocks of
`hicra.lexicon.sentence_detector` (uni and bi binary, emb and hand standardised, the dense
blocks scaled by `DENSE_SCALE`), L2, C = `C`; the operating threshold comes from an inner
grouped cross-validation on the same training traces (`threshold_from_inner_cv`): the highest
threshold at which the out-of-fold recall is still >= ``target_recall``. The fitted model is
folded into a `SentenceHead` (exactly: `collapse` is checked against sklearn in the tests).

`cross_validate(traces, folds)`: outer GroupKFold by trace; each fold fits a head (threshold
chosen inside that fold's training traces only) and runs the resulting detector end to end on
the held-out traces' text. No held-out trace is ever seen by its classifier.

C and DENSE_SCALE were chosen in exploratory grouped CV over a handful of values (C in 0.01 to
1); docs/detectors.md lists what was tried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hicra.lexicon.labelled import LabelledTrace, covered_chars, detected_sentences, evaluate
from hicra.lexicon.sentence_detector import (
    BIGRAM_BUCKETS,
    VOCAB_SIZE,
    SentenceDetector,
    SentenceHead,
    SentenceTokens,
    distinct,
    sentence_tokens,
)

C = 0.1
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


def _fit(sparse, emb, hand, y):
    from sklearn.linear_model import LogisticRegression

    scaled = _Scaled(emb, hand)
    model = LogisticRegression(C=C, max_iter=5000).fit(scaled.matrix(sparse, emb, hand), y)
    return model, scaled


def collapse(
    model, scaled: _Scaled, table: np.ndarray, threshold: float, meta: dict
) -> SentenceHead:
    """Fold a fitted model and its standardisation into a SentenceHead (same logits)."""
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
    return SentenceHead(
        token_mean=(table.astype(np.float64) @ w_emb).astype(np.float32),
        token_bag=w_sparse[:VOCAB_SIZE].astype(np.float32),
        bigram_index=index.astype(np.int64),
        bigram_weight=bigram[index].astype(np.float32),
        hand_weight=w_hand,
        bias=bias,
        threshold=float(threshold),
        meta=meta,
    )


def threshold_for_recall(probability: np.ndarray, truth: np.ndarray, target_recall: float) -> float:
    """The highest threshold t with recall(probability >= t) >= target_recall.

    >>> threshold_for_recall(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 0, 1, 0], bool), 0.5)
    0.9
    """
    positives = np.sort(probability[truth])[::-1]
    need = max(1, int(np.ceil(target_recall * len(positives))))
    return float(positives[need - 1])


def threshold_from_inner_cv(
    sparse, emb, hand, y, groups, target_recall: float, folds: int
) -> float:
    """Out-of-fold probabilities from a grouped CV on these rows, then `threshold_for_recall`."""
    from sklearn.model_selection import GroupKFold

    probability = np.zeros(len(y))
    for train, test in GroupKFold(min(folds, len(set(groups)))).split(sparse, y, groups):
        model, scaled = _fit(sparse[train], emb[train], hand[train], y[train])
        probability[test] = model.predict_proba(scaled.matrix(sparse[test], emb[test], hand[test]))[
            :, 1
        ]
    return threshold_for_recall(probability, y, target_recall)


def fit_head(
    traces: Sequence[LabelledTrace],
    table: np.ndarray,
    target_recall: float = 0.8,
    inner_folds: int = 5,
    meta: dict | None = None,
    tokens: Sequence[SentenceTokens] | None = None,
) -> SentenceHead:
    """A head trained on ``traces`` with its threshold from an inner grouped CV on them."""
    tokens = trace_tokens(traces) if tokens is None else tokens
    sparse, emb, hand = design(tokens, table)
    y = np.concatenate([t.planning for t in traces])
    groups = np.concatenate([[i] * len(t.starts) for i, t in enumerate(traces)])
    threshold = threshold_from_inner_cv(sparse, emb, hand, y, groups, target_recall, inner_folds)
    model, scaled = _fit(sparse, emb, hand, y)
    meta = dict(
        meta or {},
        C=C,
        dense_scale=DENSE_SCALE,
        target_recall=target_recall,
        inner_folds=inner_folds,
        traces=len(traces),
        sentences=int(len(y)),
        planning_sentences=int(y.sum()),
    )
    return collapse(model, scaled, table, threshold, meta)


def cross_validate(
    traces: Sequence[LabelledTrace],
    table: np.ndarray,
    folds: int = 5,
    target_recall: float = 0.8,
    inner_folds: int = 5,
    span_mode: str = "sentence",
    progress: Any = None,
) -> dict[str, Any]:
    """Outer grouped CV, end to end on the held-out text; pooled metrics plus per-fold ones."""
    from sklearn.model_selection import GroupKFold

    tokens = trace_tokens(traces)
    detected: list[np.ndarray] = [np.zeros(0, bool)] * len(traces)
    per_fold = []
    covered = total = 0
    index = np.arange(len(traces))
    for k, (train, test) in enumerate(
        GroupKFold(min(folds, len(traces))).split(index, groups=index)
    ):
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
        c, n = covered_chars(detector, [traces[i] for i in test])
        covered, total = covered + c, total + n
        fold = evaluate([detected[i] for i in test], [traces[i] for i in test])
        per_fold.append(
            {key: fold[key] for key in ("precision", "recall", "f1", "detected_share", "lift")}
            | {"threshold": head.threshold, "test_traces": len(test)}
        )
        if progress:
            progress(
                f"fold {k + 1}/{folds}: precision {fold['precision']:.3f} recall {fold['recall']:.3f} "
                f"threshold {head.threshold:.3f}"
            )
    result = evaluate(detected, list(traces))
    result["folds"] = per_fold
    result["covered_char_share"] = covered / max(total, 1)
    return result


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
