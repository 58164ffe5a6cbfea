"""tag / tag_batch on every tokenizer family: offsets, padding, and the planning rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hicra.lexicon import StrategicLexicon, load_detector
from hicra.lexicon.pieces import PROBE_TEXT, backend_of, decode_rows, piece_table
from hicra.lexicon.tagging import overlap_mask, tag, tag_batch

DEFAULT = StrategicLexicon.default()

# In-corpus texts (see conftest.CORPUS), so that word-level tokenizers have no unknown tokens.
TEXTS = [
    "Let's try a different approach. But wait, that can't be right.",
    "So we need to find the value of x. First, we can use the fact that 3 + 4 = 7.",
    "Hmm, maybe I can rewrite the equation. Alternatively, let me check the constraints again.",
    "## Step 2: step-by-step reasoning, then verify the solution. Wait, no: that's wrong!",
    "Now, let’s denote the unknown by y. On second thought, this implies that y > 0.",
    "The problem states that the answer is 42; therefore the sum is even. Also the button works.",
]
FAMILIES = [
    "byte_level",
    "unigram_metaspace",
    "sentencepiece_byte_fallback",
    "wordpiece",
    "word_level",
]
EXPECTED_FAMILY = {
    "byte_level": "byte_level",
    "unigram_metaspace": "metaspace",
    "sentencepiece_byte_fallback": "metaspace",
    "wordpiece": "wordpiece",
    "word_level": "word_level",
}


@pytest.fixture(scope="module", params=[*FAMILIES, "minilm"])
def tokenizer(request, tokenizers_by_family, minilm_tokenizer):
    if request.param == "minilm":
        return minilm_tokenizer
    return tokenizers_by_family[request.param]


def reference_mask(lexicon, text, offsets):
    """Loop reference for the planning rule: any character of the token inside any span."""
    covered = np.zeros(len(text), dtype=bool)
    for span in lexicon.find_spans(text):
        covered[span.start : span.end] = True
    return np.array([bool(covered[s:e].any()) for s, e in offsets], dtype=bool)


def test_overlap_mask_hand_computed():
    # text of 10 chars; spans [1, 3) and [2, 5) -> covered chars 1..4
    mask = overlap_mask(
        np.array([1, 2]),
        np.array([3, 5]),
        np.array([0, 0, 3, 5, 7, 4]),
        np.array([1, 2, 4, 7, 7, 5]),
    )
    assert mask.tolist() == [False, True, True, False, False, True]


@pytest.mark.parametrize("family", FAMILIES)
def test_piece_tables_are_classified(tokenizers_by_family, family):
    assert piece_table(tokenizers_by_family[family]).family == EXPECTED_FAMILY[family]


def test_minilm_is_wordpiece_and_padding_does_not_leak(minilm_tokenizer):
    assert piece_table(minilm_tokenizer).family == "wordpiece"
    result = DEFAULT.tag("But wait.", minilm_tokenizer)  # its tokenizer.json pads to 128
    assert result.tokens == ["but", "wait", "."]
    assert result.planning_mask.tolist() == [True, True, False]


def test_concatenated_pieces_equal_decode(tokenizer):
    backend = backend_of(tokenizer)
    table = piece_table(tokenizer)
    for text in [*TEXTS, PROBE_TEXT]:
        ids = backend.encode(text, add_special_tokens=True).ids  # specials included on purpose
        rows = decode_rows(table, [np.asarray(ids)], backend)
        text_ids = [i for i in ids if not table.special_mask[i]]
        assert rows.text.replace("\x00", "") == backend.decode(text_ids, skip_special_tokens=True)
        assert tokenizer.decode(
            text_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        ) == backend.decode(text_ids, skip_special_tokens=True)


def test_tag_marks_exactly_tokens_overlapping_a_span(tokenizer):
    for text in TEXTS:
        result = tag(DEFAULT, text, tokenizer)
        assert (
            len(result.tokens)
            == len(result.planning_mask)
            == len(result.offsets)
            == len(result.token_ids)
        )
        assert result.planning_mask.dtype == bool
        assert (
            result.planning_mask.tolist() == reference_mask(DEFAULT, text, result.offsets).tolist()
        )
        assert result.spans == DEFAULT.find_spans(text)
        assert result.planning_mask.any() and not result.planning_mask.all()


def test_tag_examples_by_family(tokenizers_by_family):
    tok = tokenizers_by_family["byte_level"]
    result = tag(DEFAULT, "Also the button, so", tok)
    planning = [t for t, p in zip(result.tokens, result.planning_mask) if p]
    assert "".join(planning).replace("Ġ", "") == "so"
    result = tag(DEFAULT, "But wait, let’s see", tokenizers_by_family["wordpiece"])
    assert [t for t, p in zip(result.tokens, result.planning_mask) if p] == [
        "but",
        "wait",
        "let",
        "’",
        "s",
    ]


def _pad(rows, pad_id, side):
    width = max(map(len, rows)) + 2
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=bool)
    for b, row in enumerate(rows):
        if side == "right":
            ids[b, : len(row)], mask[b, : len(row)] = row, True
        else:
            ids[b, width - len(row) :], mask[b, width - len(row) :] = row, True
    return ids, mask


@pytest.mark.parametrize("side", ["left", "right"])
def test_batch_equals_per_text(tokenizer, side):
    results = [tag(DEFAULT, text, tokenizer) for text in TEXTS]
    ids, mask = _pad([r.token_ids for r in results], tokenizer.pad_token_id, side)
    planning_mask = tag_batch(DEFAULT, torch.from_numpy(ids), tokenizer, torch.from_numpy(mask))
    assert planning_mask.dtype == torch.bool and planning_mask.shape == ids.shape
    assert not planning_mask[~torch.from_numpy(mask)].any()
    for b, result in enumerate(results):
        assert (
            planning_mask[b][torch.from_numpy(mask[b])].tolist() == result.planning_mask.tolist()
        ), TEXTS[b]
    # without a response_mask the tokenizer's pad id marks padding
    assert torch.equal(DEFAULT.tag_batch(ids, tokenizer), planning_mask)


def test_batch_marks_planning_spread_over_special_tokens(tokenizers_by_family):
    """A special token stands for a boundary: it never joins two words into one."""
    tok = tokenizers_by_family["byte_level"]
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    lexicon = StrategicLexicon.from_phrases(["also", "so"])
    so = tok("so", add_special_tokens=False)["input_ids"]
    al = tok("al", add_special_tokens=False)["input_ids"]
    ids = np.array([[*al, eos, *so, eos]])
    assert tag_batch(lexicon, ids, tok, np.ones_like(ids, dtype=bool)).tolist() == [
        [False] * len(al) + [False] + [True] * len(so) + [False]
    ]


def test_byte_level_token_splitting_a_character(tokenizers_by_family):
    """Byte-level BPE may cut a multibyte character; both halves touch it."""
    tok = tokenizers_by_family["byte_level"]
    lexicon = StrategicLexicon.from_phrases(["ж так"])  # Cyrillic is not in the training corpus
    text = "а ж так"
    result = tag(lexicon, text, tok)
    assert len(result.tokens) > len(text)  # characters were split into bytes
    ids = result.token_ids[None]
    batch = tag_batch(lexicon, ids, tok, np.ones_like(ids, dtype=bool))[0]
    assert batch.tolist() == result.planning_mask.tolist()
    rows = decode_rows(piece_table(tok), [result.token_ids], backend_of(tok))
    assert rows.text == text
    # a truncated response ending inside a character still decodes, one char per stray byte
    cut = decode_rows(piece_table(tok), [result.token_ids[:-1]], backend_of(tok))
    assert len(cut.char_starts) == len(result.token_ids) - 1


def test_raw_tokenizers_tokenizer_is_accepted(tokenizers_by_family):
    wrapped = tokenizers_by_family["unigram_metaspace"]
    raw = wrapped.backend_tokenizer
    text = TEXTS[0]
    assert (
        tag(DEFAULT, text, raw).planning_mask.tolist()
        == tag(DEFAULT, text, wrapped).planning_mask.tolist()
    )
    ids = np.asarray([tag(DEFAULT, text, raw).token_ids])
    assert torch.equal(tag_batch(DEFAULT, ids, raw), tag_batch(DEFAULT, ids, wrapped))


def test_tag_batch_rejects_bad_input(tokenizers_by_family):
    tok = tokenizers_by_family["byte_level"]
    with pytest.raises(ValueError, match=r"\(B, T\) integer"):
        tag_batch(DEFAULT, np.zeros(5, dtype=np.int64), tok)
    with pytest.raises(ValueError, match="response_mask shape"):
        tag_batch(DEFAULT, np.zeros((2, 5), dtype=np.int64), tok, np.ones((2, 4), dtype=bool))
    with pytest.raises(TypeError, match="fast"):
        tag(DEFAULT, "so", object())


def test_out_of_range_ids_have_no_text(tokenizers_by_family):
    tok = tokenizers_by_family["byte_level"]
    so = tok("so", add_special_tokens=False)["input_ids"]
    ids = np.array([[10**6, *so, -100]])
    assert tag_batch(DEFAULT, ids, tok, np.ones_like(ids, dtype=bool)).tolist() == [
        [False] + [True] * len(so) + [False]
    ]


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
    "the",
    "button",
    "x",
    "=",
    "7",
    "problem",
    "states",
    "naïve",
    "数学",
    "Hmm,",
    "step-by-step",
    "reasoning",
]


@st.composite
def word_texts(draw):
    parts = draw(
        st.lists(
            st.tuples(st.sampled_from(WORDS), st.sampled_from([" ", "  ", "\n", ", ", ". "])),
            max_size=20,
        )
    )
    return "".join(w + s for w, s in parts)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=word_texts(),
    family=st.sampled_from(
        ["byte_level", "unigram_metaspace", "sentencepiece_byte_fallback", "wordpiece"]
    ),
)
def test_property_mask_one_entry_per_token_and_exact(tokenizers_by_family, text, family):
    tok = tokenizers_by_family[family]
    result = tag(DEFAULT, text, tok)
    assert len(result.planning_mask) == len(result.tokens)
    assert result.planning_mask.tolist() == reference_mask(DEFAULT, text, result.offsets).tolist()
    # ids that decode back to the text give the same mask from ids alone. WordPiece loses the
    # spacing, and an unknown-token id loses its characters (the unigram test tokenizer has
    # no "\n"): tag_batch cannot see text the ids do not hold (test_unknown_token_...).
    if family != "wordpiece" and tok.decode(result.token_ids, skip_special_tokens=True) == text:
        ids = result.token_ids[None]
        batch = tag_batch(DEFAULT, ids, tok, np.ones_like(ids, dtype=bool))
        assert batch.shape == ids.shape
        assert batch[0].tolist() == result.planning_mask.tolist()


DETECTORS = {
    name: load_detector(name)
    for name in ("lexicon", "lexicon-clause", "sentence", "sentence-grams")
}
# separators all lossless test tokenizers hold ("\n", "\t", "?" are unknown to the unigram one)
LOSSLESS_SEPS = [" ", "  ", ", ", ". ", ": "]


@st.composite
def representable_rows(draw):
    row = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(LOSSLESS_SEPS)), max_size=20)
    return [
        "".join(w + s for w, s in parts) for parts in draw(st.lists(row, min_size=1, max_size=4))
    ]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=representable_rows(),
    family=st.sampled_from(["byte_level", "unigram_metaspace", "sentencepiece_byte_fallback"]),
    detector=st.sampled_from(sorted(DETECTORS)),
    side=st.sampled_from(["left", "right"]),
)
def test_property_tag_batch_equals_tag_on_text_the_ids_hold(
    tokenizers_by_family, texts, family, detector, side
):
    """Every detector, a padded batch of several rows: each row's mask from ids alone equals
    `tag` on its text, whenever the ids decode back to that text (always, for these texts)."""
    tok, det = tokenizers_by_family[family], DETECTORS[detector]
    results = [tag(det, text, tok) for text in texts]
    for text, result in zip(texts, results):
        assert tok.decode(result.token_ids, skip_special_tokens=True) == text
    ids, mask = _pad([r.token_ids for r in results], tok.pad_token_id, side)
    batch = tag_batch(det, ids, tok, mask)
    for b, result in enumerate(results):
        assert batch[b][torch.from_numpy(mask[b])].tolist() == result.planning_mask.tolist()
        assert not batch[b][torch.from_numpy(~mask[b])].any()


def test_unknown_token_hides_its_text_from_tag_batch(tokenizers_by_family):
    """Regression ('we\ncan ', unigram tokenizer without "\n"): the newline becomes the
    unknown token, whose text the ids do not hold. `tag` reads the text and finds "we can"
    across the newline; `tag_batch` sees an unknown token, which stands as a "\x00" boundary,
    and marks nothing. Tokenizers that keep the newline agree on both paths."""
    text = "we\ncan "
    tok = tokenizers_by_family["unigram_metaspace"]
    result = tag(DEFAULT, text, tok)
    unk = tok.convert_tokens_to_ids("<unk>")
    assert result.token_ids.tolist().count(unk) == 1
    assert tok.decode(result.token_ids, skip_special_tokens=True) == "wecan "
    assert result.planning_mask.tolist() == [True] * 6 + [False]  # ▁ we <unk> c a n ▁
    ids = result.token_ids[None]
    assert decode_rows(piece_table(tok), [result.token_ids]).text == "we\x00can "
    assert not tag_batch(DEFAULT, ids, tok, np.ones_like(ids, dtype=bool)).any()
    for family in ("byte_level", "sentencepiece_byte_fallback"):
        lossless = tag(DEFAULT, text, tokenizers_by_family[family])
        assert tokenizers_by_family[family].decode(lossless.token_ids) == text
        assert lossless.planning_mask.any()
        batch = tag_batch(DEFAULT, lossless.token_ids[None], tokenizers_by_family[family])
        assert batch[0].tolist() == lossless.planning_mask.tolist()


def test_unknown_decoder_uses_the_aligned_fallback(tokenizers_by_family):
    from tokenizers import Tokenizer, decoders

    raw = Tokenizer.from_str(tokenizers_by_family["unigram_metaspace"].backend_tokenizer.to_str())
    raw.decoder = decoders.Sequence([decoders.Metaspace()])  # not a shape the table knows
    assert piece_table(raw).family == "aligned"
    results = [tag(DEFAULT, text, raw) for text in TEXTS]
    ids, mask = _pad([r.token_ids for r in results], 0, "left")
    planning_mask = tag_batch(DEFAULT, ids, raw, mask)
    for b, result in enumerate(results):
        assert (
            planning_mask[b][torch.from_numpy(mask[b])].tolist() == result.planning_mask.tolist()
        ), TEXTS[b]


@pytest.mark.parametrize("shape", [(0, 5), (2, 0), (3, 4)])
def test_empty_batches_and_all_padding(tokenizers_by_family, shape):
    for tok in tokenizers_by_family.values():
        ids = torch.zeros(shape, dtype=torch.long)
        out = tag_batch(DEFAULT, ids, tok, torch.zeros(shape, dtype=torch.long))
        assert out.shape == shape and out.dtype == torch.bool and not out.any()
    assert tag(DEFAULT, "", tok).planning_mask.shape == (0,)


def loop_offsets(pieces: list[bytes]) -> tuple[str, list[tuple[int, int]]]:
    """Reference: per-byte walk; a token owns every character one of its bytes belongs to."""
    data = b"".join(pieces)
    text = data.decode("utf-8", "surrogateescape")
    char_of_byte = []
    for k, ch in enumerate(text):
        char_of_byte += [k] * (1 if 0xDC80 <= ord(ch) <= 0xDCFF else len(ch.encode("utf-8")))
    spans, at = [], 0
    for piece in pieces:
        assert piece, "byte-level text pieces are never empty"
        spans.append((char_of_byte[at], char_of_byte[at + len(piece) - 1] + 1))
        at += len(piece)
    return text, spans


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), valid=st.booleans())
def test_byte_level_offsets_equal_loop_reference(tokenizers_by_family, data, valid):
    """Byte-level ids, valid UTF-8 (an encoded text) or not (random ids, split characters):
    the vectorised offsets equal a per-byte walk."""
    tok = tokenizers_by_family["byte_level"]
    table = piece_table(tok)
    if valid:
        text = data.draw(st.text(alphabet="ab so\nжé€😀数’", max_size=30))
        ids = np.asarray(tok(text, add_special_tokens=False)["input_ids"], dtype=np.int64)
    else:
        text_ids = np.flatnonzero(~table.special_mask[:-1]).tolist()
        ids = np.asarray(
            data.draw(st.lists(st.sampled_from(text_ids), max_size=30)), dtype=np.int64
        )
    rows = decode_rows(table, [ids], backend_of(tok))
    text, spans = loop_offsets([table.pieces[i] for i in ids])
    assert rows.text == text
    assert list(zip(rows.char_starts.tolist(), rows.char_ends.tolist())) == spans


def test_byte_level_added_tokens_decode_like_the_backend(tokenizers_by_family):
    """Non-special added tokens (Qwen's <think>) pass through the byte decoder like any
    token; special ones (<|im_end|>) stand for no text."""
    from tokenizers import Tokenizer

    raw = Tokenizer.from_str(tokenizers_by_family["byte_level"].backend_tokenizer.to_str())
    raw.add_tokens(["<think>", "über", "ж", "\u00ad"])
    raw.add_special_tokens(["<|im_end|>"])
    text = "<think>so über ж\u00adwait<|im_end|>"
    ids = raw.encode(text, add_special_tokens=False).ids
    table = piece_table(raw)
    assert table.family == "byte_level"
    rows = decode_rows(table, [np.asarray(ids)], raw)
    assert rows.text.replace("\x00", "") == raw.decode(ids, skip_special_tokens=True).replace(
        "\ufffd", "\udcfc"
    )
    assert tag_batch(DEFAULT, np.asarray([ids]), raw).tolist() == [
        tag(DEFAULT, text, raw).planning_mask.tolist()
    ]


def test_tokens_added_after_first_use_rebuild_the_table(tokenizers_by_family):
    from tokenizers import Tokenizer

    raw = Tokenizer.from_str(tokenizers_by_family["byte_level"].backend_tokenizer.to_str())
    before = piece_table(raw)
    raw.add_tokens(["hmmmm"])
    after = piece_table(raw)
    assert after is not before and len(after.pieces) == len(before.pieces) + 1
    lexicon = StrategicLexicon.from_phrases(["hmmmm"])
    ids = np.asarray([raw.encode("hmmmm", add_special_tokens=False).ids])
    assert tag_batch(lexicon, ids, raw).tolist() == [[True]]
