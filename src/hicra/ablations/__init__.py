"""Checks of a planning lexicon: how it compares with another, a frequency-matched placebo,
and whether the dynamics survive dropping part of it.

quality.py: coverage, `compare`, `drop_phrases`; placebo.py: random n-grams matched to a lexicon
in length and document frequency; sensitivity.py: the text metrics with the full vs a randomly
dropped lexicon; cli.py: `hicra lexicon compare | placebo | drop | sensitivity` (and the
`hicra lexicon` parser).

    >>> from hicra.ablations.quality import drop_phrases
    >>> from hicra.lexicon import StrategicLexicon
    >>> len(drop_phrases(StrategicLexicon.default(), 0.3, seed=0))
    174

docs/mining.md describes each check.
"""
