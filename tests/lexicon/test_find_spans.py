"""find_spans / find_grams: word boundaries, apostrophes, whitespace, overlaps; and the
Aho-Corasick matcher against a brute-force loop reference."""

from __future__ import annotations

import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hicra.lexicon import Span, StrategicLexicon, normalize_text
from hicra.lexicon.normalize import WHITESPACE, is_word_char

DEFAULT = StrategicLexicon.default()


def phrases_found(lexicon, text):
    return [s.phrase for s in lexicon.find_spans(text)]


def test_word_boundaries():
    lexicon = StrategicLexicon.from_phrases(["so", "but", "now", "next", "hmm,", "## step"])
    assert phrases_found(lexicon, "also reason solve isotope") == []
    assert phrases_found(lexicon, "button attribute but_x but2 butter") == []
    assert phrases_found(lexicon, "know snow nowhere nextgen") == []
    assert phrases_found(lexicon, "So, but now next.") == ["so", "but", "now", "next"]
    assert phrases_found(lexicon, "(so)-but'now\"next") == ["so", "but", "now", "next"]
    # a phrase ending in punctuation needs no boundary after it; one starting with it none before
    assert phrases_found(lexicon, "hmm,so x## step") == ["hmm,", "so", "## step"]
    assert phrases_found(lexicon, "ahmm, ## steps") == []
    # letters of any script and combining marks are word characters
    assert phrases_found(lexicon, "soé éso so\u0301 σso so数") == []


def test_spans_are_original_character_offsets():
    text = "Wait,   BUT\n\n  WAIT now"
    lexicon = StrategicLexicon.from_phrases(["but wait", "wait", "now"])
    spans = lexicon.find_spans(text)
    assert spans == [
        Span(0, 4, "wait"),
        Span(8, 19, "but wait"),
        Span(15, 19, "wait"),
        Span(20, 23, "now"),
    ]
    assert text[8:19] == "BUT\n\n  WAIT"


def test_apostrophe_variants_and_case():
    lexicon = StrategicLexicon.from_phrases(
        ["let's", "that can't be right", "wait, that's not right"]
    )
    for apostrophe in ("'", "\u2019", "\u02bc", "\u2018", "`"):
        text = f"LET{apostrophe}S go; That can{apostrophe}t  be\nright."
        assert phrases_found(lexicon, text) == ["let's", "that can't be right"], text
    assert phrases_found(lexicon, "lets go") == []
    assert phrases_found(lexicon, "Wait,\tthat’s NOT right") == ["wait, that's not right"]


def test_unicode_hyphens_are_hyphens_and_dashes_are_not():
    lexicon = StrategicLexicon.from_phrases(["step-by-step reasoning"])
    assert phrases_found(lexicon, "Step\u2010by\u2011step reasoning") == ["step-by-step reasoning"]
    assert phrases_found(lexicon, "step\u2013by\u2014step reasoning") == []


def test_casefold_expansion_keeps_offsets():
    lexicon = StrategicLexicon.from_phrases(["strasse", "so"])
    text = "Die STRAßE, so"  # "ß" folds to "ss": one original char, two normalised
    spans = lexicon.find_spans(text)
    assert spans == [Span(4, 10, "strasse"), Span(12, 14, "so")]
    assert text[4:10] == "STRAßE"


def test_nested_and_overlapping_matches_are_all_returned():
    spans = DEFAULT.find_spans("The problem states that we can see that")
    assert [(s.start, s.end, s.phrase) for s in spans] == [
        (0, 18, "the problem states"),
        (4, 23, "problem states that"),
        (12, 23, "states that"),
        (24, 30, "we can"),
        (24, 34, "we can see"),
        (27, 39, "can see that"),
    ]


def test_find_grams_is_leftmost_longest_non_overlapping():
    lexicon = StrategicLexicon.from_phrases(["but", "but wait", "wait", "wait, but", "so"])
    text = "but wait, but so"
    assert [(s.start, s.end, s.phrase) for s in lexicon.find_grams(text)] == [
        (0, 8, "but wait"),
        (10, 13, "but"),
        (14, 16, "so"),
    ]
    grams = DEFAULT.find_grams("The problem states that we can see that")
    assert [g.phrase for g in grams] == ["the problem states", "we can see"]


def test_whitespace_table_is_every_isspace_char():
    assert set(WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}


def test_casefold_never_shrinks_a_character():
    # normalize_text relies on it: equal lengths after casefold means a 1:1 map.
    assert all(len(chr(c).casefold()) >= 1 for c in range(sys.maxunicode + 1))


def test_detached_punctuation_reads_wordpiece_spacing():
    lexicon = StrategicLexicon.from_phrases(
        ["wait, but", "let's", "step-by-step reasoning", "## step"]
    )
    text = "wait , but let ' s step - by - step reasoning # # step"
    assert phrases_found(lexicon, text) == []
    starts, ends, ids = lexicon.span_arrays(text, detached_punctuation=True)
    assert [lexicon.phrases[i] for i in ids] == [
        "wait, but",
        "let's",
        "step-by-step reasoning",
        "## step",
    ]
    assert [text[s:e] for s, e in zip(starts, ends)] == [
        "wait , but",
        "let ' s",
        "step - by - step reasoning",
        "# # step",
    ]


def reference_spans(lexicon, text):
    """Loop reference: str.find of every normalised phrase, then the boundary rule."""
    norm, index = normalize_text(text)
    found = set()
    for phrase in lexicon.phrases:
        key = normalize_text(phrase).text.strip()
        at = norm.find(key)
        while at >= 0:
            end = at + len(key)
            left_ok = not (is_word_char(key[0]) and at > 0 and is_word_char(norm[at - 1]))
            right_ok = not (is_word_char(key[-1]) and end < len(norm) and is_word_char(norm[end]))
            if left_ok and right_ok:
                found.add(Span(int(index[at]), int(index[end - 1]) + 1, phrase))
            at = norm.find(key, at + 1)
    return sorted(found, key=lambda s: (s.start, s.end))


WORDS = [
    "so",
    "also",
    "but",
    "wait",
    "let's",
    "let’s",
    "we",
    "can",
    "see",
    "that",
    "now",
    "know",
    "Hmm,",
    "step",
    "##",
    "-",
    "by",
    "the",
    "problem",
    "states",
    "ß",
    "STRASSE",
    "é",
]
SEPARATORS = [" ", "  ", "\n", "\n\n", ", ", "", ".", "\t", "\u00a0"]


@st.composite
def texts(draw):
    parts = draw(
        st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=25)
    )
    return "".join(w + s for w, s in parts)


@settings(max_examples=150, deadline=None)
@given(texts())
def test_automaton_equals_loop_reference(text):
    lexicon = StrategicLexicon.from_phrases(
        [
            "so",
            "but wait",
            "wait",
            "let's",
            "we can",
            "we can see",
            "can see that",
            "hmm,",
            "## step",
            "step-by-step",
            "strasse",
            "the problem states",
            "now",
        ]
    )
    assert lexicon.find_spans(text) == reference_spans(lexicon, text)


@settings(max_examples=60, deadline=None)
@given(texts())
def test_default_lexicon_equals_loop_reference(text):
    assert DEFAULT.find_spans(text) == reference_spans(DEFAULT, text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_normalisation_index_is_monotone_and_in_range(text):
    norm, index = normalize_text(text)
    assert len(index) == len(norm)
    assert np.all(np.diff(index) >= 0) and (
        len(index) == 0 or (index[0] >= 0 and index[-1] < len(text))
    )
    assert "  " not in norm
    spans = DEFAULT.find_spans(text)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
