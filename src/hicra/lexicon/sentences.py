"""Split a reasoning trace into sentences, the unit the `sentence` detector classifies.

The rule is the one the Thought Anchors authors used to cut their labelled traces into
chunks (so a classifier trained on those chunks sees the same unit at run time):

1. a sentence ends after ".", "?" or "!" when a space or newline follows, and at a blank line
   ("\\n\\n");
2. "\\x00" is a hard boundary: `tag_batch` decodes a batch into one text whose rows (and
   special tokens) are separated by "\\x00", and no sentence crosses one;
3. each piece is stripped of surrounding whitespace; empty pieces are dropped;
4. a piece shorter than ``min_chars`` (10) is merged into the next piece (the last one of a
   row into the previous), never across "\\x00".

Offsets are characters of the text given.

    >>> text = "Okay. So I need x. Then 3 + 4 = 7.\\n\\nWait, no way"
    >>> [text[s:e] for s, e in zip(*split_sentences(text))]
    ['Okay. So I need x.', 'Then 3 + 4 = 7.', 'Wait, no way']
"""

from __future__ import annotations

import re

import numpy as np

_BOUNDARY = re.compile(r"[.?!](?=[ \n])|\n\n|\x00")
_NON_SPACE = re.compile(r"\S")


def split_sentences(text: str, min_chars: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends), each (S,) int64: the sentences of ``text`` in order, as character ranges."""
    starts: list[int] = []
    ends: list[int] = []
    row_first = 0  # index in starts of the first sentence of the current "\x00" row
    cursor = 0
    for match in _BOUNDARY.finditer(text):
        hard = match.group() == "\x00"
        cut = match.start() if hard or match.group() == "\n\n" else match.end()
        _add(text, cursor, cut, starts, ends, min_chars, row_first)
        cursor = match.end()
        if hard:
            _close_row(starts, ends, row_first, min_chars)
            row_first = len(starts)
    _add(text, cursor, len(text), starts, ends, min_chars, row_first)
    _close_row(starts, ends, row_first, min_chars)
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def _add(text, a, b, starts, ends, min_chars, row_first) -> None:
    """Append the stripped piece text[a:b]; merge into a short previous piece of the row."""
    first = _NON_SPACE.search(text, a, b)
    if first is None:
        return
    a = first.start()
    while text[b - 1].isspace():
        b -= 1
    if len(starts) > row_first and ends[-1] - starts[-1] < min_chars:
        ends[-1] = b  # the short previous piece opens this one
    else:
        starts.append(a)
        ends.append(b)


def _close_row(starts, ends, row_first, min_chars) -> None:
    """A short last piece of a row joins the previous piece of the same row."""
    if len(starts) - row_first >= 2 and ends[-1] - starts[-1] < min_chars:
        end = ends.pop()
        starts.pop()
        ends[-1] = end
