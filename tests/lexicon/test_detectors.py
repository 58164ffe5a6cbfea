"""The detector registry: one loader for every spelling of a lexicon or detector."""

import pytest

from hicra.lexicon import Detector, Span, StrategicLexicon, detector_names, load_detector
from hicra.lexicon.detectors import detector_name


class Upper(Detector):
    """Marks each run of upper-case letters (a detector that is not a lexicon)."""

    name = "upper"

    def find_spans(self, text):
        spans, start = [], None
        for i, ch in enumerate(text + " "):
            if ch.isupper() and start is None:
                start = i
            elif not ch.isupper() and start is not None:
                spans.append(Span(start, i, text[start:i]))
                start = None
        return spans


class FakeTask:
    def planning_lexicon(self):
        return StrategicLexicon.from_phrases(["check"])


def test_spellings_resolve_to_one_detector(tmp_path):
    assert load_detector("lexicon") is load_detector("default")
    assert load_detector(None) == StrategicLexicon.default()
    assert load_detector("", FakeTask()).phrases == ("check",)
    assert load_detector("task", FakeTask()).phrases == ("check",)
    path = tmp_path / "lex.txt"
    path.write_text("try again\n")
    assert load_detector(str(path)).phrases == ("try again",)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match="unknown detector 'nope': expected one of .*lexicon.*task"
    ):
        load_detector("nope")
    with pytest.raises(ValueError, match="needs a task"):
        load_detector("task")
    assert "lexicon" in detector_names() and "default" in detector_names()


def test_a_detector_tags_tokens_through_offsets():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[UNK]", "so", "WAIT", "we", "TRY", "again"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    detector = Upper()
    assert detector.tag("so WAIT we TRY again", tok).planning_mask.tolist() == [
        False,
        True,
        False,
        True,
        False,
    ]
    ids = [[1, 2, 3, 4, 5], [2, 2, 0, 0, 0]]
    mask = detector.tag_batch(ids, tok, response_mask=[[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    assert mask.tolist() == [[False, True, False, True, False], [True, True, False, False, False]]
    assert detector_name(detector) == "upper"
