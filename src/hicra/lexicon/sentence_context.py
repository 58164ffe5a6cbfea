"""Sentence features beyond the tokens: hand features, and the second stage's context.

`hand_features`: five numbers per sentence (length, digit and math-symbol shares, "?" and
":" endings), used by both stages of the `sentence` detector.

The second stage reads a sentence's score in the light of its neighbours: a sentence's
function depends on where it stands. In the labelled traces a sentence after a
planning sentence is planning 66% of the time, after any other 19%; and a plain computation
such as "Layer 6: 1 + 3*364 = 1093" is labelled self_checking when it re-does a step to
verify it. The first stage (a linear head on the sentence's own tokens) cannot see that, so
a second linear head reads, for each sentence, ``CONTEXT_FEATURES`` (below) built from the
first-stage logits ``s`` of its row plus its own hand features, and gives the final logit.

A *row* is one trace: the text between "\\x00" boundaries (one response of a batch in
`tag_batch`), so context never crosses from one response into another.

The features of sentence k of a row (``s`` the first-stage logits):

| index | feature                                                     |
|-------|-------------------------------------------------------------|
| 0     | s[k]                                                        |
| 1, 2  | s[k - 1], s[k + 1] (s[k] itself where the row has none)     |
| 3, 4  | s[k - 2], s[k + 2] (likewise)                               |
| 5     | the mean of s over the row                                  |
| 6     | s[k] minus that mean                                        |
| 7-11  | the sentence's hand features (`hand_features`)              |

Nothing says *that* a neighbour is missing, nor where in the row a sentence stands: in the
labelled traces only the final sentence lacks a successor, and a model told so learns "no
next sentence: not planning", which is wrong for the short or truncated responses a trainer
tags (measured in docs/detectors.md: with such flags, recall fell to 0.03 on rows of 3
sentences; without them it stays at 0.77).

    >>> s = np.array([2.0, -1.0, 0.5])
    >>> X = context_features(s, np.array([0, 0, 1]), np.zeros((3, 5)))
    >>> X.shape, X[0, 1:5].tolist(), X[2, 1:7].tolist()
    ((3, 12), [2.0, -1.0, 2.0, 2.0], [0.5, 0.5, 0.5, 0.5, 0.5, 0.0])
"""

from __future__ import annotations

import numpy as np

CONTEXT_FEATURES = 12
_SHIFTS = (-1, 1, -2, 2)


def rows_of(starts: np.ndarray, text: str) -> np.ndarray:
    """(S,) int64 row of each sentence: how many "\\x00" precede its start in ``text``."""
    boundaries, at = [], text.find("\x00")
    while at >= 0:  # a batch has one boundary per row: a find loop, not a pass per character
        boundaries.append(at)
        at = text.find("\x00", at + 1)
    return np.searchsorted(np.asarray(boundaries, dtype=np.int64), starts, side="right").astype(
        np.int64
    )


def context_features(s: np.ndarray, row: np.ndarray, hand: np.ndarray) -> np.ndarray:
    """(S, 12) float64 features (module docstring) from s (S,), row (S,) non-decreasing, hand
    (S, 5)."""
    n_sent = len(s)
    out = np.zeros((n_sent, CONTEXT_FEATURES), dtype=np.float64)
    if n_sent == 0:
        return out
    out[:, 0] = s
    index = np.arange(n_sent)
    for j, shift in enumerate(_SHIFTS):
        other = index + shift
        same_row = (other >= 0) & (other < n_sent)
        other = np.clip(other, 0, n_sent - 1)
        same_row &= row[other] == row
        out[:, 1 + j] = np.where(same_row, s[other], s)
    _, inverse, counts = np.unique(row, return_inverse=True, return_counts=True)
    mean = np.bincount(inverse, weights=s) / counts
    out[:, 5] = mean[inverse]
    out[:, 6] = s - out[:, 5]
    out[:, 7:] = hand
    return out


_MATH_CODES = np.array(
    sorted({ord(c) for c in "0123456789=+-*/^\\$<>()[]{}_|×÷√π∑∫≤≥≠"}), dtype=np.uint32
)


def hand_features(text: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(S, 5): log1p(chars), digit share, math-symbol share, ends with "?", ends with ":"."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    digit = np.concatenate(([0], np.cumsum((codes >= 48) & (codes <= 57))))
    math = np.concatenate(([0], np.cumsum(np.isin(codes, _MATH_CODES))))
    n = np.maximum(ends - starts, 1).astype(np.float64)
    last = codes[np.maximum(ends - 1, 0)] if len(codes) else np.zeros(len(ends), np.uint32)
    return np.stack(
        [
            np.log1p(ends - starts),
            (digit[ends] - digit[starts]) / n,
            (math[ends] - math[starts]) / n,
            last == ord("?"),
            last == ord(":"),
        ],
        axis=1,
    ).astype(np.float64)
