"""The Thought Anchors estimators: hand-computed cases and the published data's conventions."""

from __future__ import annotations

import gzip
import json
import math

import pytest
from anchors_helpers import DATA

from hicra.anchors.estimators import Resample, accuracy, answer_kl, sentence_importance


def R(answer, correct, similarity=math.nan, replacement=""):
    return Resample(answer, correct, similarity, replacement)


def test_accuracy_ignores_unanswered_and_is_zero_when_none_answered():
    assert accuracy([R("5", True), R("", False), R("3", False)]) == 0.5
    assert accuracy([R("", False)]) == 0.0


def test_answer_kl_by_hand():
    p = [R("1", True)] * 3 + [R("2", False)]  # (3/4, 1/4)
    q = [R("1", True)] + [R("2", False)]  # (1/2, 1/2)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert answer_kl(p, q, alpha=0.0) == pytest.approx(expected)
    # an answer missing from q: smoothing alpha over the union of supports
    q2 = [R("1", True)] * 2
    a = 1e-9
    pa, pb = (3 + a) / (4 + 2 * a), (1 + a) / (4 + 2 * a)
    qa, qb = (2 + a) / (2 + 2 * a), a / (2 + 2 * a)
    assert answer_kl(p, q2, alpha=a) == pytest.approx(
        pa * math.log(pa / qa) + pb * math.log(pb / qb)
    )
    assert answer_kl(p, p) == 0.0
    assert answer_kl([R("", False)], q) == 0.0


def test_importances_by_hand():
    # R_i: four resamples of S_i; two say something different (cosine < 0.8), both wrong
    removed = [
        R("6", True, 0.95, "a"),
        R("6", True, 0.9, "a"),
        R("2", False, 0.3, "b"),
        R("3", False, 0.1, "c"),
    ]
    kept = [R("6", True)] * 3 + [R("2", False)]  # R_{i+1}: accuracy 3/4
    out = sentence_importance(removed, kept, threshold=0.8, alpha=1.0)
    assert out["accuracy"] == 0.5
    assert out["resampling_importance_accuracy"] == pytest.approx(0.75 - 0.5)  # kept - replaced
    assert out["counterfactual_importance_accuracy"] == pytest.approx(
        0.0 - 0.75
    )  # different - kept
    assert out["different_trajectories_fraction"] == 0.5
    assert out["overdeterminedness"] == pytest.approx(1 - 3 / 4)  # a, a, b, c
    # counterfactual KL: P(different) = {2: 1, 3: 1} vs kept + similar = {6: 5, 2: 1}, add-one smoothing
    p = {"6": 1 / 5, "2": 2 / 5, "3": 2 / 5}
    q = {"6": 6 / 9, "2": 2 / 9, "3": 1 / 9}
    assert out["counterfactual_importance_kl"] == pytest.approx(
        sum(p[k] * math.log(p[k] / q[k]) for k in p)
    )
    assert out["resampling_importance_kl"] == pytest.approx(answer_kl(removed, kept, 1.0))


def test_empty_sets_give_zero_as_published():
    out = sentence_importance([R("6", True, 0.9)], [R("6", True)])  # no different resample
    assert (
        out["counterfactual_importance_accuracy"] == 0.0
        and out["counterfactual_importance_kl"] == 0.0
    )
    out = sentence_importance([R("6", True, math.nan)], [R("6", True)])  # NaN: never "different"
    assert out["n_dissimilar"] == 0
    out = sentence_importance(
        [R("", False, 0.1)], [R("6", True)]
    )  # unanswered resamples are dropped
    assert out["n_removed"] == 0 and out["counterfactual_importance_accuracy"] == 0.0
    # the accuracy difference still counts an all-unanswered set as accuracy 0, as published
    assert out["resampling_importance_accuracy"] == 1.0


@pytest.mark.skipif(
    not (DATA / "thought_anchors_dev.jsonl.gz").is_file(), reason="shared data absent"
)
def test_published_resampling_importance_is_next_accuracy_minus_this_one():
    """The authors' published resampling_importance_accuracy of sentence i equals
    accuracy(i + 1) - accuracy(i) of their published accuracies, and 0 for the last sentence:
    the sign and the sets our estimator uses."""
    with gzip.open(DATA / "thought_anchors_dev.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for row in rows:
        chunks = row["chunks"]
        for here, after in zip(chunks, chunks[1:]):
            assert here["resampling_importance_accuracy"] == pytest.approx(
                after["accuracy"] - here["accuracy"]
            )
        assert chunks[-1]["resampling_importance_accuracy"] == 0.0
        assert all(
            c["resampling_importance_kl"] >= 0 and c["counterfactual_importance_kl"] >= 0
            for c in chunks
        )
