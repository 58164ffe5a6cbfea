"""Sentences of a reasoning trace, as character spans, split the way Thought Anchors splits.

Bogdan et al. (2025, arXiv:2506.19143; their `utils.split_solution_into_chunks`) cut a chain of
thought after ".", "?" or "!" when a space or newline follows, and at blank lines ("\\n\\n"),
strip each piece, then merge pieces shorter than 10 characters into the next one (the last
into the one before). `split_sentences(text)` applies the same rules but returns spans into
the original text, so a prefix "everything before sentence i" is an exact slice of the trace.

`mode="clauses"` also cuts after ":" and ";" (followed by whitespace). The countdown world
writes one move per clause ("we can use add then add :", "2 + 3 = 5 ;", "let us check 5 vs 6
no .") and its "sentences" in the Thought-Anchors sense are these moves, so the countdown task
uses clauses (docs/anchors.md).

    >>> [s.text for s in split_sentences("Let x be 2. Then x + 1 = 3!\\n\\nSo the answer is 3.")]
    ['Let x be 2.', 'Then x + 1 = 3!', 'So the answer is 3.']
    >>> [s.text for s in split_sentences("we can use add then add : 2 + 3 = 5 ; so the answer is 5 .",
    ...                                  mode="clauses")]
    ['we can use add then add :', '2 + 3 = 5 ;', 'so the answer is 5 .']
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("sentences", "clauses")
SENTENCE_END = {"sentences": ".?!", "clauses": ".?!:;"}
PARAGRAPH_BREAKS = ("\n\n", "\r\n\r\n")
MIN_CHARS = 10
"""Pieces shorter than this (after stripping) are merged into a neighbour, as Thought Anchors does."""


@dataclass(frozen=True)
class Sentence:
    """Sentence `index` of a trace: characters [start, end) of it, whitespace stripped."""

    index: int
    start: int
    end: int
    text: str


def _pieces(text: str, mode: str) -> list[tuple[int, int]]:
    """Stripped (start, end) pieces between boundaries, before merging short ones."""
    ends = SENTENCE_END[mode]
    cuts: list[int] = []  # a piece ends after character cut - 1
    for i, char in enumerate(text):
        paragraph = any(text.startswith(p, i) for p in PARAGRAPH_BREAKS)
        sentence = char in ends and i + 1 < len(text) and text[i + 1] in " \n"
        if paragraph or sentence:
            cuts.append(i + 1)
    cuts.append(len(text))
    pieces, begin = [], 0
    for cut in cuts:
        start, end = begin, cut
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            pieces.append((start, end))
        begin = cut
    return pieces


def _merge_short(pieces: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Merge pieces shorter than MIN_CHARS into the next piece (the last one into the previous)."""
    merged = list(pieces)
    i = 0
    while i < len(merged):
        start, end = merged[i]
        if len(merged) > 1 and end - start < MIN_CHARS:
            if i == len(merged) - 1:
                merged[i - 1] = (merged[i - 1][0], end)
                merged.pop(i)
            else:
                merged[i + 1] = (start, merged[i + 1][1])
                merged.pop(i)
            continue
        i += 1
    return merged


def split_sentences(text: str, mode: str = "sentences") -> list[Sentence]:
    """The sentences of `text` in order (mode "sentences" or "clauses", see the module doc)."""
    if mode not in SENTENCE_END:
        raise ValueError(f"unknown sentence mode {mode!r}: expected one of {', '.join(MODES)}")
    spans = _merge_short(_pieces(text, mode), text)
    return [Sentence(i, s, e, text[s:e]) for i, (s, e) in enumerate(spans)]


def first_sentence(text: str, mode: str = "sentences") -> str:
    """The first sentence of a continuation ("" when it has none): the resampled sentence T_i
    that replaces S_i when the trace is resampled from just before S_i."""
    sentences = split_sentences(text, mode)
    return sentences[0].text if sentences else ""
