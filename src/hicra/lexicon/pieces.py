"""Token ids -> text with per-token character offsets, for every tokenizer family.

Trainers hold token ids, not offsets. To tag them we rebuild the text the ids decode to and
where each token sits in it, without re-tokenising (a sampled response is often not the
canonical tokenisation of its own text). The tokenizer's decoder decides how:

| family        | decoder (tokenizers)                          | piece of one vocab entry            |
|---------------|-----------------------------------------------|-------------------------------------|
| byte_level    | ByteLevel (GPT-2, Qwen, Llama-3)              | its bytes, through the byte decoder |
| metaspace     | Metaspace; or Sequence of Replace("▁"," "),  | "▁" -> " "; "<0xHH>" -> byte HH;    |
|               | ByteFallback, Fuse, Strip (Llama-2 style SP)  | first piece loses one leading space |
| wordpiece     | WordPiece (BERT)                              | "##x" -> "x", else " x"; the        |
|               |                                               | decoder's cleanup per piece         |
| bpe_suffix    | BPEDecoder (suffix "</w>", CLIP/OpenAI-GPT)   | "x</w>" -> "x ", else "x"           |
| word_level    | none (tokens joined by spaces)                | " x"; first piece loses the space   |

Every piece is stored as UTF-8 bytes, so a byte-level token that holds half of a multibyte
character is kept exact; the text is decoded once per batch (invalid bytes become one
surrogate escape each, so byte offsets map to character offsets one to one). Special tokens
(and ids outside the vocabulary, and unknown-token ids) contribute no text: each stands as one
"\x00" character, which is a word boundary and never part of a phrase, and rows are separated
by "\x00" too. Removing every "\x00" of a row gives `decode(ids, skip_special_tokens=True)`.

A table is verified once per tokenizer: the concatenated pieces of a probe text must equal
`tokenizer.decode(ids, skip_special_tokens=True)` of the backend. A tokenizer whose decoder is
not listed above, or that fails the check, uses the `aligned` fallback: each row is decoded
whole and every token's own decoded string is located in it left to right.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

PROBE_TEXT = (
    "Let's try a different approach: but wait, that can't be right. So 3 + 4 = 7? Yes!\n\n"
    "Hmm, l’élève naïve café — 数学 😀 ## Step 2: don't re-check it... (x_1, y^2) tab\there"
)

# The tokenizers WordPiece decoder applies this cleanup to every token after its space.
_WORDPIECE_CLEANUP = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" do not", " don't"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


@dataclass(frozen=True)
class PieceTable:
    """How one tokenizer's ids turn into text.

    family:               one of byte_level, metaspace, wordpiece, bpe_suffix, word_level,
                          aligned (the fallback, see module docstring).
    pieces:               (V + 1) list of UTF-8 bytes, one per id; special ids and the last
                          entry (used for out-of-range ids) are b"\x00".
    piece_lengths:        (V + 1,) int64 byte length of each piece.
    piece_starts:         (V + 1,) int64 where each piece starts in ``blob``.
    piece_chars:          (V + 1,) int64 UTF-8 lead bytes of each piece (bytes that begin a
                          character): the characters it adds to a valid UTF-8 text.
    piece_continues:      (V + 1,) bool, the piece begins inside a character (its first byte
                          is a continuation byte; byte-level BPE only).
    blob:                 (total bytes,) uint8, all pieces concatenated.
    special_mask:         (V + 1,) bool, True for ids that stand for no text.
    strip_first_space:    decoding drops one leading space of a row's first text piece.
    detached_punctuation: the ids cannot tell "a , b" from "a, b" (WordPiece, word-level),
                          so matching ignores spaces next to punctuation.
    """

    family: str
    pieces: list[bytes]
    piece_lengths: np.ndarray
    piece_starts: np.ndarray
    piece_chars: np.ndarray
    piece_continues: np.ndarray
    blob: np.ndarray
    special_mask: np.ndarray
    strip_first_space: bool
    detached_punctuation: bool


@dataclass(frozen=True)
class DecodedRows:
    """The rows of a batch decoded into one text, rows separated by "\\x00".

    text:        all rows, concatenated.
    char_starts: (N,) int64 character offset in ``text`` where each token starts.
    char_ends:   (N,) int64 where it ends; start == end for a token with no text.
    row_bounds:  (B + 1,) int64; tokens of row b are [row_bounds[b], row_bounds[b + 1]).
    """

    text: str
    char_starts: np.ndarray
    char_ends: np.ndarray
    row_bounds: np.ndarray


def backend_of(tokenizer: Any) -> Any:
    """The Rust `tokenizers.Tokenizer` behind a Hugging Face fast tokenizer (or itself)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend
    if hasattr(tokenizer, "encode_batch") and hasattr(tokenizer, "get_vocab"):
        return tokenizer
    raise TypeError(
        f"tagging needs a fast (Rust-backed) tokenizer or a tokenizers.Tokenizer, got {type(tokenizer).__name__}"
    )


SPECIAL = b"\x00"

# Per-tokenizer caches, keyed by id() and holding the tokenizer itself so the id stays unique.
_LOCK = threading.Lock()
_CACHE: OrderedDict[int, tuple[Any, int, PieceTable]] = OrderedDict()
_PLAIN: OrderedDict[int, tuple[Any, Any]] = OrderedDict()


def plain_backend(tokenizer: Any) -> Any:
    """The backend tokenizer, or a cached copy of it with padding and truncation turned off.

    Some tokenizer.json files switch padding on (e.g. all-MiniLM pads to 128); tagging one
    text must see exactly its own tokens.
    """
    backend = backend_of(tokenizer)
    if backend.padding is None and backend.truncation is None:
        return backend
    hit = _PLAIN.get(id(backend))
    if hit is None or hit[0] is not backend:
        from tokenizers import Tokenizer

        copy = Tokenizer.from_str(backend.to_str())
        copy.no_padding()
        copy.no_truncation()
        hit = (backend, copy)
        with _LOCK:
            _PLAIN[id(backend)] = hit
            while len(_PLAIN) > 8:
                _PLAIN.popitem(last=False)
    return hit[1]


def piece_table(tokenizer: Any) -> PieceTable:
    """The (cached, verified) PieceTable of a tokenizer; built once, in well under a second."""
    backend = backend_of(tokenizer)
    size = backend.get_vocab_size(with_added_tokens=True)  # tokens added later invalidate
    hit = _CACHE.get(id(backend))
    if (
        hit is not None and hit[0] is backend and hit[1] == size
    ):  # the reference keeps the id unique
        return hit[2]
    table = _build(backend)
    if table.family != "aligned" and not _verify(table, backend):
        table = _aligned_table(backend)
    with _LOCK:
        _CACHE[id(backend)] = (backend, size, table)
        while len(_CACHE) > 8:
            _CACHE.popitem(last=False)
    return table


def _build(backend: Any) -> PieceTable:
    vocab = backend.get_vocab(with_added_tokens=True)
    size = max(vocab.values(), default=-1) + 1
    tokens: list[str | None] = [None] * size
    for token, idx in vocab.items():
        tokens[idx] = token
    special = {i for i, t in backend.get_added_tokens_decoder().items() if t.special}
    special.update(_unknown_ids(backend, vocab))
    state = json.loads(backend.decoder.__getstate__()) if backend.decoder is not None else None
    steps = _decoder_steps(state)
    if steps is None:
        return _aligned_table(backend)
    family, to_piece, strip_first, detached = steps
    special_mask = np.array(
        [t is None or i in special for i, t in enumerate(tokens)] + [True], dtype=bool
    )
    pieces = [SPECIAL if no_text else to_piece(t) for t, no_text in zip(tokens, special_mask)]
    pieces.append(SPECIAL)
    return _table(family, pieces, special_mask, strip_first, detached)


def _table(family, pieces, special_mask, strip_first, detached) -> PieceTable:
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    starts = np.cumsum(lengths) - lengths
    blob = np.frombuffer(b"".join(pieces), dtype=np.uint8)
    is_lead = (blob & 0xC0) != 0x80  # the byte begins a character
    leads_before = np.concatenate(([0], np.cumsum(is_lead)))
    chars = leads_before[starts + lengths] - leads_before[starts]
    continues = (lengths > 0) & ~np.append(is_lead, True)[starts]
    return PieceTable(
        family, pieces, lengths, starts, chars, continues, blob, special_mask, strip_first, detached
    )


def _unknown_ids(backend: Any, vocab: dict[str, int]) -> set[int]:
    """The model's unknown-token id (its text is lost, so it is treated like a special)."""
    model = backend.model
    if hasattr(model, "unk_token"):  # BPE, WordPiece, WordLevel: cheap attribute
        return {vocab[model.unk_token]} if model.unk_token in vocab else set()
    state = json.loads(model.__getstate__())  # Unigram keeps unk_id only in its state
    return {state["unk_id"]} if isinstance(state.get("unk_id"), int) else set()


def _decoder_steps(state: dict | None):
    """(family, token -> bytes, strip_first_space, detached_punctuation), or None if unknown."""
    if state is None:
        return "word_level", lambda t: (" " + t).encode(), True, True
    kind = state["type"]
    if kind == "ByteLevel":
        return "byte_level", _byte_level_piece, False, False
    if kind == "Metaspace":
        rep = state.get("replacement", "\u2581")
        strip = state.get("prepend_scheme", "always") != "never" and state.get(
            "add_prefix_space", True
        )
        return "metaspace", lambda t: t.replace(rep, " ").encode(), bool(strip), False
    if kind == "WordPiece":
        prefix, cleanup = state.get("prefix", "##"), state.get("cleanup", True)

        def wordpiece(t: str) -> bytes:
            piece = t[len(prefix) :] if t.startswith(prefix) else " " + t
            if cleanup:
                for dirty, clean in _WORDPIECE_CLEANUP:
                    piece = piece.replace(dirty, clean)
            return piece.encode()

        return "wordpiece", wordpiece, True, True
    if kind == "BPEDecoder":
        suffix = state.get("suffix", "</w>")
        return (
            "bpe_suffix",
            lambda t: (t[: -len(suffix)] + " " if t.endswith(suffix) else t).encode(),
            False,
            False,
        )
    if kind == "Sequence":
        return _sequence_steps(state["decoders"])
    return None


def _sequence_steps(steps: list[dict]):
    """Llama-2-style SentencePiece: Replace / ByteFallback / Fuse / Strip, in that spirit."""
    replaces: list[tuple[str, str]] = []
    byte_fallback, fused, strip_first = False, False, False
    for step in steps:
        kind = step["type"]
        if kind == "Replace" and "String" in step["pattern"]:
            replaces.append((step["pattern"]["String"], step["content"]))
        elif kind == "ByteFallback":
            byte_fallback = True
        elif kind == "Fuse":
            fused = True
        elif (
            kind == "Strip"
            and fused
            and step["content"] == " "
            and step["start"] <= 1
            and step["stop"] == 0
        ):
            strip_first = step["start"] == 1
        else:
            return None

    def piece(t: str) -> bytes:
        if byte_fallback and len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            try:
                return bytes([int(t[3:5], 16)])
            except ValueError:
                pass
        for old, new in replaces:
            t = t.replace(old, new)
        return t.encode()

    return "metaspace", piece, strip_first, False


def _gpt2_byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: printable bytes map to themselves, others to 256+."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


_BYTE_DECODER = _gpt2_byte_decoder()


# Fast path: translate to latin-1 and encode. Characters below 256 outside the byte alphabet
# map to U+FFFF, which latin-1 cannot encode, so such a token takes the exact slow path.
_BYTE_TRANSLATE = str.maketrans(
    {chr(c): "\uffff" for c in range(256) if chr(c) not in _BYTE_DECODER}
    | {c: chr(b) for c, b in _BYTE_DECODER.items()}
)


def _byte_level_piece(token: str) -> bytes:
    try:
        return token.translate(_BYTE_TRANSLATE).encode("latin-1")
    except UnicodeEncodeError:
        # A char outside the byte alphabet (an added token's text) stands for its own UTF-8.
        return b"".join(
            bytes([_BYTE_DECODER[c]]) if c in _BYTE_DECODER else c.encode() for c in token
        )


def _aligned_table(backend: Any) -> PieceTable:
    size = backend.get_vocab_size(with_added_tokens=True)
    return _table("aligned", [b""] * (size + 1), np.ones(size + 1, dtype=bool), False, False)


def _verify(table: PieceTable, backend: Any) -> bool:
    ids = plain_backend(backend).encode(PROBE_TEXT, add_special_tokens=False).ids
    mine = decode_rows(table, [np.asarray(ids, dtype=np.int64)], backend).text
    text_ids = [i for i in ids if not table.special_mask[i]]
    return mine.replace("\x00", "") == backend.decode(text_ids, skip_special_tokens=True)


def decode_rows(table: PieceTable, rows: list[np.ndarray], backend: Any = None) -> DecodedRows:
    """Decode rows of token ids into one "\\x00"-separated text with per-token char offsets.

    rows: B arrays of ids (the real tokens of each response, padding removed).
    Vectorised: the bytes are gathered from one blob of all pieces with numpy, so the cost
    is a few passes over the output bytes, not a Python step per token.
    """
    if table.family == "aligned":
        return _decode_aligned(rows, backend)
    empty = len(table.piece_lengths) - 1  # b"\x00": specials, out-of-range ids, row separators
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    row_bounds = np.concatenate(([0], np.cumsum(counts)))
    flat = np.concatenate(rows).astype(np.int64, copy=False) if rows else np.zeros(0, np.int64)
    flat = np.where((flat < 0) | (flat >= empty), empty, flat)
    # token k of the batch sits at slot k + (its row) of the separator-interleaved sequence
    slots = np.arange(len(flat)) + np.repeat(np.arange(len(rows), dtype=np.int64), counts)
    seq = np.full(len(flat) + max(len(rows) - 1, 0), empty, dtype=np.int64)
    seq[slots] = flat
    lengths = table.piece_lengths[seq]
    sources = table.piece_starts[seq]
    emptied = spaced = np.zeros(0, dtype=np.int64)
    if table.strip_first_space and len(flat):
        text_tokens = np.flatnonzero(~table.special_mask[flat])
        token_rows = np.searchsorted(row_bounds, text_tokens, side="right") - 1
        first = text_tokens[np.unique(token_rows, return_index=True)[1]]  # first text token per row
        first_slots = slots[first]
        spaced = first_slots[(lengths[first_slots] > 0) & (table.blob[sources[first_slots]] == 32)]
        sources[spaced] += 1
        lengths[spaced] -= 1
        emptied = first[lengths[slots[first]] == 0]
    out_ends = np.cumsum(lengths)
    out_starts = out_ends - lengths
    gather = np.repeat(sources - out_starts, lengths) + np.arange(
        int(out_ends[-1]) if len(seq) else 0
    )
    data = table.blob[gather].tobytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        # Valid UTF-8: count characters per token from the table, no per-byte work. A token
        # that begins inside a character (byte-level BPE) also owns that character.
        chars = table.piece_chars[seq]
        chars[spaced] -= 1
        char_ends = np.cumsum(chars)
        starts = (char_ends - chars)[slots] - (
            table.piece_continues[seq[slots]] & (lengths[slots] > 0)
        )
        return _own_first_char(DecodedRows(text, starts, char_ends[slots], row_bounds), emptied)
    byte_starts, byte_ends = out_starts[slots], out_ends[slots]
    text = data.decode("utf-8", "surrogateescape")
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    char_bytes = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
    char_bytes[(codes >= 0xDC80) & (codes <= 0xDCFF)] = 1  # surrogate escape: one raw byte
    char_of_byte = np.append(
        np.repeat(np.arange(len(codes), dtype=np.int64), char_bytes), len(codes)
    )
    starts = char_of_byte[byte_starts]
    ends = np.where(byte_ends > byte_starts, char_of_byte[np.maximum(byte_ends - 1, 0)] + 1, starts)
    return _own_first_char(DecodedRows(text, starts, ends, row_bounds), emptied)


def _own_first_char(rows: DecodedRows, emptied: np.ndarray) -> DecodedRows:
    """A row-initial "▁" token that decoding strips to nothing is given the character after
    it, as the tokenizer's own offsets do (the prepended space belongs to the first word)."""
    for k in emptied.tolist():
        start = rows.char_starts[k]
        if start < len(rows.text) and rows.text[start] != "\x00":
            rows.char_ends[k] = start + 1
    return rows


def _decode_aligned(rows: list[np.ndarray], backend: Any) -> DecodedRows:
    """Fallback: decode each row whole, then find each token's own text in it left to right."""
    texts, starts, ends, base = [], [], [], 0
    special = {i for i, t in backend.get_added_tokens_decoder().items() if t.special}
    counts = [len(r) for r in rows]
    for row in rows:
        ids = [int(i) for i in row]
        text = backend.decode(ids, skip_special_tokens=True)
        cursor = 0
        pieces = backend.decode_batch([[i] for i in ids], skip_special_tokens=True)
        for token_id, piece in zip(ids, pieces):
            stripped = piece.strip()
            found = text.find(stripped, cursor) if stripped else -1
            blank = not stripped and token_id not in special
            if blank and cursor < len(text) and text[cursor].isspace():
                starts.append(base + cursor)  # a whitespace token: the space it stands for
                ends.append(base + cursor + 1)
                cursor += 1
            elif blank and cursor == 0:
                starts.append(base)  # a prepended-space token: it belongs to the first word
                ends.append(base + min(1, len(text)))
            elif found < 0:
                starts.append(base + cursor)
                ends.append(base + cursor)
            else:
                starts.append(base + found)
                ends.append(base + found + len(stripped))
                cursor = found + len(stripped)
        texts.append(text)
        base += len(text) + 1
    return DecodedRows(
        "\x00".join(texts),
        np.asarray(starts, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
        np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
    )
