"""Token-class metrics and pass@k: pure functions on arrays.

A response token is a *planning* token when `planning_mask` marks it (it lies inside a
Strategic Gram), an *execution* token otherwise. For each class we report sums, not means,
so that many batches of one step can be folded exactly (see accumulators.py):

    entropy_sum[c] = sum_{t in c} H(pi(. | x_<t))        full next-token distribution
    nll_sum[c]     = sum_{t in c} -log pi(y_t | x_<t)    surprisal of the sampled token
    count[c]       = |c|

Means are sum / count; perplexity is exp(mean NLL); relative perplexity (the paper's Fig. 2)
divides it by its value at the first logged step, which is done at analysis time
(`relative_perplexity`).

Inputs may be numpy arrays or torch tensors (moved to CPU); padded positions are excluded by
`response_mask`, so a padded batch and the same batch unpadded give identical results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

CLASSES = ("planning", "execution", "all")


def as_numpy(x: Any, dtype: Any = None) -> np.ndarray:
    """numpy view of a numpy array, torch tensor (any device) or nested list."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch
        x = x.detach().to("cpu")
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


class ClassSums(NamedTuple):
    """Per-class sums over the tokens of a batch; each field maps class -> float.

    count: number of tokens; entropy_sum: sum of token entropies (None when not given);
    nll_sum: sum of -logp (None when not given).
    """

    count: dict[str, float]
    entropy_sum: dict[str, float] | None
    nll_sum: dict[str, float] | None


def class_masks(
    response_mask: np.ndarray, planning_mask: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Boolean (B, T) masks for the planning / execution / all classes.

    Without a planning mask only "all" is returned.
    """
    masks = {"all": response_mask}
    if planning_mask is not None:
        masks["planning"] = response_mask & planning_mask
        masks["execution"] = response_mask & ~planning_mask
    return masks


def class_sums(
    *,
    entropy: Any = None,
    logp: Any = None,
    response_mask: Any = None,
    planning_mask: Any = None,
) -> ClassSums:
    """Token counts and entropy / NLL sums per class.

    entropy: (B, T) float, entropy of the full next-token distribution at each position.
    logp: (B, T) float, log-probability of the sampled token.
    response_mask: (B, T) bool, real response tokens (default: all positions of whichever of
        entropy / logp / planning_mask is given).
    planning_mask: (B, T) bool, planning tokens (need not be pre-masked by response_mask).

    >>> s = class_sums(logp=[[-1.0, -3.0, 0.0]], response_mask=[[1, 1, 0]],
    ...                planning_mask=[[True, False, True]])
    >>> s.count["planning"], s.nll_sum["execution"]
    (1.0, 3.0)
    """
    ent = None if entropy is None else as_numpy(entropy, np.float64)
    lp = None if logp is None else as_numpy(logp, np.float64)
    plan = None if planning_mask is None else as_numpy(planning_mask, bool)
    ref = next((a for a in (ent, lp, plan) if a is not None), None)
    if response_mask is None:
        if ref is None:
            raise ValueError(
                "class_sums needs at least one of entropy, logp, planning_mask, response_mask"
            )
        resp = np.ones(ref.shape, dtype=bool)
    else:
        resp = as_numpy(response_mask, bool)
    for name, arr in (("entropy", ent), ("logp", lp), ("planning_mask", plan)):
        if arr is not None and arr.shape != resp.shape:
            raise ValueError(
                f"{name} has shape {arr.shape}, expected {resp.shape} like response_mask"
            )
    masks = class_masks(resp, plan)
    count = {c: float(m.sum()) for c, m in masks.items()}
    # np.where keeps NaN/inf in padded slots from leaking into the sums.
    entropy_sum = (
        None if ent is None else {c: float(np.where(m, ent, 0.0).sum()) for c, m in masks.items()}
    )
    nll_sum = (
        None if lp is None else {c: float(np.where(m, -lp, 0.0).sum()) for c, m in masks.items()}
    )
    return ClassSums(count, entropy_sum, nll_sum)


def safe_mean(total: float, count: float) -> float:
    """total / count, NaN when count is 0 (a class absent from a step is missing, not zero)."""
    return total / count if count > 0 else float("nan")


def relative_perplexity(nll_mean: Sequence[float]) -> np.ndarray:
    """exp(mean NLL) / exp(mean NLL at the first step with a finite value), per step.

    nll_mean: (S,) mean NLL of one token class at each logged step (NaN where absent).
    Returns (S,); NaN before the reference step and where the input is NaN.

    >>> import math
    >>> relative_perplexity([float("nan"), 1.0, 1.0 + math.log(2)]).round(3).tolist()
    [nan, 1.0, 2.0]
    """
    x = np.asarray(nll_mean, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(x))
    out = np.full_like(x, np.nan)
    if finite.size == 0:
        return out
    ref = x[finite[0]]
    out[finite[0] :] = np.exp(x[finite[0] :] - ref)
    return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

    n: samples drawn for one prompt, c: how many are correct, k <= n.

    >>> pass_at_k(4, 1, 2)
    0.5
    """
    if not 0 < k <= n:
        raise ValueError(f"pass@k needs 0 < k <= n, got k={k}, n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if n - c < k:
        return 1.0
    # Product form avoids huge binomials: C(n-c,k)/C(n,k) = prod_{i=n-c+1}^{n} (1 - k/i).
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def default_ks(min_group_size: int) -> list[int]:
    """k values reported for pass@k: 1, 2, 4, ... up to the smallest group size (inclusive)."""
    ks, k = [], 1
    while k <= min_group_size:
        ks.append(k)
        k *= 2
    if min_group_size > 0 and ks[-1] != min_group_size:
        ks.append(min_group_size)
    return ks


def mean_pass_at_k(
    groups: dict[Any, tuple[int, int]], ks: Sequence[int] | None = None
) -> dict[int, float]:
    """Mean over prompts of unbiased pass@k.

    groups: prompt id -> (n samples, c correct). ks: default `default_ks(min n)`.
    Prompts with fewer than k samples are left out of that k's mean.
    """
    if not groups:
        return {}
    if ks is None:
        ks = default_ks(min(n for n, _ in groups.values()))
    out = {}
    for k in ks:
        vals = [pass_at_k(n, c, k) for n, c in groups.values() if n >= k]
        if vals:
            out[k] = float(np.mean(vals))
    return out
