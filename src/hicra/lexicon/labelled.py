"""Sentence-labelled reasoning traces and how well a detector finds their planning sentences.

A labelled file is JSONL (optionally gzipped), one trace a line, in the format of the Thought
Anchors release (see ../shared/data/README.md): each record has ``chunks``, a list of
sentences in order, each with ``chunk`` (its text), ``function_tags`` (the first tag is the
main one) and ``counterfactual_importance_kl``. Cross-validation groups traces by
``problem_id`` when present (see `LabelledTrace.problem`).

A trace's text is its chunks joined by " " after a chunk ending in ".", "?" or "!" and by a
blank line otherwise, which `hicra.lexicon.sentences.split_sentences` cuts back into exactly
the labelled chunks. A detector runs on that text; a sentence is *detected* when one of the
detector's spans shares a character with it.

The planning set is `PLANNING_TAGS` (first tag). `evaluate` reports:

- ``share_by_tag``: detected share of the sentences of each function tag;
- ``precision``, ``recall``, ``f1``: of detected sentences against the planning set;
- ``lift``: detected share among the top 10% of sentences by counterfactual_importance_kl,
  divided by the detected share overall (1.0: no preference for thought anchors).
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hicra.errors import InputError

PLANNING_TAGS = ("plan_generation", "uncertainty_management", "self_checking")
CHUNK_FIELDS = ("chunk", "function_tags", "counterfactual_importance_kl")
_ENDS_SENTENCE = re.compile(r"[.?!]$")


class LabelledFormatError(InputError):
    """A labelled file that cannot be read: one line naming the file, line and field."""


@dataclass
class LabelledTrace:
    """One labelled trace.

    text:       the chunks joined (see module docstring).
    starts:     (S,) int64 character start of each sentence in ``text``.
    ends:       (S,) int64 character end.
    tags:       S main function tags (first tag; "" when a sentence has none).
    importance: (S,) float64 counterfactual_importance_kl (NaN where missing/null).
    group:      the trace's identity (model/problem_id/is_correct#line).
    problem:    what cross-validation groups by: the record's problem_id (traces of one
                problem by several models, correct or not, share it), else ``group``.
    """

    text: str
    starts: np.ndarray
    ends: np.ndarray
    tags: list[str]
    importance: np.ndarray
    group: str
    problem: str = ""
    planning: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.problem = self.problem or self.group
        self.planning = np.array([t in PLANNING_TAGS for t in self.tags], dtype=bool)  # (S,)

    @property
    def sentences(self) -> list[str]:
        return [self.text[s:e] for s, e in zip(self.starts.tolist(), self.ends.tolist())]


def read_labelled(path: str | Path) -> list[LabelledTrace]:
    """Every trace of a labelled JSONL(.gz) file; LabelledFormatError on the first bad line."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    traces = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    traces.append(_trace(_parse(line, path, number), path, number))
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as err:
        reason = (
            "not UTF-8 text"
            if isinstance(err, UnicodeDecodeError)
            else (getattr(err, "strerror", None) or str(err))
        )
        raise LabelledFormatError(f"{path}: cannot read labelled file: {reason}") from None
    if not traces:
        raise LabelledFormatError(f"{path}: no labelled traces")
    return traces


def _parse(line: str, path: Path, number: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise LabelledFormatError(f"{path}:{number}: not valid JSON ({err.msg})") from None
    except RecursionError:
        raise LabelledFormatError(f"{path}:{number}: JSON nested too deeply") from None
    if not isinstance(record, dict):
        raise LabelledFormatError(
            f"{path}:{number}: expected a JSON object, got {type(record).__name__}"
        )
    return record


def _trace(record: dict, path: Path, number: int) -> LabelledTrace:
    chunks = record.get("chunks")
    if chunks is None:
        raise LabelledFormatError(f"{path}:{number}: field chunks missing")
    if not isinstance(chunks, list) or not chunks:
        raise LabelledFormatError(f"{path}:{number}: field chunks must be a non-empty list")
    parts: list[str] = []
    starts, ends, tags, importance = [], [], [], []
    cursor = 0
    for k, chunk in enumerate(chunks):
        for name in CHUNK_FIELDS:
            if not isinstance(chunk, dict) or name not in chunk:
                raise LabelledFormatError(f"{path}:{number}: field chunks[{k}].{name} missing")
        text = str(chunk["chunk"]).strip()
        if parts:
            sep = " " if _ENDS_SENTENCE.search(parts[-1]) else "\n\n"
            parts.append(sep)
            cursor += len(sep)
        parts.append(text)
        starts.append(cursor)
        cursor += len(text)
        ends.append(cursor)
        function_tags = chunk["function_tags"] or [""]
        if not isinstance(function_tags, list):
            raise LabelledFormatError(
                f"{path}:{number}: field chunks[{k}].function_tags must be a list of tags"
            )
        tags.append(str(function_tags[0]))
        value = chunk["counterfactual_importance_kl"]
        importance.append(float(value) if isinstance(value, (int, float)) else np.nan)
    group = (
        "/".join(str(record[k]) for k in ("model", "problem_id", "is_correct") if k in record)
        or f"line{number}"
    )
    return LabelledTrace(
        "".join(parts),
        np.asarray(starts, np.int64),
        np.asarray(ends, np.int64),
        tags,
        np.asarray(importance, np.float64),
        f"{group}#{number}",
        str(record["problem_id"]) if "problem_id" in record else "",
    )


def detected_sentences(detector: Any, trace: LabelledTrace) -> np.ndarray:
    """(S,) bool: the sentences of ``trace`` that share a character with a detector span."""
    from hicra.lexicon.tagging import overlap_mask

    span_starts, span_ends, _ = detector.span_arrays(trace.text)
    return overlap_mask(span_starts, span_ends, trace.starts, trace.ends)


def evaluate(
    detected: list[np.ndarray], traces: list[LabelledTrace], top: float = 0.10
) -> dict[str, Any]:
    """Scores of per-trace detected-sentence masks (see module docstring for each figure)."""
    hit = np.concatenate(detected)
    truth = np.concatenate([t.planning for t in traces])
    tags = np.array([tag for t in traces for tag in t.tags])
    importance = np.concatenate([t.importance for t in traces])
    tp = int((hit & truth).sum())
    precision = tp / hit.sum() if hit.any() else float("nan")
    recall = tp / truth.sum() if truth.any() else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    known = np.flatnonzero(~np.isnan(importance))
    n_top = max(1, int(round(top * len(known))))
    top_idx = known[np.argsort(-importance[known], kind="stable")[:n_top]]
    overall = hit.mean()
    return {
        "sentences": int(len(hit)),
        "traces": len(traces),
        "detected_share": float(overall),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "lift": float(hit[top_idx].mean() / overall) if overall > 0 else float("nan"),
        "true_label_lift": float(truth[top_idx].mean() / truth.mean())
        if truth.any()
        else float("nan"),
        "share_by_tag": {tag: float(hit[tags == tag].mean()) for tag in sorted(set(tags.tolist()))},
        "count_by_tag": {tag: int((tags == tag).sum()) for tag in sorted(set(tags.tolist()))},
    }


def covered_share(detector: Any, traces: list[LabelledTrace]) -> float:
    """Share of the traces' non-space characters inside a detector span: how much text the
    mask would cover (the placebo end of the scale is 1.0)."""
    covered, total = covered_chars(detector, traces)
    return covered / max(total, 1)


def covered_chars(detector: Any, traces: list[LabelledTrace]) -> tuple[int, int]:
    """(non-space characters inside a detector span, non-space characters) over the traces."""
    covered = total = 0
    for trace in traces:
        starts, ends, _ = detector.span_arrays(trace.text)
        inside = np.zeros(len(trace.text) + 1, dtype=np.int64)
        np.add.at(inside, starts, 1)
        np.add.at(inside, ends, -1)
        solid = np.array([not c.isspace() for c in trace.text], dtype=bool)
        covered += int(((np.cumsum(inside)[:-1] > 0) & solid).sum())
        total += int(solid.sum())
    return covered, total


def operating_points(
    scores: np.ndarray, truth: np.ndarray, recall: float = 0.8, precision: float = 0.7
) -> dict[str, float]:
    """What any threshold on ``scores`` can reach: an upper bound for a threshold rule.

    scores: (S,) float, higher = more planning; -inf = never detected (e.g. a sentence
            without a gram for ``sentence-grams``).
    truth:  (S,) bool planning labels.
    returns ``precision_at_recall``: the best precision over thresholds whose recall is
    >= ``recall`` (nan if none reaches it); ``recall_at_precision``: the best recall over
    thresholds whose precision is >= ``precision`` (0.0 if none); ``auc`` (ties count 1/2).
    Tied scores are detected together, so only thresholds at distinct scores are counted.
    The thresholds are picked on the scored sentences themselves, so a nested threshold
    (chosen without them) can only do as well or worse.

    >>> r = operating_points(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0], bool), 1.0, 1.0)
    >>> round(r["precision_at_recall"], 3), r["recall_at_precision"], r["auc"]
    (0.667, 0.5, 0.75)
    """
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order]
    finite = np.isfinite(s)
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True) & finite)  # end of each tie group
    tp = np.cumsum(t)[last]
    detected = last + 1
    p, r = tp / detected, tp / max(int(truth.sum()), 1)
    ok_r, ok_p = r >= recall, p >= precision
    _, group, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[group]  # ascending, ties averaged
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    auc = (ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / max(n_pos * n_neg, 1)
    return {
        "precision_at_recall": float(p[ok_r].max()) if ok_r.any() else float("nan"),
        "recall_at_precision": float(r[ok_p].max()) if ok_p.any() else 0.0,
        "auc": float(auc),
        "recall_target": recall,
        "precision_target": precision,
    }
