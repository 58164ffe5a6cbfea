"""The `lexicon-clause` detector: a Strategic Gram counts only in a first-person clause.

Measured on the labelled dev traces (docs/detectors.md has the table), where in a sentence a
gram sits barely changes whether the sentence is planning: grams opening a sentence mark
planning sentences with precision 0.49, grams opening a clause 0.48, all grams 0.47. What does
change it is the clause around the gram: when the reasoner speaks of itself there ("I", "we",
"let me", "my", ...), precision is 0.72; the frequent "so", "therefore", "thus" before a
computation are what the published list gets wrong. So this detector keeps a gram (every
occurrence, as `find_spans` of the lexicon) only when the clause that holds it contains a
first-person word. Clauses end at , ; : . ? ! a newline and "\\x00" (a hard boundary).

    >>> det = ClauseLexicon(StrategicLexicon.default())
    >>> det.find_spans("So 3 + 4 = 7. So I should try again.")
    [Span(start=14, end=16, phrase='so')]
"""

from __future__ import annotations

import re

import numpy as np

from hicra.lexicon.detectors import Detector
from hicra.lexicon.lexicon import Span, StrategicLexicon

FIRST_PERSON = (
    "i",
    "i'm",
    "i'll",
    "i've",
    "i'd",
    "me",
    "my",
    "myself",
    "we",
    "we're",
    "we'll",
    "we've",
    "we'd",
    "us",
    "our",
    "let",
    "let's",
)
_CLAUSE_END = re.compile(r"[,;:.?!\n\x00]")
_FIRST_PERSON = re.compile(
    r"(?<![\w'’])(?:"
    + "|".join(re.escape(w).replace("'", "['’]") for w in FIRST_PERSON)
    + r")(?![\w'’])",
    re.IGNORECASE,
)


class ClauseLexicon(Detector):
    """A lexicon whose occurrences count only inside first-person clauses."""

    name = "lexicon-clause"

    def __init__(self, lexicon: StrategicLexicon):
        self.lexicon = lexicon

    def _keep(self, text: str, starts: np.ndarray) -> np.ndarray:
        """(G,) bool: the occurrence starting at each of ``starts`` lies in a first-person clause."""
        ends = np.fromiter((m.start() for m in _CLAUSE_END.finditer(text)), dtype=np.int64)
        first_person = np.fromiter(
            (m.start() for m in _FIRST_PERSON.finditer(text)), dtype=np.int64
        )
        clause_of = lambda at: np.searchsorted(ends, at, side="left")  # noqa: E731 - clause k ends at ends[k]
        voiced = np.zeros(len(ends) + 1, dtype=bool)
        voiced[clause_of(first_person)] = True
        return voiced[clause_of(starts)]

    def span_arrays(
        self, text: str, detached_punctuation: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        starts, ends, ids = self.lexicon.span_arrays(text, detached_punctuation)
        keep = self._keep(text, starts)
        return starts[keep], ends[keep], ids[keep]

    def find_spans(self, text: str) -> list[Span]:
        starts, ends, ids = self.span_arrays(text)
        phrases = self.lexicon.phrases
        return sorted(
            (Span(int(s), int(e), phrases[i]) for s, e, i in zip(starts, ends, ids)),
            key=lambda s: (s.start, s.end),
        )

    def category(self, phrase: str) -> str | None:
        """A gram's category, as the lexicon says (None: none or not a gram of it)."""
        return self.lexicon.category(phrase) if phrase in self.lexicon else None

    def __contains__(self, phrase: object) -> bool:
        return phrase in self.lexicon

    def find_grams(self, text: str) -> list[Span]:
        grams = self.lexicon.find_grams(text)
        if not grams:
            return grams
        keep = self._keep(text, np.array([g.start for g in grams], dtype=np.int64))
        return [g for g, k in zip(grams, keep.tolist()) if k]
