"""The lexicon-clause and sentence detectors: splitting, features, weights, tagging, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hicra.lexicon import Span, StrategicLexicon, detector_names, load_detector
from hicra.lexicon.detectors import detector_name
from hicra.lexicon.labelled import LabelledFormatError, detected_sentences, evaluate, read_labelled
from hicra.lexicon.sentence_detector import (
    SentenceHead,
    WeightsError,
    minilm_tokenizer,
    package_weights_path,
    sentence_tokens,
    wordpiece_ids,
)
from hicra.lexicon.sentences import split_sentences
from hicra.lexicon.tagging import tag, tag_batch

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DEV = DATA / "thought_anchors_dev.jsonl.gz"
needs_dev = pytest.mark.skipif(
    not DEV.exists(), reason="../shared/data/thought_anchors_dev.jsonl.gz absent"
)
DETECTORS = ["lexicon", "lexicon-clause", "sentence", "sentence-grams"]
TEXTS = [
    "Okay, so I need to find x. First, 3 + 4 = 7. Wait, that can't be right.\n\nLet me try another approach:",
    "Hmm, maybe I should check the constraints again. So the sum is 12. Alternatively, we can use symmetry.",
    "Therefore the answer is 42. But wait, let me verify: 6 * 7 = 42. Yes!",
]


def test_registry_lists_the_detectors_and_the_recommended_alias():
    assert {"lexicon", "lexicon-clause", "sentence", "sentence-grams", "recommended"} <= set(
        detector_names()
    )
    assert load_detector("recommended") is load_detector("sentence")
    assert detector_name(load_detector("sentence")) == "sentence"
    assert detector_name(load_detector("lexicon-clause")) == "lexicon-clause"


def test_import_stays_light():
    code = (
        "import sys, hicra.lexicon; hicra.lexicon.load_detector('lexicon'); "
        "print(any(m in sys.modules for m in ('sklearn', 'sentence_transformers', 'scipy', 'transformers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_split_sentences_rules():
    text = "Okay. So I need x. Then 3 + 4 = 7.\n\nWait, no way"
    assert [text[s:e] for s, e in zip(*split_sentences(text))] == [
        "Okay. So I need x.",
        "Then 3 + 4 = 7.",
        "Wait, no way",
    ]
    # "\x00" is a hard boundary: no sentence crosses it, short pieces never merge over it
    text = "Let me think about it\x00ok\x00Then we add 3 and 4 now."
    pieces = [text[s:e] for s, e in zip(*split_sentences(text))]
    assert pieces == ["Let me think about it", "ok", "Then we add 3 and 4 now."]
    assert split_sentences("")[0].shape == (0,)
    assert split_sentences(" \n\n \x00 ")[0].shape == (0,)


@needs_dev
def test_split_sentences_reproduces_the_labelled_chunks():
    for trace in read_labelled(DEV):
        starts, ends = split_sentences(trace.text)
        assert np.array_equal(starts, trace.starts) and np.array_equal(ends, trace.ends)


def test_evaluate_hand_computed(tmp_path):
    chunks = [
        ("Let me try another way.", "plan_generation", 5.0),
        ("3 + 4 = 7.", "active_computation", 0.1),
        ("Wait, is that right?", "uncertainty_management", 0.2),
        ("So x = 7.", "active_computation", 0.3),
    ]
    path = tmp_path / "one.jsonl"
    path.write_text(
        json.dumps(
            {
                "problem_id": "p1",
                "chunks": [
                    {"chunk": c, "function_tags": [t], "counterfactual_importance_kl": k}
                    for c, t, k in chunks
                ],
            }
        )
        + "\n"
    )
    [trace] = read_labelled(path)
    assert trace.text == "Let me try another way. 3 + 4 = 7. Wait, is that right? So x = 7."
    detected = np.array([True, False, False, True])  # one hit, one false alarm, one miss
    r = evaluate([detected], [trace], top=0.25)  # the top 25% = the first sentence
    assert (r["precision"], r["recall"], r["f1"], r["detected_share"]) == (0.5, 0.5, 0.5, 0.5)
    assert r["lift"] == pytest.approx(1.0 / 0.5) and r["share_by_tag"]["active_computation"] == 0.5
    assert detected_sentences(
        StrategicLexicon.from_phrases(["let me", "wait"]), trace
    ).tolist() == [True, False, True, False]


@pytest.mark.parametrize(
    "record, message",
    [
        (
            {"chunks": [{"chunk": "a", "function_tags": ["x"]}]},
            "one.jsonl:2: field chunks[0].counterfactual_importance_kl missing",
        ),
        ({"problem_id": 3}, "one.jsonl:2: field chunks missing"),
    ],
)
def test_labelled_file_errors_name_file_line_field(tmp_path, record, message):
    good = {
        "chunks": [{"chunk": "a b c", "function_tags": ["x"], "counterfactual_importance_kl": 1}]
    }
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(LabelledFormatError) as err:
        read_labelled(path)
    assert str(err.value).endswith(message)


def test_wordpiece_ids_equal_the_tokenizer():
    tok = minilm_tokenizer()
    for text in TEXTS + ["l’élève naïve café — 数学 😀 x_1^2\tdon't", "a" * 150 + " b"]:
        ids, starts = wordpiece_ids(text)
        encoding = tok.encode(text, add_special_tokens=False)
        assert ids.tolist() == encoding.ids
        assert all(
            not text[s].isspace() and (s == 0 or text[s - 1].isspace()) for s in starts.tolist()
        )


def test_sentence_tokens_assign_each_token_to_its_sentence():
    text = TEXTS[0]
    tokens = sentence_tokens(text)
    assert len(tokens.starts) == 4 and np.all(np.diff(tokens.sentence) >= 0)
    first = tokens.ids[tokens.sentence == 0]
    assert [minilm_tokenizer().id_to_token(int(i)) for i in first] == [
        "okay",
        ",",
        "so",
        "i",
        "need",
        "to",
        "find",
        "x",
        ".",
    ]


def test_collapsed_head_equals_sklearn():
    """`collapse` folds the standardised embedding and hand blocks exactly."""
    from hicra.lexicon import sentence_train as st
    from hicra.lexicon.labelled import LabelledTrace

    rng = np.random.default_rng(0)
    table = rng.normal(size=(30522, 384)).astype(np.float32)
    words = [
        "let me try",
        "maybe we can",
        "3 + 4 = 7",
        "so x = 12",
        "wait, check it",
        "the sum is 9",
    ]
    texts = [". ".join(rng.choice(words, 6)) + "." for _ in range(12)]
    traces = []
    for k, text in enumerate(texts):
        starts, ends = split_sentences(text)
        tags = [
            "plan_generation" if text[s:e][0] in "lmw" else "active_computation"
            for s, e in zip(starts, ends)
        ]
        traces.append(LabelledTrace(text, starts, ends, tags, np.zeros(len(starts)), f"t{k}"))
    tokens = st.trace_tokens(traces)
    sparse, emb, hand = st.design(tokens, table)
    y = np.concatenate([t.planning for t in traces])
    model, scaled = st._fit(sparse, emb, hand, y)
    head = st.collapse(model, scaled, table, 0.5, {})
    expected = model.decision_function(scaled.matrix(sparse, emb, hand))
    got = np.concatenate([head.logits(t) for t in tokens])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_second_stage_folds_exactly_and_reads_only_its_row():
    """`collapse` with a context stage gives sklearn's two-stage logits; context features of a
    batch are those of each row alone."""
    from sklearn.linear_model import LogisticRegression

    from hicra.lexicon import sentence_train as st
    from hicra.lexicon.labelled import LabelledTrace
    from hicra.lexicon.sentence_context import context_features

    rng = np.random.default_rng(1)
    table = rng.normal(size=(30522, 384)).astype(np.float32)
    words = ["let me try", "maybe we can", "3 + 4 = 7", "so x = 12", "wait, check it"]
    traces = []
    for k in range(10):
        text = ". ".join(rng.choice(words, 7)) + "."
        starts, ends = split_sentences(text)
        tags = [
            "self_checking" if text[s:e][0] in "lmw" else "active_computation"
            for s, e in zip(starts, ends)
        ]
        traces.append(LabelledTrace(text, starts, ends, tags, np.zeros(len(starts)), f"t{k}"))
    tokens = st.trace_tokens(traces)
    sparse, emb, hand = st.design(tokens, table)
    y = np.concatenate([t.planning for t in traces])
    row = np.concatenate([[i] * len(t.starts) for i, t in enumerate(traces)])
    model, scaled = st._fit(sparse, emb, hand, y)
    s = model.decision_function(scaled.matrix(sparse, emb, hand))
    features = context_features(s, row, hand)
    head = st.collapse(model, scaled, table, 0.5, {}, st.fit_context(features, y))
    mu, sd = features.mean(0), features.std(0) + 1e-8
    second = LogisticRegression(C=st.CONTEXT_C, max_iter=5000).fit((features - mu) / sd, y)
    expected = second.decision_function((features - mu) / sd)
    got = np.concatenate([head.planning_logits(t) for t in tokens])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    alone = [context_features(s[row == i], row[row == i], hand[row == i]) for i in range(10)]
    np.testing.assert_array_equal(features, np.vstack(alone))
    batch = sentence_tokens("\x00".join(t.text for t in traces[:3]))
    assert batch.row.tolist() == row[: len(batch.row)].tolist()
    np.testing.assert_allclose(
        head.planning_logits(batch), np.concatenate([head.planning_logits(t) for t in tokens[:3]])
    )


CHUNK = {"chunk": "So x = 1.", "function_tags": ["x"], "counterfactual_importance_kl": 1}


def test_folds_group_the_traces_of_a_problem(tmp_path):
    """Traces of one problem (other model, other outcome) never sit on both sides of a fold."""
    from hicra.lexicon.sentence_train import problem_folds

    records = [
        {"problem_id": p, "model": m, "is_correct": c, "chunks": [CHUNK]}
        for p in ("p1", "p2", "p3")
        for m in ("a", "b")
        for c in (True, False)
    ]
    path = tmp_path / "four_per_problem.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    traces = read_labelled(path)
    problems = np.array([t.problem for t in traces])
    assert problems.tolist() == ["p1"] * 4 + ["p2"] * 4 + ["p3"] * 4
    assert len({t.group for t in traces}) == 12
    folds = problem_folds(problems, 5)
    assert len(folds) == 3
    for train, test in folds:
        assert not set(problems[train]) & set(problems[test]) and len(set(problems[test])) == 1
    with pytest.raises(ValueError, match="at least 2 problems"):
        problem_folds(problems[:4], 5)


def test_threshold_for_recall():
    from hicra.lexicon.sentence_train import threshold_for_recall

    p, y = np.array([0.9, 0.8, 0.7, 0.3, 0.2]), np.array([1, 0, 1, 1, 0], bool)
    assert threshold_for_recall(p, y, 0.6) == 0.7 and threshold_for_recall(p, y, 1.0) == 0.3


def test_operating_points_equal_a_brute_force_over_thresholds():
    """Best precision at recall >= r and best recall at precision >= p over every threshold
    (ties detected together), AUC as sklearn computes it; -inf is never detected."""
    from sklearn.metrics import roc_auc_score

    from hicra.lexicon.labelled import operating_points

    rng = np.random.default_rng(0)
    for _ in range(20):
        s = np.round(rng.normal(size=200), 1)  # many ties
        y = rng.random(200) < 0.35 + 0.15 * np.tanh(s)
        s[rng.random(200) < 0.1] = -np.inf
        got = operating_points(s, y, 0.8, 0.6)
        best_p, best_r = float("nan"), 0.0
        for t in np.unique(s[np.isfinite(s)]):
            hit = s >= t
            p, r = (hit & y).sum() / hit.sum(), (hit & y).sum() / y.sum()
            if r >= 0.8:
                best_p = p if best_p != best_p else max(best_p, p)
            if p >= 0.6:
                best_r = max(best_r, r)
        assert got["precision_at_recall"] == pytest.approx(best_p, nan_ok=True)
        assert got["recall_at_precision"] == pytest.approx(best_r)
        assert got["auc"] == pytest.approx(roc_auc_score(y, np.where(np.isinf(s), -1e9, s)))


def test_sentence_spans_are_whole_sentences_or_the_grams_inside():
    text = TEXTS[1]
    whole, grams = (
        load_detector("sentence").find_spans(text),
        load_detector("sentence-grams").find_spans(text),
    )
    starts, ends = split_sentences(text)
    assert whole and all(
        (s.start, s.end) in set(zip(starts.tolist(), ends.tolist())) for s in whole
    )
    assert grams and all(any(w.start <= g.start and g.end <= w.end for w in whole) for g in grams)
    assert {g.phrase for g in grams} <= set(StrategicLexicon.default().phrases)
    assert load_detector("sentence").find_grams(text) == [
        g
        for g in StrategicLexicon.default().find_grams(text)
        if any(w.start <= g.start < w.end for w in whole)
    ]


@pytest.mark.parametrize("name", DETECTORS)
def test_spans_never_cross_a_row_boundary(name):
    detector = load_detector(name)
    text = "\x00".join(TEXTS + ["Let me try it\x00Wait"])
    starts, ends, _ = detector.span_arrays(text)
    assert all("\x00" not in text[s:e] for s, e in zip(starts.tolist(), ends.tolist()))
    # each row is tagged as if it stood alone
    offset = 0
    for row in text.split("\x00"):
        alone = detector.span_arrays(row)
        inside = (starts >= offset) & (ends <= offset + len(row))
        assert (starts[inside] - offset).tolist() == alone[0].tolist()
        offset += len(row) + 1


def _batch(results, pad_id):
    width = max(len(r.token_ids) for r in results) + 2
    ids = np.full((len(results), width), pad_id, dtype=np.int64)
    mask = np.zeros(ids.shape, dtype=bool)
    for b, r in enumerate(results):
        ids[b, 1 : len(r.token_ids) + 1], mask[b, 1 : len(r.token_ids) + 1] = (
            r.token_ids,
            True,
        )  # padding both sides
    return torch.from_numpy(ids), torch.from_numpy(mask)


@pytest.mark.parametrize("name", DETECTORS)
def test_tag_and_tag_batch_agree_byte_level(name, tokenizers_by_family):
    tok, detector = tokenizers_by_family["byte_level"], load_detector(name)
    results = [tag(detector, text, tok) for text in TEXTS]
    ids, mask = _batch(results, 0)
    planning = tag_batch(detector, ids, tok, mask)
    assert not planning[~mask].any()
    for b, r in enumerate(results):
        assert planning[b][mask[b]].tolist() == r.planning_mask.tolist()
    assert sum(r.planning_mask.sum() for r in results) > 0


@pytest.mark.parametrize("name", DETECTORS)
def test_tag_and_tag_batch_agree_wordpiece(name, minilm_tokenizer):
    """WordPiece ids lose case and the spacing around punctuation; the sentence detector's
    hand features (lengths, shares) then move a little, so agreement is near, not exact."""
    detector = load_detector(name)
    results = [tag(detector, text, minilm_tokenizer) for text in TEXTS]
    ids, mask = _batch(results, minilm_tokenizer.pad_token_id)
    planning = tag_batch(detector, ids, minilm_tokenizer, mask)
    agree = np.mean(
        [
            x == y
            for b, r in enumerate(results)
            for x, y in zip(planning[b][mask[b]].tolist(), r.planning_mask.tolist())
        ]
    )
    assert agree >= (0.999 if name.startswith("lexicon") else 0.95)


def test_missing_and_corrupt_weights_say_how_to_rebuild(tmp_path):
    for path, why in ((tmp_path / "absent.npz", "missing"), (tmp_path / "bad.npz", "corrupt")):
        if why == "corrupt":
            path.write_bytes(b"not a zip file")
        with pytest.raises(WeightsError) as err:
            SentenceHead.load(path)
        line = str(err.value)
        assert (
            "\n" not in line
            and str(path) in line
            and why in line
            and "hicra detector train" in line
        )
    head = SentenceHead.load(package_weights_path())
    broken = tmp_path / "short.npz"
    np.savez(
        broken, **{k: v for k, v in np.load(package_weights_path()).items() if k != "token_bag"}
    )
    with pytest.raises(WeightsError, match="corrupt"):
        SentenceHead.load(broken)
    assert 0 < head.threshold < 1 and head.meta["traces"] == 20


def test_shipped_weights_have_provenance():
    meta = json.loads(package_weights_path().with_suffix(".json").read_text())
    assert (
        meta["sha256"]
        and meta["command"].startswith("hicra detector train")
        and "grouped_cv" in meta
    )


def test_lexicon_clause_keeps_grams_of_first_person_clauses():
    det = load_detector("lexicon-clause")
    assert det.find_spans("So 3 + 4 = 7. So I should try again.") == [Span(14, 16, "so")]
    assert det.find_spans("Therefore, x = 2; but we know y.")[0].phrase == "but"
    # a gram belongs to the clause it starts in: "Wait," speaks of no one
    assert det.find_grams("Wait, but let me check.") == [Span(10, 16, "let me")]


@pytest.mark.parametrize("name", ["lexicon-clause", "sentence"])
def test_detectors_answer_what_reports_ask(name):
    """Reports highlight grams with `phrase in detector` and `detector.category(phrase)`."""
    detector = load_detector(name)
    assert "wait" in detector and "not a gram at all" not in detector
    assert detector.category("wait") is None  # the published list has no categories


def test_analysis_token_mask_follows_any_detector():
    """`hicra analyze` reads token masks from text and offsets with the detector's spans."""
    from hicra.dynamics.analysis import planning_mask_from_offsets

    text = TEXTS[0]
    encoding = minilm_tokenizer().encode(text, add_special_tokens=False)
    for name in DETECTORS:
        detector = load_detector(name)
        expected = tag(detector, text, minilm_tokenizer()).planning_mask.tolist()
        assert planning_mask_from_offsets(text, encoding.offsets, detector) == expected
