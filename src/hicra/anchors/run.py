"""`run_anchors`: resample every sentence boundary of every trace, then score the sentences.

For a trace with sentences S_0..S_{n-1} (0-based here), boundary i is the context "prompt +
S_0..S_{i-1}" (i = 0: the prompt alone; i = n: the whole trace). N continuations are sampled
at each boundary; the continuations at boundary i are R_i (S_i resampled) and those at i + 1
are R_{i+1} (S_i kept), from which `estimators.sentence_importance` computes S_i's importances.
Thought Anchors has no set after the last sentence (its last sentence gets 0); we sample one
(boundary n), so the last sentence, often the one that concludes, is measured too.

Boundaries are generated in fixed groups of `batch_rows // samples` per trace, each group from
its own seed (derived from `seed`, the trace and the group), so a resumed run samples exactly
what an uninterrupted one would. Each boundary's continuations are written as soon as their
group is done (`store.AnchorsStore`); a trace's result is written when all its boundaries are.
"""

from __future__ import annotations

import math
import sys
import time
import zlib
from dataclasses import dataclass
from typing import Any

from hicra.anchors.estimators import Resample, sentence_importance
from hicra.anchors.outcomes import AnchorsTask
from hicra.anchors.sentences import first_sentence, split_sentences
from hicra.anchors.store import AnchorsStore, read_json, write_json
from hicra.anchors.traces import Trace, join
from hicra.cli_args import COUNT, FRACTION, POSITIVE, SEED, TEMPERATURE, Range, check_fields


@dataclass(frozen=True)
class AnchorsConfig:
    """How sentences are resampled and scored (every field is a `hicra anchors` option)."""

    samples: int = 20
    """Continuations per sentence boundary (Thought Anchors used 100)."""
    max_sentences: int = 0
    """Analyse at most this many sentences per trace, evenly spaced (0 = all)."""
    max_traces: int = 0
    """Analyse at most this many traces (0 = all)."""
    temperature: float = 0.6
    """Sampling temperature of base traces and continuations (Thought Anchors: 0.6)."""
    top_p: float = 0.95
    """Nucleus sampling mass (Thought Anchors: 0.95; 1 = the full distribution)."""
    max_new_tokens: int = 512
    """Token budget of a base trace and of each continuation."""
    similarity_threshold: float = 0.8
    """A resampled sentence counts as different when its MiniLM cosine to the original is below this."""
    kl_smoothing: float = 1e-9
    """Additive smoothing of answer counts in the KL importances (the published value)."""
    sentence_mode: str = ""
    """sentences (Thought Anchors' splitter) or clauses (also ':' and ';'); "" = the task's."""
    detector: str = ""
    """Planning detector (any `load_detector` spelling); "" = the task's own lexicon."""
    planning_min_fraction: float = 0.0
    """A sentence is planning when the detector marks more than this fraction of its characters."""
    embedder: str = ""
    """Local sentence-transformers directory for the similarity ("" = packaged all-MiniLM-L6-v2)."""
    batch_rows: int = 256
    """Continuations generated per batch (boundaries of a trace are grouped to fill it)."""
    seed: int = 0
    """Seed of base traces, puzzles and continuations."""
    top_fraction: float = 0.1
    """Share of sentences (pooled over traces, ranked by |importance|) called the top anchors."""
    keep_texts: bool = False
    """Also store every continuation's full text (large for long traces)."""
    require_ending: bool = True
    """Refuse a trace when no continuation from its prompt ends within the token budget."""
    skip_unended: bool = False
    """Drop sampled base traces that reach the token budget without ending (they have no
    answer), listing them in OUT/skipped_traces.json, instead of refusing the run."""


BOUNDS = {  # the range of every numeric option (`hicra.cli_args.check_fields`)
    "samples": Range(1, 10**6),
    "max_sentences": COUNT,  # 0 = no limit
    "max_traces": COUNT,
    "temperature": TEMPERATURE,
    "top_p": Range(0, 1, low_open=True),
    "max_new_tokens": Range(1, 10**7),
    "similarity_threshold": Range(-1, 1),
    "kl_smoothing": POSITIVE,
    "planning_min_fraction": FRACTION,
    "batch_rows": Range(1, 10**7),
    "seed": SEED,
    "top_fraction": Range(0, 1, low_open=True),
}


def validate(cfg: AnchorsConfig) -> None:
    """One-line InputError for a setting that cannot work (the option named)."""
    from hicra.anchors.sentences import MODES
    from hicra.errors import InputError

    check_fields(cfg, BOUNDS, lambda name: "--" + name.replace("_", "-"))
    if cfg.sentence_mode and cfg.sentence_mode not in MODES:
        raise InputError(
            f"--sentence-mode {cfg.sentence_mode!r}: expected one of {', '.join(MODES)}"
        )


def selected_sentences(n: int, limit: int) -> list[int]:
    """Indices of the sentences analysed: all, or `limit` evenly spaced ones (first and last kept).

    >>> selected_sentences(10, 4)
    [0, 3, 6, 9]
    """
    if limit <= 0 or limit >= n:
        return list(range(n))
    if limit == 1:
        return [0]
    return sorted({round(k * (n - 1) / (limit - 1)) for k in range(limit)})


def plan_trace(
    trace: Trace, task: AnchorsTask, cfg: AnchorsConfig, detector: Any
) -> dict[str, Any]:
    """The trace split into sentences, each classed planning/execution (and its countdown
    role), with the sentences to analyse and the boundaries that needs."""
    mode = cfg.sentence_mode or task.sentence_mode
    sentences = split_sentences(trace.response, mode)
    import numpy as np

    marked = np.zeros(len(trace.response), dtype=bool)  # (chars,) inside a planning span
    for span in detector.find_spans(trace.response):
        marked[span.start : span.end] = True
    roles = task.roles(trace.prompt, [s.text for s in sentences]) or [{} for _ in sentences]
    rows = []
    for sentence, role in zip(sentences, roles):
        covered = int(marked[sentence.start : sentence.end].sum())
        fraction = covered / max(sentence.end - sentence.start, 1)
        rows.append(
            {
                "index": sentence.index,
                "start": sentence.start,
                "end": sentence.end,
                "text": sentence.text,
                "planning_fraction": fraction,
                "class": "planning"
                if covered and fraction > cfg.planning_min_fraction
                else "execution",
                **({"role": role} if role else {}),
            }
        )
    chosen = selected_sentences(len(sentences), cfg.max_sentences)
    boundaries = sorted(set(chosen) | {i + 1 for i in chosen})
    return {
        "trace": trace.to_dict(),
        "sentence_mode": mode,
        "sentences": rows,
        "analysed": chosen,
        "boundaries": boundaries,
    }


def boundary_context(
    trace: Trace, sentences: list[dict[str, Any]], boundary: int
) -> tuple[str, str]:
    """(text given to the model, the response prefix it holds) at a boundary."""
    cut = sentences[boundary]["start"] if boundary < len(sentences) else len(trace.response)
    prefix = trace.response[:cut].rstrip()
    return join(trace.context, prefix), prefix


def group_seed(seed: int, key: str, group: int) -> int:
    return zlib.crc32(f"{seed}/{key}/{group}".encode()) & 0x7FFFFFFF


def resample_trace(
    plan: dict[str, Any],
    backend: Any,
    task: AnchorsTask,
    store: AnchorsStore,
    cfg: AnchorsConfig,
    on_boundary=None,
) -> None:
    """Generate and write every boundary of a planned trace that is not on disk yet."""
    trace = Trace(**plan["trace"])
    outcome = task.outcome(trace.prompt, trace.gold)
    per_group = max(1, cfg.batch_rows // cfg.samples)
    boundaries = plan["boundaries"]
    done = store.done_boundaries(trace.key)
    for g in range(0, len(boundaries), per_group):
        group = boundaries[g : g + per_group]
        if all(b in done for b in group):
            continue
        contexts, prefixes = zip(*(boundary_context(trace, plan["sentences"], b) for b in group))
        rows = backend.sample(
            list(contexts), cfg.samples, group_seed(cfg.seed, trace.key, g // per_group)
        )
        if group[0] == 0:
            check_generation(trace, rows[: cfg.samples], cfg)
        for j, boundary in enumerate(group):
            records = []
            for row in rows[j * cfg.samples : (j + 1) * cfg.samples]:
                response = (prefixes[j] + row.text).strip()
                answer, correct = outcome(response)
                record = {
                    "replacement": first_sentence(row.text, plan["sentence_mode"]),
                    "answer": answer,
                    "correct": correct,
                    "n_tokens": row.n_tokens,
                    "ended": row.ended,
                }
                if cfg.keep_texts:
                    record["text"] = row.text
                records.append(record)
            write_json(
                store.boundary_path(trace.key, boundary), {"boundary": boundary, "rows": records}
            )
            if on_boundary is not None:
                on_boundary()


def check_generation(trace: Trace, rows: list, cfg: AnchorsConfig) -> None:
    """Refuse (one line naming the trace) a model that cannot continue the trace's prompt:
    every continuation empty, or (with `require_ending`) none ending within the budget."""
    from hicra.anchors.traces import AnchorsInputError

    if all(not row.text.strip() for row in rows):
        raise AnchorsInputError(
            f"trace {trace.key} ({trace.source}): all {len(rows)} continuations from the "
            "prompt are empty: the model cannot generate a response to it"
        )
    if cfg.require_ending and not any(row.ended for row in rows):
        raise AnchorsInputError(
            f"trace {trace.key} ({trace.source}): none of {len(rows)} continuations from the "
            f"prompt ended within --max-new-tokens {cfg.max_new_tokens} (no end-of-sequence "
            "token); raise --max-new-tokens or check the model"
        )


def score_trace(
    plan: dict[str, Any], task: AnchorsTask, store: AnchorsStore, cfg: AnchorsConfig, embed
) -> dict[str, Any]:
    """The per-trace result: every sentence with its class and, when analysed, its importances.

    embed: list[str] -> (k, D) unit vectors (cosine = dot product).
    """
    import numpy as np

    key = plan["trace"]["key"]
    sets = {b: read_json(store.boundary_path(key, b))["rows"] for b in plan["boundaries"]}
    sentences = [dict(s) for s in plan["sentences"]]
    texts = sorted(
        {s["text"] for s in sentences} | {r["replacement"] for rows in sets.values() for r in rows}
    )
    index = {t: i for i, t in enumerate(texts)}
    vectors = np.asarray(embed(texts), dtype=np.float32)
    for i in plan["analysed"]:
        original = vectors[index[sentences[i]["text"]]]
        removed = [
            Resample(
                r["answer"],
                r["correct"],
                float(vectors[index[r["replacement"]]] @ original) if r["replacement"] else 0.0,
                r["replacement"],
            )
            for r in sets[i]
        ]
        kept = [Resample(r["answer"], r["correct"]) for r in sets[i + 1]]
        sentences[i]["importance"] = sentence_importance(
            removed, kept, cfg.similarity_threshold, cfg.kl_smoothing
        )
    base = plan["trace"]
    answer, correct = task.outcome(base["prompt"], base["gold"])(base["response"])
    return {
        "key": key,
        "prompt": base["prompt"],
        "response": base["response"],
        "source": base["source"],
        "answer": answer,
        "correct": correct,
        "sentence_mode": plan["sentence_mode"],
        "n_sentences": len(sentences),
        "analysed": plan["analysed"],
        "sentences": sentences,
        "boundary_accuracy": {str(b): _acc(rows) for b, rows in sets.items()},
    }


def _acc(rows: list[dict[str, Any]]) -> float:
    answered = [r for r in rows if r["answer"]]
    return sum(r["correct"] for r in answered) / len(answered) if answered else math.nan


def run_anchors(
    traces: list[Trace],
    backend: Any,
    task: AnchorsTask,
    detector: Any,
    store: AnchorsStore,
    cfg: AnchorsConfig,
    embed,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Resample and score every trace (skipping what `store` already holds); the per-trace results."""
    plans = [plan_trace(t, task, cfg, detector) for t in traces]
    pending = sum(
        len(set(p["boundaries"]) - store.done_boundaries(p["trace"]["key"])) for p in plans
    )
    bar = _progress_bar(pending, progress)
    start, sentences_done = time.time(), 0
    results = []
    for plan in plans:
        key = plan["trace"]["key"]
        path = store.trace_path(key)
        if not path.exists():
            resample_trace(plan, backend, task, store, cfg, on_boundary=bar.update if bar else None)
            write_json(path, score_trace(plan, task, store, cfg, embed))
            sentences_done += len(plan["analysed"])
            if bar is not None:
                minutes = max(time.time() - start, 1e-9) / 60
                bar.set_postfix(sentences_per_min=f"{sentences_done / minutes:.1f}")
        results.append(read_json(path))
    if bar is not None:
        bar.close()
    return results


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="anchors: boundaries", unit="boundary", file=sys.stderr)
