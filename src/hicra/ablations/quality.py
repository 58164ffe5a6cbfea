"""Lexicon quality: overlap of two lexicons, coverage on a corpus, random drops.

Coverage of a lexicon on a corpus (one figure per question a user asks of a lexicon):

- ``response_share``: share of responses with at least one Strategic-Gram occurrence
  (``find_spans`` non-empty);
- ``token_share``: share of tokens tagged as planning tokens. With no tokenizer the tokens
  are the words of `hicra.mining.ngrams` found in the original text (letters joined by ' or
  -), a word being tagged when it overlaps an occurrence; with a tokenizer it is the mean of
  ``lexicon.tag(text, tokenizer).planning_mask`` over all tokens;
- ``occurrences_per_response``: mean ``find_grams`` occurrences per response.

    >>> from hicra.lexicon import StrategicLexicon
    >>> lex = StrategicLexicon.from_phrases(["let me check"])
    >>> c = coverage(lex, ["Let me check it.", "No plan here."])
    >>> c.response_share, c.token_share     # 3 of 7 words tagged
    (0.5, 0.42857142857142855)
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hicra.mining.ngrams import WORD_PATTERN, ngram_phrase

_WORD_RE = re.compile(WORD_PATTERN)


@dataclass
class Coverage:
    """How much of a corpus a lexicon marks."""

    responses: int
    """Responses in the corpus."""
    response_share: float
    """Share of responses with at least one occurrence."""
    tokens: int
    """Tokens counted (words, or tokenizer tokens)."""
    token_share: float
    """Share of those tokens tagged as planning tokens."""
    occurrences_per_response: float
    """Mean leftmost-longest occurrences (find_grams) per response."""
    token_unit: str
    """"words" or the tokenizer's name."""

    def to_dict(self) -> dict:
        return asdict(self)


def token_mask(lexicon, text: str, tokenizer: Any = None) -> np.ndarray:
    """(T,) bool planning mask of one text: over its words, or over the tokenizer's tokens."""
    if tokenizer is not None:
        return np.asarray(lexicon.tag(text, tokenizer).planning_mask, dtype=bool)
    bounds = np.array([(m.start(), m.end()) for m in _WORD_RE.finditer(text)], dtype=np.int64)
    if not len(bounds):
        return np.zeros(0, dtype=bool)
    starts, ends, _ = lexicon.span_arrays(text)
    depth = np.zeros(len(text) + 1, dtype=np.int64)  # +1 where a span opens, -1 where it closes
    np.add.at(depth, starts, 1)
    np.add.at(depth, ends, -1)
    covered_before = np.concatenate(([0], np.cumsum(np.cumsum(depth)[:-1] > 0)))  # (C+1,)
    return covered_before[bounds[:, 1]] - covered_before[bounds[:, 0]] > 0


def _coverage_from(masks: list[np.ndarray], n_grams: list[int], unit: str) -> Coverage:
    n_resp, tokens = len(masks), sum(m.size for m in masks)
    return Coverage(
        responses=n_resp,
        response_share=sum(g > 0 for g in n_grams) / n_resp if n_resp else float("nan"),
        tokens=tokens,
        token_share=sum(int(m.sum()) for m in masks) / tokens if tokens else float("nan"),
        occurrences_per_response=sum(n_grams) / n_resp if n_resp else float("nan"),
        token_unit=unit,
    )


def _unit(tokenizer: Any, name: str) -> str:
    return name or ("words" if tokenizer is None else type(tokenizer).__name__)


def coverage(
    lexicon, texts: list[str], tokenizer: Any = None, tokenizer_name: str = ""
) -> Coverage:
    """Coverage of ``lexicon`` on ``texts`` (definitions in the module docstring)."""
    masks = [token_mask(lexicon, t, tokenizer) for t in texts]
    grams = [len(lexicon.find_grams(t)) for t in texts]
    return _coverage_from(masks, grams, _unit(tokenizer, tokenizer_name))


@dataclass
class Comparison:
    """Two lexicons side by side; phrases compared after normalisation."""

    size_a: int
    size_b: int
    shared: list[str]
    """Phrases in both (A's spelling)."""
    only_a: list[str]
    only_b: list[str]
    jaccard: float
    """|A and B| / |A or B|."""
    coverage_a: Coverage | None = None
    coverage_b: Coverage | None = None
    tagged_both: float | None = None
    """Tokens tagged by both lexicons / tokens tagged by either (token-level Jaccard)."""
    a_tagged_also_b: float | None = None
    """Share of A's planning tokens that B tags too (agreement even where strings differ)."""
    b_tagged_also_a: float | None = None
    """Share of B's planning tokens that A tags too."""

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


def compare(
    a, b, texts: list[str] | None = None, tokenizer: Any = None, tokenizer_name: str = ""
) -> Comparison:
    """Overlap of lexicons ``a`` and ``b`` and, given texts, the coverage of each."""
    key_a = {ngram_phrase(p): p for p in a.phrases}
    key_b = {ngram_phrase(p): p for p in b.phrases}
    shared = sorted(key_a[k] for k in key_a.keys() & key_b.keys())
    union = len(key_a.keys() | key_b.keys())
    out = Comparison(
        size_a=len(a),
        size_b=len(b),
        shared=shared,
        only_a=sorted(key_a[k] for k in key_a.keys() - key_b.keys()),
        only_b=sorted(key_b[k] for k in key_b.keys() - key_a.keys()),
        jaccard=len(shared) / union if union else float("nan"),
    )
    if texts is not None:
        unit = _unit(tokenizer, tokenizer_name)
        mask_a = [token_mask(a, t, tokenizer) for t in texts]
        mask_b = [token_mask(b, t, tokenizer) for t in texts]
        out.coverage_a = _coverage_from(mask_a, [len(a.find_grams(t)) for t in texts], unit)
        out.coverage_b = _coverage_from(mask_b, [len(b.find_grams(t)) for t in texts], unit)
        n_a = sum(int(m.sum()) for m in mask_a)
        n_b = sum(int(m.sum()) for m in mask_b)
        both = sum(int((ma & mb).sum()) for ma, mb in zip(mask_a, mask_b))
        either = n_a + n_b - both
        out.tagged_both = both / either if either else float("nan")
        out.a_tagged_also_b = both / n_a if n_a else float("nan")
        out.b_tagged_also_a = both / n_b if n_b else float("nan")
    return out


def comparison_markdown(
    c: Comparison, name_a: str = "A", name_b: str = "B", limit: int = 50
) -> str:
    """A short Markdown report of a comparison."""
    lines = [
        f"# Lexicon comparison: {name_a} vs {name_b}",
        "",
        f"| | {name_a} | {name_b} |",
        "|---|---|---|",
        f"| phrases | {c.size_a} | {c.size_b} |",
    ]
    if c.coverage_a and c.coverage_b:
        for label, attr, fmt in [
            ("responses with >= 1 SG", "response_share", "{:.1%}"),
            (f"{c.coverage_a.token_unit} tagged", "token_share", "{:.2%}"),
            ("occurrences / response", "occurrences_per_response", "{:.1f}"),
        ]:
            lines.append(
                f"| {label} | {fmt.format(getattr(c.coverage_a, attr))} | "
                f"{fmt.format(getattr(c.coverage_b, attr))} |"
            )
    if c.tagged_both is not None:
        lines += [
            "",
            f"Planning {c.coverage_a.token_unit}: tagged by both / by either "
            f"{c.tagged_both:.1%}; {name_a}'s also tagged by {name_b} {c.a_tagged_also_b:.1%}; "
            f"{name_b}'s also tagged by {name_a} {c.b_tagged_also_a:.1%}.",
        ]
    lines += ["", f"Shared phrases: {len(c.shared)} (Jaccard {c.jaccard:.3f})", ""]
    for title, items in [
        ("Shared", c.shared),
        (f"Only in {name_a}", c.only_a),
        (f"Only in {name_b}", c.only_b),
    ]:
        shown = ", ".join(f"`{p}`" for p in items[:limit])
        more = f" ... (+{len(items) - limit})" if len(items) > limit else ""
        lines += [f"## {title} ({len(items)})", "", (shown + more) or "(none)", ""]
    return "\n".join(lines)


def drop_phrases(lexicon, frac: float, seed: int):
    """A copy of ``lexicon`` without a random ``frac`` of its phrases (rounded), categories kept.

    The kept phrases stay in file order; the same seed drops the same phrases.
    """
    if not 0 <= frac < 1:
        raise ValueError(f"frac must be in [0, 1), got {frac}")
    from hicra.lexicon import StrategicLexicon

    phrases = list(lexicon.phrases)
    n_drop = round(frac * len(phrases))
    dropped = set(random.Random(seed).sample(range(len(phrases)), n_drop))
    kept = [p for i, p in enumerate(phrases) if i not in dropped]
    return StrategicLexicon.from_phrases(kept, [lexicon.category(p) for p in kept])
