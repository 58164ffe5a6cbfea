"""Placebo lexicons: random n-grams matched to a real lexicon in count and corpus frequency.

The paper's "placebo HICRA" ablation gives the HICRA bonus to random n-grams instead of
Strategic Grams. A fair placebo must tag about as many tokens as the real lexicon, or the
ablation measures "less bonus" rather than "wrong tokens". So each real phrase gets one
placebo n-gram with

- the same number of words, and
- a document frequency in the same log2 bin: bin(df) = floor(log2 df), i.e. 1, 2-3, 4-7, ...

measured on a reference corpus. A real phrase absent from the corpus (df 0) is matched to
the rarest bin (df 1). Candidates are the corpus n-grams of `hicra.mining.ngrams` (no
punctuation inside) that neither are nor contain a real phrase. Where a (length, bin) pool is
used up the nearest bin of the same length is tried, then lengths one word off. The result
records every pairing, so the report shows how close the match came.

    >>> from hicra.lexicon import StrategicLexicon
    >>> real = StrategicLexicon.from_phrases(["let me check"])
    >>> texts = ["so let me check the sum", "we add the two sums", "let me check the sum again"]
    >>> placebo_lexicon(real, texts, seed=0).pairs[0][:2]
    ('let me check', 2)
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field

from hicra.mining.ngrams import document_frequency, ngram_phrase, words


def frequency_bin(df: int) -> int:
    """log2 bin of a document frequency: 0 for 1, 1 for 2-3, 2 for 4-7, ...; df 0 -> 0."""
    return int(math.log2(df)) if df > 0 else 0


def phrase_document_frequency(lexicon, texts: list[str]) -> Counter:
    """Documents in which each lexicon phrase occurs (as the lexicon's matcher finds it)."""
    df: Counter = Counter()
    for text in texts:
        df.update({s.phrase for s in lexicon.find_spans(text)})
    return df


@dataclass
class Placebo:
    """A placebo lexicon and how it was matched."""

    phrases: list[str]
    pairs: list[tuple[str, int, str, int]] = field(default_factory=list)
    """(real phrase, its DF, placebo n-gram, its DF) for every pairing."""
    unmatched: list[str] = field(default_factory=list)
    """Real phrases for which no candidate was left (placebo is smaller by that many)."""

    def lexicon(self):
        from hicra.lexicon import StrategicLexicon

        return StrategicLexicon.from_phrases(self.phrases)


def placebo_lexicon(lexicon, texts: list[str], seed: int = 0, progress: bool = False) -> Placebo:
    """Random corpus n-grams matched to ``lexicon`` phrase by phrase (module docstring)."""
    real = list(lexicon.phrases)
    length = {p: max(1, len(words(p))) for p in real}
    real_df = phrase_document_frequency(lexicon, texts)
    n_lo, n_hi = min(length.values(), default=1), max(length.values(), default=1)
    df, _ = document_frequency(texts, n_lo, n_hi, progress=progress)
    real_keys = {ngram_phrase(p) for p in real}

    pools: dict[tuple[int, int], list[str]] = {}
    for g in sorted(df):
        if g not in real_keys:
            pools.setdefault((g.count(" ") + 1, frequency_bin(df[g])), []).append(g)
    rng = random.Random(seed)
    for key in sorted(pools):
        rng.shuffle(pools[key])

    def draw(n: int, b: int) -> str | None:
        """Pop the next admissible candidate of (n, b) or the nearest non-empty pool."""
        bins = sorted({k[1] for k in pools if k[0] == n}, key=lambda x: (abs(x - b), x))
        for nn in (n, n - 1, n + 1):
            order = (
                bins
                if nn == n
                else sorted({k[1] for k in pools if k[0] == nn}, key=lambda x: (abs(x - b), x))
            )
            for bb in order:
                pool = pools.get((nn, bb), [])
                while pool:
                    g = pool.pop()
                    if not lexicon.find_spans(g):  # neither is nor contains a real phrase
                        return g
        return None

    out = Placebo(phrases=[])
    # Rarest pools run out first, so serve the frequent (scarce-candidate) phrases first.
    for p in sorted(real, key=lambda p: (-real_df[p], p)):
        g = draw(length[p], frequency_bin(real_df[p]))
        if g is None:
            out.unmatched.append(p)
            continue
        out.phrases.append(g)
        out.pairs.append((p, real_df[p], g, df[g]))
    return out
