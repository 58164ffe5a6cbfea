"""Word n-grams of normalised text, and their document frequency.

The unit the miner counts. A text is normalised (casefold, apostrophe variants unified,
whitespace runs collapsed), cut into *runs* of words separated only by spaces, and the
n-grams are read inside each run, so that no n-gram ever crosses a sentence boundary
(``. ! ?``, a line break) or any other punctuation (``, ; : ( ) $ = ...``): a phrase whose
words were separated by punctuation could not be matched back as a plain phrase.

A *word* is a run of letters, possibly joined by an apostrophe or a hyphen
(``let's``, ``double-check``). Digits and everything else (LaTeX, symbols) end a run, so
formulas yield no n-grams.

>>> word_runs("Wait, let\u2019s   try a different approach. x^2 = 4")
[['wait'], ["let's", 'try', 'a', 'different', 'approach'], ['x']]
>>> sorted(ngrams(["let's", 'try', 'a', 'different'], 3, 4))
["let's try a", "let's try a different", 'try a different']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

from hicra.lexicon.normalize import APOSTROPHES

# Apostrophe look-alikes, the same set the lexicon matcher unifies.
_APOSTROPHES = str.maketrans({c: "'" for c in APOSTROPHES})
# A word: letters (any script), optionally joined by ' or - to more letters.
WORD_PATTERN = r"[^\W\d_]+(?:['\-][^\W\d_]+)*"
# A run: words separated by horizontal whitespace only.
_RUN = re.compile(rf"{WORD_PATTERN}(?:[ \t\u00a0]+{WORD_PATTERN})*")
_WORD_RE = re.compile(WORD_PATTERN)
_SPACES = re.compile(r"\s+")


def ngram_text(text: str) -> str:
    """The text in the form the n-gram counter reads: casefolded, apostrophes unified,
    whitespace runs collapsed to one space, newlines kept as boundaries (one newline each).

    Not `hicra.lexicon.normalize_text`, which keeps a map back to the original characters for
    span matching; this one only has to count words.

    >>> ngram_text("Let\u2019s  TRY\\n\\n again")
    "let's try\\nagain"
    """
    text = text.casefold().translate(_APOSTROPHES)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def ngram_phrase(phrase: str) -> str:
    """A lexicon phrase in the miner's form: normalised, words joined by one space."""
    return " ".join(_SPACES.sub(" ", phrase.casefold().translate(_APOSTROPHES)).split())


def word_runs(text: str) -> list[list[str]]:
    """Runs of consecutive words of the normalised text (see module docstring)."""
    return [m.group().split() for m in _RUN.finditer(ngram_text(text))]


def words(text: str) -> list[str]:
    """All words of the normalised text, in order (the word tokens of coverage figures)."""
    return _WORD_RE.findall(ngram_text(text))


def ngrams(run: list[str], n_min: int, n_max: int) -> Iterator[str]:
    """Every n-gram, n in [n_min, n_max], of one run of words, as a space-joined string."""
    for n in range(n_min, min(n_max, len(run)) + 1):
        for i in range(len(run) - n + 1):
            yield " ".join(run[i : i + n])


def document_ngrams(text: str, n_min: int, n_max: int) -> set[str]:
    """The set of distinct n-grams of one document."""
    return {g for run in word_runs(text) for g in ngrams(run, n_min, n_max)}


def document_frequency(
    texts: Iterable[str], n_min: int = 3, n_max: int = 5, progress: bool = False
) -> tuple[Counter, int]:
    """Document frequency of every n-gram: the number of texts containing it at least once.

    Returns ``(df, n_documents)``. One set per document fed to a ``Counter``: measured faster
    and lighter than scikit-learn's ``CountVectorizer(binary=True)``, which also builds a
    document-term matrix we do not need at this stage (docs/mining.md).
    """
    df: Counter = Counter()
    n_docs = 0
    if progress:
        from tqdm.auto import tqdm

        texts = tqdm(texts, desc="n-gram DF", unit="doc")
    for text in texts:
        df.update(document_ngrams(text, n_min, n_max))
        n_docs += 1
    return df, n_docs
