"""Planning tokens: text or padded (B, T) token ids -> boolean planning_mask.

A token is a planning token when any of its characters lies inside a Strategic-Gram span
(`StrategicLexicon.find_spans`: all occurrences, so overlapping and nested spans cover the
union of their characters). A token with no characters (special tokens) is never planning.

- `tag(lexicon, text, tokenizer)`: tokenises ``text`` itself and uses the tokenizer's own
  character offsets (`return_offsets_mapping`).
- `tag_batch(lexicon, token_ids, tokenizer, response_mask)`: for ids a model produced, which
  need not be the canonical tokenisation of their text. The ids are decoded into text with
  per-token offsets through a cached per-tokenizer piece table (`hicra.lexicon.pieces`), all
  rows of the batch in one text and one automaton pass.

    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from hicra.lexicon import StrategicLexicon
    >>> vocab = {w: i for i, w in enumerate(["[UNK]", "so", "we", "also", "wait", ",", "try"])}
    >>> tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> lex = StrategicLexicon.from_phrases(["so", "wait"])
    >>> result = tag(lex, "Wait, we also try so", tok)
    >>> result.tokens, result.planning_mask.tolist()
    (['[UNK]', ',', 'we', 'also', 'try', 'so'], [True, False, False, False, False, True])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from hicra.lexicon.lexicon import Span, StrategicLexicon
from hicra.lexicon.pieces import backend_of, decode_rows, piece_table, plain_backend

if TYPE_CHECKING:
    import torch


class TagResult(NamedTuple):
    """Planning tokens of one text.

    tokens:        (T,) token strings as the tokenizer names them.
    planning_mask: (T,) bool numpy array; True where the token overlaps a span.
    spans:         every phrase occurrence (`find_spans`), original character offsets.
    offsets:       (T, 2) int64 character [start, end) of each token in the text.
    token_ids:     (T,) int64 token ids.
    """

    tokens: list[str]
    planning_mask: np.ndarray
    spans: list[Span]
    offsets: np.ndarray
    token_ids: np.ndarray


def overlap_mask(
    span_starts: np.ndarray,
    span_ends: np.ndarray,
    token_starts: np.ndarray,
    token_ends: np.ndarray,
    n_chars: int | None = None,
) -> np.ndarray:
    """(T,) bool: token [s, e) shares at least one character with the union of the spans.

    Spans (S,) and tokens (T,) are character offsets into one text (of ``n_chars``
    characters; when given, offsets beyond it are an error). The spans are merged into
    disjoint sorted intervals; a token overlaps iff the first interval ending after its start
    begins before its end. A token with no characters (s == e) overlaps nothing.

        >>> overlap_mask(np.array([1, 2]), np.array([3, 5]), np.array([0, 0, 3, 5, 4]), np.array([1, 2, 4, 7, 4]))
        array([False,  True,  True, False, False])
    """
    token_starts, token_ends = np.asarray(token_starts), np.asarray(token_ends)
    if n_chars is not None and len(token_ends) and int(token_ends.max()) > n_chars:
        raise ValueError(
            f"overlap_mask: a token ends at {int(token_ends.max())}, past the text's {n_chars} characters"
        )
    if len(span_starts) == 0:
        return np.zeros(token_starts.shape, dtype=bool)
    order = np.argsort(span_starts, kind="stable")
    starts, reach = (
        np.asarray(span_starts)[order],
        np.maximum.accumulate(np.asarray(span_ends)[order]),
    )
    opens = np.concatenate(([True], starts[1:] > reach[:-1]))  # a new disjoint interval begins
    interval_starts = starts[opens]
    interval_ends = reach[np.concatenate((np.flatnonzero(opens)[1:] - 1, [len(starts) - 1]))]
    k = np.searchsorted(interval_ends, token_starts, side="right")
    inside = k < len(interval_ends)
    k = np.minimum(k, len(interval_ends) - 1)
    return inside & (interval_starts[k] < token_ends) & (token_ends > token_starts)


def tag(lexicon: StrategicLexicon, text: str, tokenizer: Any) -> TagResult:
    """Tokenise ``text`` (no special tokens added) and mark its planning tokens.

    ``tokenizer``: a Hugging Face fast tokenizer (`PreTrainedTokenizerFast` or any
    `AutoTokenizer` with a Rust backend) or a raw `tokenizers.Tokenizer`.
    """
    encoding = plain_backend(tokenizer).encode(text, add_special_tokens=False)
    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    starts, ends, ids = lexicon.span_arrays(text)
    planning_mask = overlap_mask(starts, ends, offsets[:, 0], offsets[:, 1])
    return TagResult(
        tokens=list(encoding.tokens),
        planning_mask=planning_mask,
        spans=lexicon.find_spans(text),
        offsets=offsets,
        token_ids=np.asarray(encoding.ids, dtype=np.int64),
    )


def tag_batch(
    lexicon: StrategicLexicon,
    token_ids: Any,
    tokenizer: Any,
    response_mask: Any = None,
    pad_token_id: int | None = None,
) -> torch.Tensor:
    """Planning mask of a padded batch of response token ids.

    token_ids:     (B, T) integer torch tensor, numpy array or nested list; left or right
                   padded.
    response_mask: (B, T) bool, True on real response tokens. When None, every position
                   whose id is not ``pad_token_id`` (default: the tokenizer's pad id, if
                   any) counts as real.
    returns:       (B, T) bool torch tensor on the device of ``token_ids``; False on padding,
                   special tokens and execution tokens.

    The text each row decodes to is matched as a whole, so a phrase split over several
    tokens marks all of them. Padding may sit anywhere; only the order of the real tokens
    of a row matters. Only the text the ids hold is matched: an unknown-token id (a
    character outside the vocabulary) stands as a "\x00" boundary, so ``tag`` on the
    original text can mark a phrase across it ("we\ncan" when "\n" is unknown) where
    ``tag_batch`` of the same ids cannot.
    """
    import torch

    device = token_ids.device if isinstance(token_ids, torch.Tensor) else None
    ids = token_ids.detach().cpu().numpy() if device is not None else np.asarray(token_ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"tag_batch: token_ids must be a (B, T) integer array, got shape {ids.shape} dtype {ids.dtype}"
        )
    if response_mask is None:
        pad = getattr(tokenizer, "pad_token_id", None) if pad_token_id is None else pad_token_id
        valid = np.ones(ids.shape, dtype=bool) if pad is None else ids != pad
    else:
        valid = (
            response_mask.detach().cpu().numpy()
            if isinstance(response_mask, torch.Tensor)
            else np.asarray(response_mask)
        )
        if valid.shape != ids.shape:
            raise ValueError(
                f"tag_batch: response_mask shape {valid.shape} != token_ids shape {ids.shape}"
            )
        valid = valid.astype(bool, copy=False)

    table = piece_table(tokenizer)
    rows = [row[keep] for row, keep in zip(ids, valid)]
    decoded = decode_rows(table, rows, backend_of(tokenizer))
    starts, ends, _ = lexicon.span_arrays(decoded.text, table.detached_punctuation)
    planning = overlap_mask(starts, ends, decoded.char_starts, decoded.char_ends)
    planning_mask = np.zeros(ids.shape, dtype=bool)
    planning_mask[valid] = planning  # rows' real tokens in row-major order, as decoded
    out = torch.from_numpy(planning_mask)
    return out.to(device) if device is not None else out
