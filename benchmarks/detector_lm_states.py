"""Experiment: does the real LM's hidden state find planning sentences better than `sentence`?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/detector_lm_states.py [--cache /tmp/lm_states]

Runs SmolLM2-135M-Instruct (`--model`, default the offline alias `smollm2-135m`) over each
labelled trace of ../shared/data/thought_anchors_dev.jsonl.gz *in context* (the whole trace
as one sequence, causal), and keeps per sentence the mean of its tokens' hidden states at
layers 6, 12, 18, 24, 30 (and the state of its last token). Cached per trace under --cache
(about 300 s of one core for the 20 traces, 60k tokens).

Then, with folds grouped by problem (leave one problem out, as `hicra detector eval --cv 5`):

1. **screening**: a standardised L2 logistic regression on one layer's states (optionally
   with the two neighbours' states), pooled out-of-fold scores: AUC and the best precision at
   recall >= 0.80 over thresholds (an upper bound: picked on the scored problems);
2. **nested**: layer and C chosen by inner leave-one-problem-out AUC on the training problems
   only, threshold the highest with inner out-of-fold recall >= 0.80, scored once on the
   held-out problem;
3. **combination** (screening only): the shipped `sentence` recipe's nested held-out logits
   (`fit_head` per outer fold) and the LM head's out-of-fold logits, each z-scored over the
   pool, averaged with fixed equal weights (no weight fitted).

Prints one line per configuration; docs/detectors.md quotes them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from hicra.lexicon.labelled import operating_points, read_labelled  # noqa: E402
from hicra.lexicon.sentence_train import threshold_for_recall  # noqa: E402

DEV = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "thought_anchors_dev.jsonl.gz"
)
LAYERS = (6, 12, 18, 24, 30)
SCREEN = [  # (layer, pooling, neighbours on each side, C)
    (6, "mean", 0, 0.003),
    (12, "mean", 0, 0.01),
    (18, "mean", 0, 0.01),
    (30, "mean", 0, 0.01),
    (12, "mean", 0, 0.001),
    (12, "mean", 0, 0.0003),
    (18, "mean", 0, 0.0003),
    (18, "mean", 0, 0.0001),
    (18, "mean", 1, 0.001),
    (12, "mean", 1, 0.003),
    (18, "last", 0, 0.001),
    (24, "last", 0, 0.001),
]
NESTED_GRID = list(itertools.product((12, 18), ("mean",), (0,), (0.0001, 0.0003, 0.001)))
COMBINE = (18, "mean", 0, 0.0003)


def lm_states(traces, cache: Path, model_spec: str) -> list[dict[str, np.ndarray]]:
    """Per trace {"mean", "last"}: (len(LAYERS), S, hidden) float32, computed once per trace."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / f"smol_{i:02d}.npz" for i in range(len(traces))]
    if not all(p.exists() for p in paths):
        import torch

        from hicra.models.loading import load_model_and_tokenizer

        torch.set_num_threads(1)
        model, tokenizer = load_model_and_tokenizer(model_spec, dtype=torch.float32)
        model.eval()
        cpu = time.process_time()
        for i, (trace, path) in enumerate(zip(traces, paths)):
            if path.exists():
                continue
            enc = tokenizer(trace.text, return_offsets_mapping=True, add_special_tokens=False)
            with torch.no_grad():
                out = model(torch.tensor([enc["input_ids"]]), output_hidden_states=True)
            hidden = np.stack([out.hidden_states[k][0].float().numpy() for k in LAYERS])
            # (L, T, H); each token belongs to the sentence its first character is in
            sentence = np.searchsorted(
                trace.ends, np.array(enc["offset_mapping"])[:, 0], side="right"
            )
            n_sent = len(trace.starts)
            mean = np.zeros((len(LAYERS), n_sent, hidden.shape[2]), np.float32)
            last = np.zeros_like(mean)
            for s in range(n_sent):
                at = np.flatnonzero(sentence == s)
                if len(at):
                    mean[:, s], last[:, s] = hidden[:, at].mean(1), hidden[:, at[-1]]
            np.savez(path, mean=mean, last=last)
            print(
                f"trace {i}: {len(enc['input_ids'])} tokens, {time.process_time() - cpu:.0f} s CPU"
            )
    return [dict(np.load(p)) for p in paths]


def features(states, row: np.ndarray, layer: int, pool: str, neighbours: int) -> np.ndarray:
    """(S, H * (1 + 2 * neighbours)): a layer's states, then each neighbour's (own if none)."""
    own = np.concatenate([z[pool][LAYERS.index(layer)] for z in states]).astype(np.float64)
    blocks, index = [own], np.arange(len(own))
    for shift in range(1, neighbours + 1):
        for d in (-shift, shift):
            other = np.clip(index + d, 0, len(own) - 1)
            same = (index + d >= 0) & (index + d < len(own)) & (row[other] == row)
            blocks.append(np.where(same[:, None], own[other], own))
    return np.hstack(blocks)


def fit(X: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    mu, sd = X.mean(0), X.std(0) + 1e-6
    model = LogisticRegression(C=c, max_iter=3000).fit((X - mu) / sd, y)
    return lambda Z: model.decision_function((Z - mu) / sd)


def out_of_fold(X: np.ndarray, y: np.ndarray, groups: np.ndarray, c: float) -> np.ndarray:
    """(S,) logits, each group scored by a model fitted on the other groups."""
    out = np.zeros(len(y))
    for g in np.unique(groups):
        held = groups == g
        out[held] = fit(X[~held], y[~held], c)(X[held])
    return out


def summary(scores: np.ndarray, y: np.ndarray) -> str:
    r = operating_points(scores, y)
    return (
        f"AUC {r['auc']:.3f}  P at R>=0.80 (any threshold) {r['precision_at_recall']:.3f}  "
        f"R at P>=0.70 {r['recall_at_precision']:.3f}"
    )


def nested(states, y, problems, row, target: float = 0.8) -> np.ndarray:
    """(S,) held-out logits; prints the nested precision / recall (module docstring, 2)."""
    from sklearn.metrics import roc_auc_score

    X = {g[:3]: features(states, row, *g[:3]) for g in NESTED_GRID}
    scores, detected = np.zeros(len(y)), np.zeros(len(y), bool)
    for p in np.unique(problems):
        test, train = problems == p, problems != p
        best = None
        for g in NESTED_GRID:
            oof = out_of_fold(X[g[:3]][train], y[train], problems[train], g[3])
            auc = roc_auc_score(y[train], oof)
            if best is None or auc > best[0]:
                best = (auc, g, oof)
        auc, g, oof = best
        threshold = threshold_for_recall(1 / (1 + np.exp(-oof)), y[train], target)
        scores[test] = fit(X[g[:3]][train], y[train], g[3])(X[g[:3]][test])
        detected[test] = 1 / (1 + np.exp(-scores[test])) >= threshold
        print(f"  held out {p}: chose layer {g[0]} C {g[3]} (inner AUC {auc:.3f})")
    tp = int((detected & y).sum())
    precision, recall = tp / max(int(detected.sum()), 1), tp / int(y.sum())
    print(
        f"nested LM head: precision {precision:.3f} recall {recall:.3f} "
        f"F1 {2 * precision * recall / (precision + recall):.3f}  {summary(scores, y)}"
    )
    return scores


def shipped_recipe_logits(traces) -> np.ndarray:
    """(S,) the `sentence` recipe's held-out second-stage logits, leave one problem out."""
    from hicra.lexicon.minilm_static import static_embeddings
    from hicra.lexicon.sentence_train import fit_head, problem_folds, trace_tokens

    table, tokens = static_embeddings(), trace_tokens(traces)
    scores: list[np.ndarray] = [np.zeros(0)] * len(traces)
    for train, test in problem_folds(np.array([t.problem for t in traces]), 5):
        head = fit_head([traces[i] for i in train], table, tokens=[tokens[i] for i in train])
        for i in test:
            scores[i] = head.planning_logits(tokens[i])
    return np.concatenate(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEV))
    parser.add_argument("--cache", default="/tmp/lm_states", help="per-trace hidden states")
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    traces = read_labelled(args.data)
    y = np.concatenate([t.planning for t in traces])
    problems = np.concatenate([[t.problem] * len(t.starts) for t in traces])
    row = np.concatenate([[i] * len(t.starts) for i, t in enumerate(traces)])
    states = lm_states(traces, Path(args.cache), args.model)
    print("screening (leave one problem out, pooled):")
    oof = {}
    for g in SCREEN:
        oof[g] = out_of_fold(features(states, row, *g[:3]), y, problems, g[3])
        print(f"  layer {g[0]:2d} {g[1]:4s} neighbours {g[2]} C {g[3]:<7}: {summary(oof[g], y)}")
    nested(states, y, problems, row)
    base = shipped_recipe_logits(traces)
    print(f"shipped `sentence` recipe, nested held-out logits: {summary(base, y)}")

    def z(s: np.ndarray) -> np.ndarray:
        return (s - s.mean()) / s.std()

    combined = 0.5 * z(base) + 0.5 * z(oof[COMBINE])
    print(f"mean of z-scored logits, `sentence` + LM layer {COMBINE[0]}: {summary(combined, y)}")


if __name__ == "__main__":
    main()
