"""Semantic entropy (nats) and the conditional-entropy control, hand-computed."""

import math

import pytest

from hicra.dynamics import StepAccumulator, conditional_entropy, shannon_entropy, step_metrics
from hicra.dynamics.semantic import category_entropies, following_ngram
from hicra.lexicon import StrategicLexicon


@pytest.fixture
def lexicon():
    return StrategicLexicon.from_phrases(
        ["wait", "but wait", "let me check", "alternatively"],
        categories=["backtrack", "backtrack", "verify", "branch"],
    )


def test_shannon_entropy_nats():
    assert shannon_entropy({"a": 1, "b": 1}) == pytest.approx(math.log(2))
    assert shannon_entropy([4]) == 0.0
    assert shannon_entropy([]) == 0.0


def test_conditional_entropy_hand_computed():
    # g1 followed by x twice and y twice (H = ln 2), g2 always by z (H = 0); p(g1) = 4/6
    pairs = {("g1", "x"): 2, ("g1", "y"): 2, ("g2", "z"): 2}
    assert conditional_entropy(pairs) == pytest.approx(4 / 6 * math.log(2))


def test_following_ngram():
    assert following_ngram("Wait, so x = 2 and", 4, 3) == (",", "so", "x")
    assert following_ngram("Wait now", 4, 3) is None
    long_gap = "wait" + " " * 1000 + "a b c"
    assert following_ngram(long_gap, 4, 3) == ("a", "b", "c")


def test_semantic_metrics_hand_computed(lexicon):
    texts = [
        "But wait, x is 2. Let me check: x + 1 = 3.",  # but wait, let me check
        "Wait, y is 3. Alternatively y = 4 minus 1.",  # wait, alternatively
        "No strategy here at all.",
    ]
    m = step_metrics(texts, lexicon)
    counts = {"but wait": 1, "let me check": 1, "wait": 1, "alternatively": 1}
    assert m["semantic/entropy"] == pytest.approx(math.log(4))
    assert m["semantic/distinct_grams"] == 4
    assert m["semantic/occurrences"] == 4
    assert m["semantic/grams_per_response"] == pytest.approx(4 / 3)
    # each gram seen once -> its follow-up is deterministic -> H(F|G) = 0
    assert m["semantic/cond_entropy"] == 0.0
    assert m["semantic/entropy_backtrack"] == pytest.approx(math.log(2))
    assert m["semantic/entropy_verify"] == 0.0
    assert m["backtrack/rate"] == pytest.approx(2 / 3)
    assert m["semantic/rate_branch"] == pytest.approx(1 / 3)
    assert category_entropies(counts, lexicon.category)["backtrack"] == pytest.approx(math.log(2))


def test_cond_entropy_through_accumulator(lexicon):
    texts = ["wait a b c", "wait a b d", "wait a b c", "alternatively q r s"]
    m = step_metrics(texts, lexicon)
    # wait: follow-ups (a,b,c) x2, (a,b,d) x1 -> H = H(2/3, 1/3); p(wait) = 3/4
    h_wait = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert m["semantic/cond_entropy"] == pytest.approx(0.75 * h_wait)
    assert m["semantic/entropy"] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_batches_fold_exactly(lexicon):
    texts = ["wait a b c", "but wait x y z", "let me check 1 2 3", "wait a b d"] * 3
    whole = step_metrics(texts, lexicon, rewards=list(range(12)))
    acc = StepAccumulator(lexicon)
    for i in range(0, 12, 5):
        acc.update(texts[i : i + 5], rewards=list(range(i, min(i + 5, 12))))
    assert acc.result() == pytest.approx(whole)


def test_default_lexicon_has_no_backtrack_rate():
    m = step_metrics(["But wait, let me think."], StrategicLexicon.default())
    assert "backtrack/rate" not in m and m["semantic/occurrences"] >= 1
