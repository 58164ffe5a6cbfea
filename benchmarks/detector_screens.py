"""Experiment: two variants of the `sentence` recipe under the full nested protocol.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/detector_screens.py [--only numbers|multinomial]

Both run the protocol of `hicra detector eval --detector sentence --cv 5` (outer and inner
folds leave one problem out; C, second stage and threshold for recall 0.80 chosen inside the
training problems only) on ../shared/data/thought_anchors_dev.jsonl.gz, and print the pooled
nested precision / recall / F1, the AUC and the two operating points (upper bounds: thresholds
picked on the scored problems), next to the shipped recipe run by the same code:

- ``numbers``: every WordPiece holding a digit (2,103 of MiniLM's vocabulary, 16% of the
  file's tokens) becomes one token, whose static embedding is the mean of theirs; the idea:
  a problem's own numbers cannot carry to a new problem;
- ``multinomial``: the first stage is one logistic regression on all eight function tags
  (planning score: log-odds of the summed probability of the planning tags), then the same
  context stage; the screening in docs/detectors.md gave it +0.007 to 0.015 in AUC alone.

About 1.5 minutes (shipped, numbers) and 11 minutes (multinomial) of one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402

from hicra.errors import InputError  # noqa: E402
from hicra.lexicon.labelled import PLANNING_TAGS, operating_points, read_labelled  # noqa: E402
from hicra.lexicon.minilm_static import static_embeddings  # noqa: E402
from hicra.lexicon.sentence_context import context_features  # noqa: E402
from hicra.lexicon.sentence_detector import VOCAB_SIZE, minilm_tokenizer  # noqa: E402
from hicra.lexicon.sentence_train import (  # noqa: E402
    _Scaled,
    choose_c,
    design,
    fit_head,
    fit_second_stage,
    problem_folds,
    trace_tokens,
)

DEV = "../shared/data/thought_anchors_dev.jsonl.gz"
MERGED_ID = 1  # "[unused0]" in MiniLM's vocabulary: free to stand for every number token
C_GRID = (0.003, 0.01, 0.03)


def report(label: str, scores: np.ndarray, detected: np.ndarray, y: np.ndarray, t0: float):
    from sklearn.metrics import roc_auc_score

    p = (detected & y).sum() / max(detected.sum(), 1)
    r = (detected & y).sum() / y.sum()
    curve = operating_points(scores, y)
    print(
        f"{label}: nested precision {p:.3f} recall {r:.3f} F1 {2 * p * r / (p + r):.3f} "
        f"AUC {roc_auc_score(y, scores):.3f}; any threshold: P at R>=0.8 "
        f"{curve['precision_at_recall']:.3f}, R at P>=0.7 {curve['recall_at_precision']:.3f} "
        f"({time.time() - t0:.0f} s)",
        flush=True,
    )


def shipped_recipe(traces, tokens, table, label: str) -> None:
    """`fit_head` per outer fold, scored on the held-out problem's tokens."""
    t0 = time.time()
    scores, detected = [None] * len(traces), [None] * len(traces)
    for train, test in problem_folds(np.array([t.problem for t in traces]), 5):
        head = fit_head(
            [traces[i] for i in train], table, 0.8, 5, tokens=[tokens[i] for i in train]
        )
        for i in test:
            scores[i] = head.planning_logits(tokens[i])
            detected[i] = 1.0 / (1.0 + np.exp(-scores[i])) >= head.threshold
    y = np.concatenate([t.planning for t in traces])
    report(label, np.concatenate(scores), np.concatenate(detected), y, t0)


def numbers_merged(tokens, table):
    """(tokens, table) with every digit-bearing WordPiece mapped to MERGED_ID."""
    digit = np.zeros(VOCAB_SIZE, bool)
    for piece, i in minilm_tokenizer().get_vocab().items():
        digit[i] = any(ch.isdigit() for ch in piece)
    remap = np.arange(VOCAB_SIZE)
    remap[digit] = MERGED_ID
    merged_table = table.copy()
    merged_table[MERGED_ID] = table[digit].mean(0)
    return [replace(t, ids=remap[t.ids]) for t in tokens], merged_table


def multinomial(traces, tokens, table) -> None:
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    sparse, emb, hand = design(tokens, table)
    y = np.concatenate([t.planning for t in traces])
    tags = np.concatenate([np.asarray(t.tags) for t in traces])
    names = sorted(set(tags.tolist()))
    tag_id = np.array([names.index(t) for t in tags])
    planning_ids = [k for k, n in enumerate(names) if n in PLANNING_TAGS]
    row = np.concatenate([[i] * len(t.starts) for i, t in enumerate(traces)])
    problem = np.concatenate([[t.problem] * len(t.starts) for t in traces])

    def planning_logodds(train, test, c):
        scaled = _Scaled(emb[train], hand[train])
        model = LogisticRegression(C=c, max_iter=5000).fit(
            scaled.matrix(sparse[train], emb[train], hand[train]), tag_id[train]
        )
        p = model.predict_proba(scaled.matrix(sparse[test], emb[test], hand[test]))
        q = np.clip(p[:, np.isin(model.classes_, planning_ids)].sum(1), 1e-9, 1 - 1e-9)
        return np.log(q / (1 - q))

    scores, detected = np.zeros(len(y)), np.zeros(len(y), bool)
    for outer, test in problem_folds(problem, 5):  # fit_head's steps, on the 8-tag head

        def first_stage(a, b, c, outer=outer):
            return planning_logodds(outer[a], outer[b], c)

        inner = problem_folds(problem[outer], 5)
        _, c, oof = choose_c(first_stage, y[outer], inner, C_GRID)
        (weight, bias), threshold = fit_second_stage(
            oof, row[outer], hand[outer], y[outer], inner, 0.8
        )
        first = planning_logodds(outer, test, c)
        # context rows are whole traces, so a held-out sentence only sees held-out neighbours
        scores[test] = context_features(first, row[test], hand[test]) @ weight + bias
        detected[test] = 1 / (1 + np.exp(-scores[test])) >= threshold
    report("multinomial first stage + context stage", scores, detected, y, t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("numbers", "multinomial"))
    parser.add_argument("--data", default=DEV, help="labelled JSONL (default: the dev file)")
    args = parser.parse_args(argv)
    try:
        traces = read_labelled(args.data)
    except InputError as err:
        parser.error(str(err))
    problems = len({t.problem for t in traces})
    if problems < 3:  # outer folds leave one problem out, inner folds one more
        parser.error(f"{args.data}: needs traces of at least 3 problems, found {problems}")
    table = static_embeddings()
    tokens = trace_tokens(traces)
    if args.only is None:
        shipped_recipe(traces, tokens, table, "shipped recipe")
    if args.only in (None, "numbers"):
        shipped_recipe(traces, *numbers_merged(tokens, table), "numbers merged")
    if args.only in (None, "multinomial"):
        multinomial(traces, tokens, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
