"""StrategicLexicon: the file format, the published list, and bad input."""

from __future__ import annotations

import pytest

from hicra.lexicon import LexiconFormatError, StrategicLexicon


def test_default_is_the_published_249_phrase_list():
    lexicon = StrategicLexicon.default()
    assert len(lexicon) == 249
    assert lexicon.phrases[0] == "## step"  # a phrase, not a comment
    for phrase in (
        "but",
        "so",
        "wait",
        "let me",
        "let's",
        "hmm,",
        "does this hold true?",
        "work our way",
    ):
        assert phrase in lexicon
    assert (
        "# One phrase a line, lower-case, whitespace normalised; transcribed from the paper's listing."
        not in lexicon
    )
    assert lexicon.category("but") is None and lexicon.categories() == {}


def test_default_ships_its_citation():
    from importlib import resources

    text = (
        resources.files("hicra.lexicon")
        .joinpath("data", "strategic_grams_wang2025.txt")
        .read_text("utf-8")
    )
    assert "arXiv:2509.03646" in text.splitlines()[1]


def test_file_format_comments_categories_and_roundtrip(tmp_path):
    path = tmp_path / "lex.txt"
    path.write_text(
        "# my lexicon\n#\n\n## step\nlet's try a different approach\tbranching\n"
        "  we   can use the fact that\tdeduction\nbut the problem mentions that\tbacktracing\n#x\n"
        "   # an indented comment\nso\t\n",
        encoding="utf-8",
    )
    lexicon = StrategicLexicon.from_file(path)
    assert lexicon.phrases == (
        "## step",
        "let's try a different approach",
        "we can use the fact that",
        "but the problem mentions that",
        "#x",
        "so",
    )
    assert lexicon.category("let's try a different approach") == "branching"
    assert lexicon.category("## step") is None and lexicon.category("so") is None
    assert lexicon.categories() == {
        "branching": ["let's try a different approach"],
        "deduction": ["we can use the fact that"],
        "backtracing": ["but the problem mentions that"],
    }
    assert "#x" in lexicon and "# my lexicon" not in lexicon and 3 not in lexicon

    out = tmp_path / "out.txt"
    lexicon.to_file(out, header="written by a test")
    again = StrategicLexicon.from_file(out)
    assert again.phrases == lexicon.phrases
    assert [again.category(p) for p in again] == [lexicon.category(p) for p in lexicon]
    assert out.read_text(encoding="utf-8").startswith("# written by a test\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("so\nbut\ta\tb\n", ":2: expected 'phrase' or 'phrase<TAB>category'"),
        ("so\n\tdeduction\n", ":2: empty phrase"),
        ("so\nwait\tbad category\n", ":2: category 'bad category'"),
        ("Let's go\nlet’s   GO\n", ":2: phrase"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconFormatError) as err:
        StrategicLexicon.from_file(path)
    assert str(path) + message in str(err.value)
    assert "\n" not in str(err.value)


def test_byte_order_mark_and_crlf_are_not_part_of_a_phrase(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeff## step\r\nso\tdeduction\r\n".encode("utf-8"))
    lexicon = StrategicLexicon.from_file(path)
    assert lexicon.phrases == ("## step", "so") and lexicon.category("so") == "deduction"


def test_unreadable_file_is_one_line_error(tmp_path):
    with pytest.raises(LexiconFormatError, match="missing.txt: cannot read"):
        StrategicLexicon.from_file(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00so")
    with pytest.raises(LexiconFormatError, match="binary.txt: cannot read"):
        StrategicLexicon.from_file(binary)


def test_from_phrases_validates():
    lexicon = StrategicLexicon.from_phrases(["so", "wait"], ["deduction", None])
    assert len(lexicon) == 2 and lexicon.category("so") == "deduction"
    with pytest.raises(LexiconFormatError, match="2 phrases but 1 categories"):
        StrategicLexicon.from_phrases(["so", "wait"], ["x"])
    with pytest.raises(LexiconFormatError, match="phrase 1: .* would read as a comment"):
        StrategicLexicon.from_phrases(["so", "# step"])
    with pytest.raises(LexiconFormatError, match="phrase 0: a phrase is one line"):
        StrategicLexicon.from_phrases(["a\tb"])
    with pytest.raises(LexiconFormatError, match="phrase 0: empty phrase"):
        StrategicLexicon.from_phrases(["   "])
    with pytest.raises(KeyError):
        lexicon.category("absent")


def test_empty_lexicon_matches_nothing():
    lexicon = StrategicLexicon.from_phrases([])
    assert len(lexicon) == 0
    assert lexicon.find_spans("so but wait") == [] and lexicon.find_grams("so") == []


def test_pickle_roundtrip_rebuilds_the_matcher():
    import pickle

    lexicon = StrategicLexicon.from_phrases(["so", "but wait"], ["deduction", None])
    lexicon.find_spans("so")  # builds the automaton
    again = pickle.loads(pickle.dumps(lexicon))
    assert again == lexicon and again.category("so") == "deduction"
    assert again.find_spans("but  wait, so") == lexicon.find_spans("but  wait, so")
    assert lexicon != StrategicLexicon.from_phrases(["so"]) and hash(again) == hash(lexicon)
