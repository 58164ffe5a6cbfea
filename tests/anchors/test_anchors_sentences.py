"""Sentence splitting: Thought Anchors' rules, as spans into the original text."""

from __future__ import annotations

import gzip
import json

import pytest
from anchors_helpers import DATA

from hicra.anchors.sentences import first_sentence, split_sentences


def test_spans_are_exact_slices_and_cover_the_words():
    text = "  Let x = 2.  Then y = 3?\nYes!\n\nSo x + y = 5. Done here"
    sentences = split_sentences(text)
    # "Yes!" (4 characters) merges into the next piece, the short tail "Done here" into the one before
    assert [s.text for s in sentences] == [
        "Let x = 2.",
        "Then y = 3?",
        "Yes!\n\nSo x + y = 5. Done here",
    ]
    for s in sentences:
        assert text[s.start : s.end] == s.text
    assert "".join(text.split()) == "".join("".join(s.text.split()) for s in sentences)


def test_short_pieces_merge_forward_and_the_last_one_backward():
    # "Ok." (3 chars) joins the next sentence; the short tail "Hm." joins the one before
    got = [s.text for s in split_sentences("Ok. This is a longer one. Another long sentence. Hm.")]
    assert got == ["Ok. This is a longer one.", "Another long sentence. Hm."]


def test_a_decimal_point_is_not_a_boundary():
    assert len(split_sentences("The value 3.14 is close to pi. It is irrational.")) == 2


def test_clauses_split_the_countdown_moves():
    response = (
        "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . "
        "wait let us try a different approach . so the answer is 2 ."
    )
    got = [s.text for s in split_sentences(response, "clauses")]
    assert got == [
        "we can use add then add :",
        "2 + 3 = 5 ;",
        "5 + 4 = 2 ;",
        "let us check 2 vs 6 no .",
        "wait let us try a different approach .",
        "so the answer is 2 .",
    ]
    assert [s.text for s in split_sentences(response)][0].startswith(
        "we can use add then add : 2 + 3"
    )


def test_first_sentence_is_the_first_split_sentence():
    for text in (
        " 2 + 3 = 5 ; 5 * 4 = 6 ;",
        "Ok. This is a longer one. More.",
        "",
        "   ",
        "no end",
    ):
        for mode in ("sentences", "clauses"):
            split = split_sentences(text, mode)
            assert first_sentence(text, mode) == (split[0].text if split else "")


def test_unknown_mode_is_one_line():
    with pytest.raises(ValueError, match="unknown sentence mode 'words'"):
        split_sentences("a. b.", "words")


@pytest.mark.skipif(
    not (DATA / "thought_anchors_dev.jsonl.gz").is_file(), reason="shared data absent"
)
def test_published_thought_anchors_chunks_split_back_unchanged():
    """Splitting the published chunks of every dev trace, joined by blank lines, gives them back:
    the splitter cuts nowhere inside a published sentence and merges none of them."""
    with gzip.open(DATA / "thought_anchors_dev.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for row in rows:
        chunks = [c["chunk"] for c in row["chunks"]]
        assert [s.text for s in split_sentences("\n\n".join(chunks))] == chunks, row["problem_id"]
