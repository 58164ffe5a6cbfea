"""Mining Strategic Grams from a corpus of successful solutions (paper section 2).

Pipeline, one function per stage (docs/mining.md gives every choice and why):

1. `select_candidates`: document frequency (DF) of every n-gram, n in [3, 5], of normalised
   text that never crosses a sentence boundary or punctuation (`hicra.mining.ngrams`);
   keep those with DF >= ``min_df``; drop a fragment when a one-word-longer n-gram
   containing it occurs in nearly as many documents (``closed_ratio``); cap the count.
   Pruning comes before embedding: a real corpus has millions of distinct n-grams.
2. embed the candidates with a sentence-transformer (`hicra.mining.embed`).
3. `cluster_embeddings`: cosine average-linkage agglomerative clustering with a distance
   threshold (up to ``agglomerative_max`` candidates, the default cap) or mini-batch spherical
   k-means (on request, or above that cap).
4. `cluster_document_frequency`: Cluster DF = number of distinct solutions containing at
   least one n-gram of the cluster.
5. keep the top ``keep_top`` share of clusters by Cluster DF; the union of their n-grams is
   the lexicon. Optional category labels from the nearest prototype phrase
   (`hicra.mining.prototypes`).

    >>> from hicra.mining.mining import MiningConfig, mine_lexicon    # doctest: +SKIP
    >>> result = mine_lexicon(texts, MiningConfig(seed=0))               # doctest: +SKIP
    >>> result.lexicon().to_file("lexicon.txt")                          # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np
from scipy import sparse

from hicra.cli_args import FRACTION, POSITIVE, Range, check_fields
from hicra.errors import InputError
from hicra.mining.ngrams import document_frequency, document_ngrams


class Embedder(Protocol):
    """Anything with ``encode(list[str]) -> (N, D) float32`` unit rows and a ``name``."""

    name: str

    def encode(self, phrases: list[str]) -> np.ndarray: ...


@dataclass
class MiningConfig:
    """Every option of the miner (the CLI flags map one to one)."""

    n_min: int = 3
    """Shortest n-gram, in words (paper: 3)."""
    n_max: int = 5
    """Longest n-gram, in words (paper: 5)."""
    min_df: float = 0.05
    """Minimum document frequency of a candidate: an absolute count if >= 1, else a share of
    the documents (rounded up); never below 2. 0.05: a phrase used by 1 in 20 solutions."""
    closed_ratio: float = 0.9
    """Drop an n-gram when a candidate one word longer that contains it has DF >= this share
    of its DF (it is a fragment of the longer phrase). 0 disables."""
    max_candidates: int = 8000
    """Keep at most this many candidates (highest DF first) for embedding and clustering;
    8000 keeps the exact agglomerative method in about 11 s and 750 MB."""
    method: str = "auto"
    """"agglomerative", "kmeans" or "auto" (agglomerative up to ``agglomerative_max``)."""
    distance_threshold: float = 0.3
    """Agglomerative: cosine distance (1 - cos) at which average-linkage merging stops."""
    agglomerative_max: int = 8000
    """"auto" switches to k-means above this many candidates (agglomerative needs N^2/2
    distances in memory: 8000 -> 256 MB)."""
    cluster_size: float = 2.5
    """K-means: number of clusters k = ceil(candidates / cluster_size) (2.5: the mean cluster
    size the agglomerative method gives on real traces). Slow for large k: O(N k D) a pass."""
    keep_top: float = 0.2
    """Share of clusters kept, highest Cluster DF first (paper: top 20%)."""
    label: bool = True
    """Label kept clusters with the category of the nearest prototype phrase."""
    label_min_similarity: float = 0.5
    """Cosine similarity a cluster centroid needs to its nearest prototype to get a label."""
    seed: int = 0
    """Seed of k-means (the other stages are deterministic)."""

    def __post_init__(self):
        check_fields(self, BOUNDS, lambda name: f"{name} (--{name.replace('_', '-')})")
        if not self.n_min <= self.n_max:
            raise InputError(
                f"need n_min <= n_max (--n-min, --n-max), got {self.n_min}, {self.n_max}"
            )
        if self.method not in ("auto", "agglomerative", "kmeans"):
            raise InputError(
                f"method (--method) must be auto, agglomerative or kmeans, got {self.method!r:.40}"
            )


BOUNDS = {  # the range of every numeric field of MiningConfig (`hicra.cli_args.check_fields`)
    "n_min": Range(1, 50),
    "n_max": Range(1, 50),
    "min_df": POSITIVE,
    "closed_ratio": FRACTION,
    "max_candidates": Range(1, 10**8),
    "distance_threshold": Range(0, 2, low_open=True),
    "agglomerative_max": Range(1, 10**8),
    "cluster_size": Range(1, 10**8),
    "keep_top": Range(0, 1, low_open=True),
    "label_min_similarity": Range(-1, 1),
    "seed": Range(0, 2**32 - 1),
}


@dataclass
class Cluster:
    """One cluster of candidate n-grams."""

    id: int
    """Rank by Cluster DF (0 = highest)."""
    df: int
    """Cluster DF: solutions containing at least one member."""
    members: list[str]
    """Member n-grams, highest DF first."""
    member_df: list[int]
    """DF of each member."""
    kept: bool = False
    """In the top ``keep_top`` share."""
    category: str | None = None
    """Category of the nearest prototype (kept clusters, when labelling is on)."""
    category_similarity: float | None = None
    """Cosine similarity of the centroid to that prototype."""


@dataclass
class MiningResult:
    """The mined lexicon and everything the report shows."""

    config: MiningConfig
    clusters: list[Cluster]
    """All clusters, ranked by Cluster DF."""
    stats: dict = field(default_factory=dict)
    """Counts and timings per stage."""

    @property
    def kept(self) -> list[Cluster]:
        return [c for c in self.clusters if c.kept]

    def phrases(self) -> tuple[list[str], list[str | None]]:
        """Lexicon phrases (kept clusters' members, cluster by cluster) and their categories."""
        phrases, categories = [], []
        for c in self.kept:
            phrases += c.members
            categories += [c.category] * len(c.members)
        return phrases, categories

    def lexicon(self):
        """The mined `StrategicLexicon`."""
        from hicra.lexicon import StrategicLexicon

        return StrategicLexicon.from_phrases(*self.phrases())

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "stats": self.stats,
            "clusters": [asdict(c) for c in self.clusters],
        }


def effective_min_df(min_df: float, n_docs: int) -> int:
    """Absolute DF threshold: ``min_df`` itself if >= 1, else ceil(min_df * n_docs); >= 2."""
    return max(2, int(min_df) if min_df >= 1 else math.ceil(min_df * n_docs))


def select_candidates(df: Counter, n_docs: int, config: MiningConfig) -> tuple[list[str], dict]:
    """Candidates sorted by (-DF, n-gram), and the count left after each pruning step."""
    threshold = effective_min_df(config.min_df, n_docs)
    frequent = {g: d for g, d in df.items() if d >= threshold}
    stats = {"distinct_ngrams": len(df), "min_df": threshold, "after_min_df": len(frequent)}
    if config.closed_ratio > 0:
        longest_super: dict[str, int] = {}
        for g, d in frequent.items():
            w = g.split(" ")
            if len(w) > config.n_min:
                for sub in (" ".join(w[1:]), " ".join(w[:-1])):
                    if d > longest_super.get(sub, 0):
                        longest_super[sub] = d
        frequent = {
            g: d for g, d in frequent.items() if longest_super.get(g, 0) < config.closed_ratio * d
        }
    stats["after_closed"] = len(frequent)
    ranked = sorted(frequent, key=lambda g: (-frequent[g], g))[: config.max_candidates]
    stats["candidates"] = len(ranked)
    return ranked, stats


def incidence_matrix(
    texts: list[str], candidates: list[str], n_min: int, n_max: int, progress: bool = False
) -> sparse.csr_matrix:
    """(D, N) bool CSR: document d contains candidate n."""
    index = {g: i for i, g in enumerate(candidates)}
    indptr, indices = [0], []
    it = texts
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(texts, desc="cluster DF", unit="doc")
    for text in it:
        indices += sorted(index[g] for g in document_ngrams(text, n_min, n_max) if g in index)
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=bool)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(texts), len(candidates)))


def cluster_embeddings(vectors: np.ndarray, config: MiningConfig) -> tuple[np.ndarray, str]:
    """(N,) int cluster label per unit row of ``vectors`` (N, D), and the method used."""
    n = len(vectors)
    if n < 2:
        return np.zeros(n, dtype=np.int64), "single"
    method = config.method
    if method == "auto":
        method = "agglomerative" if n <= config.agglomerative_max else "kmeans"
    if method == "agglomerative":
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(
            n_clusters=None,
            metric="cosine",
            linkage="average",
            distance_threshold=config.distance_threshold,
        )
        return model.fit_predict(vectors).astype(np.int64), method
    from sklearn.cluster import MiniBatchKMeans

    k = min(n, max(2, math.ceil(n / config.cluster_size)))
    model = MiniBatchKMeans(n_clusters=k, random_state=config.seed, n_init=1, batch_size=1024)
    return model.fit_predict(vectors).astype(np.int64), method


def cluster_document_frequency(incidence: sparse.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """(K,) int: for each cluster, the documents containing at least one of its members.

    ``incidence`` (D, N) bool, ``labels`` (N,) int in [0, K).
    """
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    onehot = sparse.csr_matrix(
        (np.ones(len(labels), dtype=np.int32), (np.arange(len(labels)), labels)),
        shape=(len(labels), n_clusters),
    )
    per_doc = incidence.astype(np.int32) @ onehot  # (D, K) member occurrences
    return np.asarray((per_doc > 0).sum(axis=0)).ravel().astype(np.int64)


def rank_clusters(
    candidates: list[str],
    candidate_df: np.ndarray,
    labels: np.ndarray,
    cluster_df: np.ndarray,
    keep_top: float,
) -> list[Cluster]:
    """Clusters sorted by (-Cluster DF, -size, first member), the top share marked kept."""
    members: dict[int, list[int]] = {}
    for i, lab in enumerate(labels.tolist()):
        members.setdefault(lab, []).append(i)
    clusters = []
    for lab, idx in members.items():
        idx.sort(key=lambda i: (-candidate_df[i], candidates[i]))
        clusters.append(
            Cluster(
                id=lab,
                df=int(cluster_df[lab]),
                members=[candidates[i] for i in idx],
                member_df=[int(candidate_df[i]) for i in idx],
            )
        )
    clusters.sort(key=lambda c: (-c.df, -len(c.members), c.members[0]))
    n_keep = math.ceil(keep_top * len(clusters))
    for rank, c in enumerate(clusters):
        c.id, c.kept = rank, rank < n_keep
    return clusters


def _peak_rss_mb() -> float:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def mine_lexicon(
    texts: list[str],
    config: MiningConfig,
    embedder: Embedder,
    prototypes: dict[str, list[str]] | None = None,
    progress: bool = False,
) -> MiningResult:
    """Run the whole pipeline on the texts of successful solutions (see module docstring).

    ``prototypes`` maps category -> example phrases; None uses the shipped
    `hicra.mining.prototypes.PROTOTYPES` (when ``config.label``).
    """
    timings: dict[str, float] = {}
    t = time.perf_counter()
    df, n_docs = document_frequency(texts, config.n_min, config.n_max, progress=progress)
    candidates, stats = select_candidates(df, n_docs, config)
    del df
    timings["count_s"] = time.perf_counter() - t
    stats["documents"] = n_docs

    t = time.perf_counter()
    vectors = embedder.encode(candidates) if candidates else np.zeros((0, 1), np.float32)
    timings["embed_s"] = time.perf_counter() - t

    t = time.perf_counter()
    labels, method = cluster_embeddings(vectors, config)
    timings["cluster_s"] = time.perf_counter() - t
    stats["method"] = method

    t = time.perf_counter()
    incidence = incidence_matrix(texts, candidates, config.n_min, config.n_max, progress)
    candidate_df = np.asarray(incidence.sum(axis=0)).ravel()
    cluster_df = cluster_document_frequency(incidence, labels)
    clusters = rank_clusters(candidates, candidate_df, labels, cluster_df, config.keep_top)
    timings["cluster_df_s"] = time.perf_counter() - t

    if config.label and clusters:
        from hicra.mining.prototypes import PROTOTYPES, label_clusters

        t = time.perf_counter()
        row = {g: i for i, g in enumerate(candidates)}
        kept = [c for c in clusters if c.kept]
        centroids = np.stack([vectors[[row[m] for m in c.members]].mean(axis=0) for c in kept])
        for c, (cat, sim) in zip(
            kept,
            label_clusters(
                centroids, embedder, prototypes or PROTOTYPES, config.label_min_similarity
            ),
        ):
            c.category, c.category_similarity = cat, sim
        timings["label_s"] = time.perf_counter() - t

    stats["clusters"] = len(clusters)
    stats["kept_clusters"] = sum(c.kept for c in clusters)
    stats["lexicon_size"] = sum(len(c.members) for c in clusters if c.kept)
    stats["timings"] = timings
    stats["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return MiningResult(config=config, clusters=clusters, stats=stats)
