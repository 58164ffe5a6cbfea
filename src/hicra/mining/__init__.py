"""Strategic-Gram mining: a planning lexicon built from a corpus of solutions.

corpus.py reads the solutions, ngrams.py counts word n-grams by document, embed.py embeds the
candidates with an offline sentence-transformer, mining.py clusters them and keeps the
clusters with the highest document frequency, prototypes.py labels the kept clusters with the
paper's three kinds, report.py writes the Markdown/JSON report, cli.py is `hicra lexicon mine`.

    >>> from hicra.mining.ngrams import word_runs
    >>> word_runs("Wait, let's try again.")
    [['wait'], ["let's", 'try', 'again']]

Nothing is imported here: scikit-learn, scipy and sentence-transformers load when mining runs.
docs/mining.md describes the method and its options.
"""
