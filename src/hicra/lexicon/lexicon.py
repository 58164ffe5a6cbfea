"""StrategicLexicon: a set of Strategic-Gram phrases and where they occur in a text.

File format (UTF-8, one entry a line)::

    # a comment: a line that is exactly "#" or starts with "# "
    let's try a different approach<TAB>branching
    ## step
    but wait

A line is ``phrase`` or ``phrase<TAB>category``. Blank lines are skipped. "## step" is a
phrase of the published list, so only "#" alone or "# " opens a comment. Categories are
free labels made of letters, digits, "_" and "-" (e.g. deduction, branching, backtracing).

Matching (`find_spans`) is one Aho-Corasick automaton (pyahocorasick) over the normalised text
(see `hicra.lexicon.normalize`: casefold, apostrophe variants unified, whitespace runs
collapsed), filtered by word boundaries: where a phrase begins (ends) with a word character,
the text character before (after) the match must not be one, so "so" never matches inside
"also" and "but" not inside "button"; "hmm," needs no boundary after its comma.

    >>> lex = StrategicLexicon.from_phrases(["so", "but wait", "wait"])
    >>> for span in lex.find_spans("Also, BUT   wait: so."):
    ...     print(span)
    Span(start=6, end=16, phrase='but wait')
    Span(start=12, end=16, phrase='wait')
    Span(start=18, end=20, phrase='so')
    >>> lex.find_grams("Also, BUT   wait: so.")
    [Span(start=6, end=16, phrase='but wait'), Span(start=18, end=20, phrase='so')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import ahocorasick
import numpy as np

from hicra.errors import InputError
from hicra.lexicon.normalize import is_word_char, normalize_codes, normalize_phrase, word_mask

if TYPE_CHECKING:
    import torch

    from hicra.lexicon.tagging import TagResult

DEFAULT_LEXICON_FILE = "strategic_grams_wang2025.txt"
_CATEGORY = re.compile(r"[A-Za-z0-9_-]+")


class Span(NamedTuple):
    """One occurrence of a lexicon phrase: original characters [start, end) of the text."""

    start: int
    end: int
    phrase: str


class LexiconFormatError(InputError):
    """A lexicon file or phrase list that cannot be read."""


def is_comment(line: str) -> bool:
    """A lexicon-file comment: a line that is exactly "#" or starts with "# "."""
    return line == "#" or line.startswith("# ")


class StrategicLexicon:
    """An immutable set of phrases (with optional categories) and a matcher for them.

    Build with `default()`, `from_file(path)` or `from_phrases(phrases, categories)`.
    """

    def __init__(self, phrases: Sequence[str], categories: Sequence[str | None], source: str):
        self._phrases = tuple(phrases)
        self._categories = tuple(categories)
        self.source = source
        self._category_of = dict(zip(self._phrases, self._categories))
        self._matchers: dict[bool, _Matcher] = {}

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def default(cls) -> StrategicLexicon:
        """The 249 Strategic Grams of Wang et al. (2025), Appendix A, Listing 1."""
        ref = resources.files("hicra.lexicon").joinpath("data", DEFAULT_LEXICON_FILE)
        with resources.as_file(ref) as path:
            return cls.from_file(path)

    @classmethod
    def from_file(cls, path: str | Path) -> StrategicLexicon:
        """Read a lexicon file (format in the module docstring)."""
        path = Path(path)
        try:
            lines = path.read_text(
                encoding="utf-8-sig"
            ).splitlines()  # a BOM is not part of a phrase
        except (OSError, UnicodeDecodeError) as err:
            raise LexiconFormatError(f"{path}: cannot read lexicon file: {err}") from err
        phrases, categories, where = [], [], []
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or is_comment(line.strip()):
                continue
            fields = line.split("\t")
            if len(fields) > 2:
                raise LexiconFormatError(
                    f"{path}:{number}: expected 'phrase' or 'phrase<TAB>category', "
                    f"got {len(fields)} tab-separated fields"
                )
            phrases.append(fields[0])
            categories.append(
                fields[1].strip() or None if len(fields) == 2 else None
            )  # "so<TAB>" = no category
            where.append(f"{path}:{number}")
        return cls._build(phrases, categories, where, source=str(path))

    @classmethod
    def from_phrases(
        cls, phrases: Iterable[str], categories: Iterable[str | None] | None = None
    ) -> StrategicLexicon:
        """A lexicon from phrases and, optionally, one category (or None) per phrase."""
        phrases = list(phrases)
        categories = [None] * len(phrases) if categories is None else list(categories)
        if len(categories) != len(phrases):
            raise LexiconFormatError(
                f"from_phrases: {len(phrases)} phrases but {len(categories)} categories"
            )
        where = [f"phrase {i}" for i in range(len(phrases))]
        return cls._build(phrases, categories, where, source="<phrases>")

    @classmethod
    def _build(cls, phrases, categories, where, source) -> StrategicLexicon:
        seen: dict[str, str] = {}
        clean = []
        for phrase, category, at in zip(phrases, categories, where):
            if not isinstance(phrase, str) or "\n" in phrase or "\t" in phrase:
                raise LexiconFormatError(
                    f"{at}: a phrase is one line of text without tabs, got {phrase!r:.60}"
                )
            if any(ord(c) < 32 or ord(c) == 127 for c in phrase):
                raise LexiconFormatError(
                    f"{at}: phrase {phrase!r:.60} holds a control character "
                    "(a lexicon file is UTF-8 text, one phrase a line)"
                )
            phrase = " ".join(phrase.split())
            if not phrase:
                raise LexiconFormatError(f"{at}: empty phrase")
            if is_comment(phrase):
                raise LexiconFormatError(
                    f"{at}: phrase {phrase!r} would read as a comment ('#' or '# ...')"
                )
            if category is not None and not _CATEGORY.fullmatch(category):
                raise LexiconFormatError(
                    f"{at}: category {category!r} must be letters, digits, '_' or '-'"
                )
            key = normalize_phrase(phrase)
            if key in seen:
                raise LexiconFormatError(
                    f"{at}: phrase {phrase!r} duplicates {seen[key]} (same after normalisation)"
                )
            seen[key] = f"{at} ({phrase!r})"
            clean.append(phrase)
        return cls(clean, list(categories), source)

    def to_file(self, path: str | Path, header: str | None = None) -> None:
        """Write the lexicon in the file format; ``header`` lines become '# ' comments."""
        lines = [f"# {line}".rstrip() for line in (header or "").splitlines()]
        for phrase, category in zip(self._phrases, self._categories):
            lines.append(phrase if category is None else f"{phrase}\t{category}")
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    # ---- the set --------------------------------------------------------------------------
    @property
    def phrases(self) -> tuple[str, ...]:
        """The phrases in file order, whitespace-collapsed, case as written."""
        return self._phrases

    def category(self, phrase: str) -> str | None:
        """The category of a lexicon phrase (None when it has none); KeyError if absent."""
        return self._category_of[phrase]

    def categories(self) -> dict[str, list[str]]:
        """category -> its phrases (phrases without a category are left out)."""
        out: dict[str, list[str]] = {}
        for phrase, category in zip(self._phrases, self._categories):
            if category is not None:
                out.setdefault(category, []).append(phrase)
        return out

    def __len__(self) -> int:
        return len(self._phrases)

    def __iter__(self) -> Iterator[str]:
        return iter(self._phrases)

    def __contains__(self, phrase: object) -> bool:
        return isinstance(phrase, str) and phrase in self._category_of

    def __getstate__(self) -> dict:
        # The automata are rebuilt lazily after unpickling (Ray / multiprocessing workers).
        return {k: v for k, v in self.__dict__.items() if k != "_matchers"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._matchers = {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StrategicLexicon):
            return NotImplemented
        return self._phrases == other._phrases and self._categories == other._categories

    def __hash__(self) -> int:
        return hash((self._phrases, self._categories))

    def __repr__(self) -> str:
        return f"StrategicLexicon({len(self)} phrases from {self.source})"

    # ---- matching -------------------------------------------------------------------------
    def find_spans(self, text: str) -> list[Span]:
        """Every occurrence of every phrase, overlapping and nested ones included.

        Returns Spans sorted by (start, end), in original character offsets of ``text``.
        """
        starts, ends, ids = self.span_arrays(text)
        order = np.lexsort((ends, starts))
        phrases = self._phrases
        return [Span(int(starts[i]), int(ends[i]), phrases[ids[i]]) for i in order]

    def find_grams(self, text: str) -> list[Span]:
        """Leftmost-longest non-overlapping occurrences: the unit semantic entropy counts.

        Scanning left to right, take the occurrence that starts first (the longest of those
        that start there), then continue after its end. "but wait" in "but wait, so" gives
        ["but wait", "so"], never "but" and "wait" as well.
        """
        grams, cursor = [], 0
        for span in sorted(self.find_spans(text), key=lambda s: (s.start, -s.end)):
            if span.start >= cursor:
                grams.append(span)
                cursor = span.end
        return grams

    def span_arrays(
        self, text: str, detached_punctuation: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """find_spans as arrays (starts, ends, phrase ids), each (S,) int64, in match order.

        ``detached_punctuation`` also ignores spaces next to punctuation (for texts decoded
        from WordPiece/word-level ids, where that spacing is lost).
        """
        matcher = self._matchers.get(detached_punctuation)
        if matcher is None:
            matcher = self._matchers[detached_punctuation] = _Matcher(
                self._phrases, detached_punctuation
            )
        return matcher.match(text)

    def tag(self, text: str, tokenizer: Any) -> TagResult:
        """Tokenise ``text`` and mark its planning tokens; see `hicra.lexicon.tagging.tag`."""
        from hicra.lexicon.tagging import tag

        return tag(self, text, tokenizer)

    def tag_batch(
        self, token_ids: Any, tokenizer: Any, response_mask: Any = None, **kwargs: Any
    ) -> torch.Tensor:
        """(B, T) response ids -> (B, T) bool planning_mask; see `hicra.lexicon.tagging.tag_batch`."""
        from hicra.lexicon.tagging import tag_batch

        return tag_batch(self, token_ids, tokenizer, response_mask=response_mask, **kwargs)


class _Matcher:
    """One Aho-Corasick automaton over normalised phrases, with word-boundary filtering."""

    def __init__(self, phrases: Sequence[str], detached_punctuation: bool):
        self.detached_punctuation = detached_punctuation
        self.automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        lengths, word_start, word_end = [], [], []
        for phrase_id, phrase in enumerate(phrases):
            key = normalize_phrase(phrase, detached_punctuation)
            lengths.append(len(key))
            word_start.append(is_word_char(key[0]))
            word_end.append(is_word_char(key[-1]))
            # Under detached punctuation two phrases may share a key ("a, b" / "a ,b"): keep the first.
            if key not in self.automaton:
                self.automaton.add_word(key, phrase_id)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.word_start = np.asarray(word_start, dtype=bool)
        self.word_end = np.asarray(word_end, dtype=bool)
        self.empty = len(self.automaton) == 0
        if not self.empty:
            self.automaton.make_automaton()

    def match(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(starts, ends, phrase ids) of every bounded occurrence, original offsets."""
        if self.empty or not text:
            return tuple(np.zeros(0, dtype=np.int64) for _ in range(3))
        codes, index = normalize_codes(text, self.detached_punctuation)
        norm = codes.tobytes().decode("utf-32-le", "surrogatepass")
        # Candidates, in-word ones included; the boundary test below is vectorised.
        flat = np.fromiter(chain.from_iterable(self.automaton.iter(norm)), dtype=np.int64)
        last, ids = flat[0::2], flat[1::2]
        first = last - self.lengths[ids] + 1
        n = len(codes)
        before = np.where(first > 0, codes[np.maximum(first - 1, 0)], 32)
        after = np.where(last + 1 < n, codes[np.minimum(last + 1, n - 1)], 32)
        bad = (self.word_start[ids] & word_mask(before)) | (self.word_end[ids] & word_mask(after))
        keep = ~bad
        return index[first[keep]], index[last[keep]] + 1, ids[keep]
