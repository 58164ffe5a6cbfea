"""Text normalisation for phrase matching, with a map back to the original characters.

Phrases and texts go through the same normalisation before the Aho-Corasick automaton sees
them, so matching is case-insensitive, apostrophe-insensitive and whitespace-insensitive while
the spans it returns still point at the caller's original characters.

Normalisation, in order:

1. case folding (`str.casefold`) one character at a time; a character that folds to several
   ("ß" -> "ss") maps all of them back to itself;
2. apostrophe variants (' ’ ‘ ʼ ′ ＇ `) become "'", and the Unicode hyphens U+2010/U+2011
   become "-" (en and em dashes are dashes, not hyphens, and stay as they are);
3. every whitespace character (`str.isspace`) becomes " ", and a run of them becomes one;
4. optionally (``detached_punctuation=True``) a space next to a punctuation character is
   dropped, so "wait , but" and "wait, but" read alike. Tagging switches this on for
   tokenizers that throw the spacing around punctuation away (WordPiece, word-level).

A *word character* is a Unicode letter or digit (`str.isalnum`), a combining mark (category
M*) or "_". Everything else that is not whitespace is punctuation.

    >>> norm = normalize_text("Let’s  TRY\\n again")
    >>> norm.text
    "let's try again"
    >>> [int(i) for i in norm.index[:7]]
    [0, 1, 2, 3, 4, 5, 7]
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import NamedTuple

import numpy as np

APOSTROPHES = "'\u2019\u2018\u02bc\u2032\uff07`"
HYPHENS = "-\u2010\u2011"  # hyphen-minus, hyphen, non-breaking hyphen (dashes stay dashes)
# Every character for which str.isspace() is true (checked by the tests).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)

# Code-point remap table (apostrophes -> "'", hyphens -> "-", whitespace -> " "): one char to one char, so it
# keeps positions. Applied with numpy: str.translate is slow on non-ASCII text.
_REMAP = np.arange(0xFF08, dtype=np.uint32)
_REMAP[[ord(c) for c in APOSTROPHES]] = ord("'")
_REMAP[[ord(c) for c in WHITESPACE]] = ord(" ")
_REMAP[[ord(c) for c in HYPHENS]] = ord("-")


class NormalizedText(NamedTuple):
    """A normalised text and where each of its characters came from.

    text:  the normalised string, length N.
    index: (N,) int64; ``index[i]`` is the offset in the original text of normalised char i.
           A normalised span [s, e) covers original characters [index[s], index[e-1] + 1).
    """

    text: str
    index: np.ndarray


@lru_cache(maxsize=4096)
def is_word_char(char: str) -> bool:
    """True for letters, digits, combining marks and "_" (the word-boundary definition)."""
    return char.isalnum() or char == "_" or unicodedata.category(char).startswith("M")


def normalize_phrase(phrase: str, detached_punctuation: bool = False) -> str:
    """The key a phrase is stored under: the same normalisation as texts, ends stripped."""
    return normalize_text(phrase.strip(), detached_punctuation).text.strip()


def normalize_text(text: str, detached_punctuation: bool = False) -> NormalizedText:
    """Normalise ``text`` for matching; see the module docstring for the rules."""
    codes, index = normalize_codes(text, detached_punctuation)
    return NormalizedText(codes.tobytes().decode("utf-32-le", "surrogatepass"), index)


def normalize_codes(text: str, detached_punctuation: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """normalize_text as arrays: (N,) uint32 code points and (N,) int64 original offsets."""
    folded = text.casefold()
    if len(folded) == len(text):  # casefold never shrinks, so equal length means 1:1
        index = np.arange(len(text), dtype=np.int64)
    else:
        pieces = [c.casefold() for c in text]
        lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        index = np.repeat(np.arange(len(text), dtype=np.int64), lengths)
        folded = "".join(pieces)
    codes = _code_points(folded).copy()
    # Only control characters, "`" and non-ASCII can change: remap just those positions.
    for where in (
        np.flatnonzero(codes < 32),
        np.flatnonzero(codes == 96),
        np.flatnonzero(codes >= 128),
    ):
        if len(where):
            picked = codes[where]
            codes[where] = np.where(
                picked < len(_REMAP), _REMAP[np.minimum(picked, len(_REMAP) - 1)], picked
            )
    is_space = codes == 32
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = ~(is_space[1:] & is_space[:-1])
    if not keep.all():
        codes, index = codes[keep], index[keep]
    if detached_punctuation and len(codes):
        is_space = codes == 32
        is_punct = ~is_space & ~word_mask(codes)
        near_punct = np.zeros_like(is_space)
        near_punct[1:] |= is_punct[:-1]
        near_punct[:-1] |= is_punct[1:]
        keep = ~(is_space & near_punct)
        codes, index = codes[keep], index[keep]
    return codes, index


def _code_points(text: str) -> np.ndarray:
    """(N,) uint32 code points of ``text`` (lone surrogates allowed)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


_ASCII_WORD = np.array([is_word_char(chr(c)) for c in range(128)], dtype=bool)


def word_mask(codes: np.ndarray) -> np.ndarray:
    """(N,) bool: which code points are word characters."""
    out = np.zeros(codes.shape, dtype=bool)
    ascii_ = codes < 128
    out[ascii_] = _ASCII_WORD[codes[ascii_]]
    if not ascii_.all():
        wide = np.unique(codes[~ascii_])
        wide_word = np.array([_is_word_code(int(c)) for c in wide], dtype=bool)
        pos = np.searchsorted(wide, codes[~ascii_])
        out[~ascii_] = wide_word[pos]
    return out


def _is_word_code(code: int) -> bool:
    return is_word_char(chr(code))
