"""Labelled prototype phrases, for naming the category of a mined cluster.

The paper names three kinds of planning move (section 1) with one example each; we add a
handful of phrases per kind drawn from that description and from the published list, so a
cluster is labelled by its nearest prototype rather than by one example. A cluster whose
centroid is not close enough to any prototype stays unlabelled (category None): the labels
are a reading aid, not a filter. Users pass their own prototypes as a ``phrase<TAB>category``
file (`read_prototypes`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hicra.errors import InputError

PROTOTYPES: dict[str, list[str]] = {
    # Drawing a consequence from what is known.
    "deduction": [
        "we can use the fact that",
        "this implies that",
        "it follows that",
        "which means that",
        "so we can conclude that",
        "therefore we know that",
        "based on the given information",
        "we can deduce that",
        "this tells us that",
        "from this we get",
    ],
    # Choosing, switching or opening a line of attack.
    "branching": [
        "let's try a different approach",
        "alternatively",
        "another approach is",
        "let's consider another case",
        "maybe i can try",
        "what if we",
        "on the other hand",
        "another way to think about it",
        "a simpler approach is",
        "let's consider the case where",
    ],
    # Going back over earlier steps: checking, doubting, correcting.
    "backtracing": [
        "but the problem mentions that",
        "wait a minute",
        "but wait",
        "let me double-check",
        "let me verify that",
        "let's go back a step",
        "i made a mistake",
        "let me re-examine",
        "that doesn't seem right",
        "let me check again",
    ],
}


def read_prototypes(path: str | Path) -> dict[str, list[str]]:
    """``phrase<TAB>category`` lines ("# " comments, blank lines skipped) -> category -> phrases."""
    out: dict[str, list[str]] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            f"--prototypes {path}: cannot read ({getattr(err, 'strerror', None) or 'not UTF-8 text'})"
        ) from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise InputError(f"{path}:{number}: expected 'phrase<TAB>category', got {line!r:.80}")
        out.setdefault(fields[1].strip(), []).append(fields[0].strip())
    return out


def label_clusters(
    centroids: np.ndarray, embedder, prototypes: dict[str, list[str]], min_similarity: float
) -> list[tuple[str | None, float]]:
    """(category or None, cosine similarity to the nearest prototype) per centroid.

    ``centroids`` (K, D): mean member embedding of each cluster (renormalised here).
    """
    phrases = [p for ps in prototypes.values() for p in ps]
    cats = [c for c, ps in prototypes.items() for _ in ps]
    proto = embedder.encode(phrases)  # (P, D), unit rows
    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    sims = unit @ proto.T  # (K, P)
    best = sims.argmax(axis=1)
    return [
        (cats[b] if sims[k, b] >= min_similarity else None, round(float(sims[k, b]), 4))
        for k, b in enumerate(best)
    ]
