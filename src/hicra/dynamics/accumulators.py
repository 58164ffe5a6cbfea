"""Streaming per-step accumulators and `step_metrics`.

One `StepAccumulator` folds any number of batches of one training step (micro-batches of a
trainer, row groups of a 10 GB dump) into exact per-step metrics: it keeps sums and counts,
never the batches, so memory is bounded by the number of distinct Strategic Grams and
prompts, not by the data. `step_metrics(...)` is the one-batch case and is what the built-in
trainer and the TRL adapter log. Metric names are listed in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hicra.dynamics.metrics import as_numpy, class_sums, mean_pass_at_k, safe_mean
from hicra.dynamics.semantic import (
    FOLLOW_N,
    category_entropies,
    conditional_entropy,
    following_ngram,
    shannon_entropy,
)

BACKTRACK_CATEGORIES = ("backtrack", "backtracking", "backtracing", "branching_backtracking")
"""Lexicon categories whose use counts a response as backtracking (`backtrack/rate`)."""


class StepAccumulator:
    """Exact per-step metrics over many batches of one step.

    lexicon: a StrategicLexicon (find_grams, category) or None (no semantic metrics).
    follow_n: words in the procedural n-gram of the conditional-entropy control.
    backtrack_categories: categories counted by `backtrack/rate`.

    >>> acc = StepAccumulator(None)
    >>> acc.update(rewards=[1.0, 0.0], correct=[True, False])
    >>> acc.update(rewards=[1.0, 1.0], correct=[True, True])
    >>> acc.result()["accuracy"]
    0.75
    """

    def __init__(
        self,
        lexicon: Any,
        *,
        follow_n: int = FOLLOW_N,
        backtrack_categories: Sequence[str] = BACKTRACK_CATEGORIES,
    ) -> None:
        self.lexicon = lexicon
        self.follow_n = follow_n
        self.backtrack_categories = frozenset(backtrack_categories)
        self._category_cache: dict[str, str | None] = {}
        # token-level sums per class
        self.token_count: Counter = Counter()
        self.entropy_sum: Counter = Counter()
        self.nll_sum: Counter = Counter()
        self.entropy_count: Counter = Counter()
        self.nll_count: Counter = Counter()
        self.masked_responses = 0
        # text-level
        self.texts = 0
        self.words = 0
        self.chars = 0
        self.gram_chars = 0
        self.gram_counts: Counter = Counter()
        self.follow_counts: Counter = Counter()
        self.responses_with_category: Counter = Counter()
        self.responses_with_backtrack = 0
        # outcomes
        self.reward_n = 0
        self.reward_sum = 0.0
        self.reward_sumsq = 0.0
        self.correct_n = 0
        self.correct_sum = 0
        self.truncated_n = 0
        self.truncated_sum = 0
        self.groups: dict[Any, list[int]] = {}

    # ------------------------------------------------------------------ folding
    def update(
        self,
        texts: Sequence[str] | None = None,
        *,
        entropy: Any = None,
        logp: Any = None,
        response_mask: Any = None,
        planning_mask: Any = None,
        rewards: Any = None,
        correct: Any = None,
        truncated: Any = None,
        group_ids: Any = None,
    ) -> None:
        """Fold one batch of B responses (all arguments optional, shapes as in step_metrics)."""
        if any(x is not None for x in (entropy, logp, planning_mask)) or response_mask is not None:
            self._update_tokens(entropy, logp, response_mask, planning_mask)
        if texts is not None:
            self.update_texts(texts)
        if rewards is not None:
            r = as_numpy(rewards, np.float64).reshape(-1)
            self.reward_n += r.size
            self.reward_sum += float(r.sum())
            self.reward_sumsq += float((r * r).sum())
        if correct is not None:
            c = as_numpy(correct, bool).reshape(-1)
            self.correct_n += c.size
            self.correct_sum += int(c.sum())
            if group_ids is not None:
                gids = as_numpy(group_ids).reshape(-1).tolist()
                if len(gids) != c.size:
                    raise ValueError(f"group_ids has {len(gids)} entries, correct has {c.size}")
                for g, ok in zip(gids, c.tolist()):
                    slot = self.groups.setdefault(g, [0, 0])
                    slot[0] += 1
                    slot[1] += int(ok)
        if truncated is not None:
            t = as_numpy(truncated, bool).reshape(-1)
            self.truncated_n += t.size
            self.truncated_sum += int(t.sum())

    def _update_tokens(
        self, entropy: Any, logp: Any, response_mask: Any, planning_mask: Any
    ) -> None:
        sums = class_sums(
            entropy=entropy, logp=logp, response_mask=response_mask, planning_mask=planning_mask
        )
        self.token_count.update(sums.count)
        if sums.entropy_sum is not None:
            self.entropy_sum.update(sums.entropy_sum)
            self.entropy_count.update(sums.count)
        if sums.nll_sum is not None:
            self.nll_sum.update(sums.nll_sum)
            self.nll_count.update(sums.count)
        if response_mask is not None:
            self.masked_responses += int(as_numpy(response_mask).shape[0])

    def update_texts(self, texts: Iterable[str]) -> None:
        """Fold response texts: lengths, Strategic-Gram counts and the follow-up n-grams."""
        lexicon = self.lexicon
        for text in texts:
            self.texts += 1
            self.chars += len(text)
            self.words += len(text.split())
            if lexicon is None:
                continue
            cats: set[str] = set()
            for span in lexicon.find_grams(text):
                gram = span.phrase
                self.gram_counts[gram] += 1
                self.gram_chars += span.end - span.start
                follow = following_ngram(text, span.end, self.follow_n)
                if follow is not None:
                    self.follow_counts[(gram, follow)] += 1
                cat = self._category(gram)
                if cat is not None:
                    cats.add(cat)
            self.responses_with_category.update(cats)
            if cats & self.backtrack_categories:
                self.responses_with_backtrack += 1

    def _category(self, gram: str) -> str | None:
        if gram not in self._category_cache:
            self._category_cache[gram] = self.lexicon.category(gram)
        return self._category_cache[gram]

    # ------------------------------------------------------------------ reading
    def result(self) -> dict[str, float]:
        """The step's metrics; only those computable from what was folded."""
        out: dict[str, float] = {}
        if self.token_count:
            self._token_result(out)
        if self.texts:
            self._text_result(out)
        if self.reward_n:
            mean = self.reward_sum / self.reward_n
            out["reward/mean"] = mean
            out["reward/std"] = math.sqrt(max(self.reward_sumsq / self.reward_n - mean * mean, 0.0))
        if self.correct_n:
            out["accuracy"] = self.correct_sum / self.correct_n
        if self.truncated_n:
            out["length/truncated_frac"] = self.truncated_sum / self.truncated_n
        if self.groups:
            for k, v in mean_pass_at_k({g: (n, c) for g, (n, c) in self.groups.items()}).items():
                out[f"pass@{k}"] = v
        n = max(self.reward_n, self.correct_n, self.texts, self.masked_responses, self.truncated_n)
        if n:
            out["responses"] = float(n)
        return out

    def _token_result(self, out: dict[str, float]) -> None:
        for cls, n in self.token_count.items():
            out[f"tokens/{cls}"] = n
        if "planning" in self.token_count:
            out["tokens/planning_fraction"] = safe_mean(
                self.token_count["planning"], self.token_count["all"]
            )
        for cls, total in self.entropy_sum.items():
            out[f"entropy/{cls}"] = safe_mean(total, self.entropy_count[cls])
        for cls, total in self.nll_sum.items():
            nll = safe_mean(total, self.nll_count[cls])
            out[f"nll/{cls}"] = nll
            out[f"perplexity/{cls}"] = math.exp(nll) if math.isfinite(nll) else float("nan")
        if self.masked_responses:
            out["length/mean"] = self.token_count["all"] / self.masked_responses

    def _text_result(self, out: dict[str, float]) -> None:
        out["length/mean_words"] = self.words / self.texts
        out["length/mean_chars"] = self.chars / self.texts
        if self.lexicon is None:
            return
        occurrences = sum(self.gram_counts.values())
        out["semantic/entropy"] = shannon_entropy(self.gram_counts)
        out["semantic/distinct_grams"] = float(len(self.gram_counts))
        out["semantic/occurrences"] = float(occurrences)
        out["semantic/grams_per_response"] = occurrences / self.texts
        out["semantic/cond_entropy"] = conditional_entropy(self.follow_counts)
        out["chars/planning_fraction"] = safe_mean(self.gram_chars, self.chars)
        for cat, h in sorted(category_entropies(self.gram_counts, self._category).items()):
            out[f"semantic/entropy_{cat}"] = h
        for cat, n in sorted(self.responses_with_category.items()):
            out[f"semantic/rate_{cat}"] = n / self.texts
        if self._lexicon_has_backtrack():
            out["backtrack/rate"] = self.responses_with_backtrack / self.texts

    def _lexicon_has_backtrack(self) -> bool:
        cats = getattr(self.lexicon, "categories", None)
        cats = cats() if callable(cats) else cats
        if cats:
            return bool(set(cats) & self.backtrack_categories)
        return bool(set(self.responses_with_category) & self.backtrack_categories)


def step_metrics(
    texts: Sequence[str] | None,
    lexicon: Any,
    *,
    entropy: Any = None,
    logp: Any = None,
    response_mask: Any = None,
    planning_mask: Any = None,
    rewards: Any = None,
    correct: Any = None,
    truncated: Any = None,
    group_ids: Any = None,
) -> dict[str, float]:
    """Every per-step metric computable from what is given (names: docs/metrics.md).

    texts: B response texts (None: no text metrics). lexicon: StrategicLexicon or None.
    entropy: (B, T) full next-token entropy; logp: (B, T) log-prob of the sampled tokens;
    response_mask: (B, T) bool real response tokens; planning_mask: (B, T) bool planning tokens;
    rewards: (B,); correct: (B,) bool; truncated: (B,) bool cut at the length limit;
    group_ids: (B,) prompt of each response (for pass@k, with `correct`).
    numpy arrays or torch tensors (any device) are accepted.

    >>> m = step_metrics(None, None, logp=[[-1.0, -2.0]], planning_mask=[[True, False]])
    >>> m["nll/planning"], m["nll/execution"], m["tokens/planning_fraction"]
    (1.0, 2.0, 0.5)
    """
    acc = StepAccumulator(lexicon)
    acc.update(
        texts,
        entropy=entropy,
        logp=logp,
        response_mask=response_mask,
        planning_mask=planning_mask,
        rewards=rewards,
        correct=correct,
        truncated=truncated,
        group_ids=group_ids,
    )
    return acc.result()
