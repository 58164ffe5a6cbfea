"""Semantic entropy of Strategic Grams and its control: pure functions on counts.

Semantic entropy (the paper's section 4, not Kuhn et al.'s answer-meaning entropy):

    H_sem = - sum_g p(g) ln p(g),    p(g) = n(g) / sum_g' n(g')

where n(g) counts the occurrences of Strategic Gram g (leftmost-longest, non-overlapping:
`StrategicLexicon.find_grams`) pooled over every response of one training step. Natural log:
the unit is the nat. Higher means the policy spreads its planning moves over more strategies.

The control, conditional entropy of the procedural n-gram that follows an SG:

    H(F | G) = sum_g p(g) H(F | G = g),   p(g) = m(g) / sum m

where F is the n = 3 words that follow an occurrence of g (lower-cased, split into runs of
letters/digits and single punctuation marks) and m(g) counts the occurrences of g that have
n following words before the end of the response. Frequency-weighted over SGs as written:
common SGs weigh more. The paper reports it flat during training while H_sem rises, i.e. the
growth is in *which* strategies are used, not in what is written after them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from itertools import islice

FOLLOW_N = 3
"""Words in the procedural n-gram that follows an SG (the control's n)."""

_WORD = re.compile(r"[^\W_]+|[^\w\s]|_")
_WINDOW_CHARS = 160  # enough for 3 words in almost every case; widened when not


def shannon_entropy(counts: Iterable[float] | Mapping[Hashable, float]) -> float:
    """Entropy in nats of the distribution proportional to `counts`; 0.0 for empty input.

    >>> round(shannon_entropy({"but": 2, "wait": 1, "so": 1}), 4)   # -(.5 ln .5 + 2 * .25 ln .25)
    1.0397
    """
    values = list(counts.values()) if isinstance(counts, Mapping) else list(counts)
    total = float(sum(values))
    if total <= 0:
        return 0.0
    return -sum((v / total) * math.log(v / total) for v in values if v > 0)


def conditional_entropy(pair_counts: Mapping[tuple[Hashable, Hashable], float]) -> float:
    """H(F | G) in nats from joint counts n(g, f), frequency-weighted over g.

    Equals H(G, F) - H(G).

    >>> conditional_entropy({("but", "x"): 1, ("but", "y"): 1, ("so", "z"): 2})   # .5*ln2 + .5*0
    0.34657359027997264
    """
    marginal: Counter = Counter()
    for (g, _), n in pair_counts.items():
        marginal[g] += n
    total = float(sum(marginal.values()))
    if total <= 0:
        return 0.0
    h = 0.0
    for (g, _), n in pair_counts.items():
        if n > 0:
            h -= (n / total) * math.log(n / marginal[g])
    return h


def category_entropies(
    counts: Mapping[str, float], category: Callable[[str], str | None]
) -> dict[str, float]:
    """Semantic entropy within each category: {category: H over that category's grams}.

    Grams whose category is None are left out.
    """
    by_cat: dict[str, dict[str, float]] = {}
    for gram, n in counts.items():
        cat = category(gram)
        if cat is not None:
            by_cat.setdefault(cat, {})[gram] = n
    return {cat: shannon_entropy(c) for cat, c in by_cat.items()}


def following_ngram(text: str, end: int, n: int = FOLLOW_N) -> tuple[str, ...] | None:
    """The first n words of text[end:], lower-cased; None when fewer than n remain.

    >>> following_ngram("But wait, x = 2.", 8)
    (',', 'x', '=')
    """
    width = _WINDOW_CHARS
    while True:
        stop = min(len(text), end + width)
        words = [m.group().lower() for m in islice(_WORD.finditer(text, end, stop), n + 1)]
        complete = stop == len(text)
        # the last word may be cut by the window's edge unless the window reaches the end
        if len(words) > n or (complete and len(words) >= n):
            return tuple(words[:n])
        if complete:
            return None
        width *= 4
