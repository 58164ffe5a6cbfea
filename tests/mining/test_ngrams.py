from hicra.mining.ngrams import (
    document_frequency,
    document_ngrams,
    ngram_text,
    word_runs,
    words,
)


def test_normalise_case_apostrophes_whitespace():
    assert ngram_text("Let\u2019s   TRY \t again\r\n\n NOW") == "let's try again\nnow"


def test_runs_break_at_sentences_lines_and_punctuation():
    text = "We can use the fact that. Then: let me see\nwhat x^2 gives, i think"
    assert word_runs(text) == [
        ["we", "can", "use", "the", "fact", "that"],
        ["then"],
        ["let", "me", "see"],
        ["what", "x"],
        ["gives"],
        ["i", "think"],
    ]


def test_words_keep_apostrophes_and_hyphens_drop_digits():
    assert words("Let me double-check: 3x isn't 12") == ["let", "me", "double-check", "x", "isn't"]


def test_no_ngram_crosses_a_sentence_boundary():
    grams = document_ngrams("one two three. four five six", 3, 5)
    assert grams == {"one two three", "four five six"}


def test_document_frequency_counts_documents_not_occurrences():
    df, n = document_frequency(["a b c a b c", "a b c", "x y z"], 3, 3)
    assert n == 3
    assert df["a b c"] == 2 and df["b c a"] == 1 and df["x y z"] == 1
