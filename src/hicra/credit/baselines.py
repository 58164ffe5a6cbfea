"""The credit-assignment baselines HICRA is compared against, as pure tensor functions.

Advantage transforms ((B, T) in, (B, T) out, same contract as ``hicra_advantages``):

* ``top_entropy_advantages`` ("80/20", Wang et al. 2025, arXiv:2506.01939): keep the advantage
  only on the top-rho fraction of tokens by entropy in the batch, zero elsewhere.
* ``entropy_advantages`` (Cheng et al. 2025, arXiv:2506.14758):
  ``A + min(a * H.detach(), |A| / k)``.

Policy losses (same contract as ``ppo_clip_loss``; Cui et al. 2025, arXiv:2505.22617):

* ``clip_cov_loss``: PPO-clip, plus the gradient of a random fraction of high-covariance
  tokens is detached.
* ``kl_cov_loss``: ``-A r`` plus ``kl_cov_coef * |logp - old_logp|`` on the top fraction of
  tokens by covariance.

The covariance of token i is ``(logp_i - mean logp) * (A_i - mean A)`` with means over the valid
tokens of the batch (``token_covariance``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hicra.credit._checks import broadcast_advantages, check_float, check_mask
from hicra.credit.losses import clip_region_masks, masked_mean, ppo_clip_loss, prepare_logps

__all__ = [
    "clip_cov_loss",
    "entropy_advantages",
    "kl_cov_loss",
    "masked_quantile",
    "token_covariance",
    "top_entropy_advantages",
    "top_entropy_mask",
]


def masked_quantile(values: Tensor, mask: Tensor, q: float) -> Tensor:
    """The q-quantile of ``values[mask]`` with linear interpolation (``torch.quantile``'s rule).

    Sorts instead of calling ``torch.quantile``, which refuses inputs above 2**24 elements
    (1024 responses x 16k tokens). Returns a 0-dim tensor; NaN when the mask is empty.
    """
    valid = torch.sort(values[mask]).values  # (n,)
    n = valid.numel()
    if n == 0:
        return values.new_tensor(float("nan"))
    position = q * (n - 1)
    lower = int(position // 1)
    upper = min(lower + 1, n - 1)
    weight = position - lower
    return valid[lower] + (valid[upper] - valid[lower]) * weight


def top_entropy_mask(entropy: Tensor, response_mask: Tensor, rho: float = 0.2) -> Tensor:
    """(B, T) bool: valid tokens whose entropy is in the batch's top-rho fraction.

    Args:
        entropy: (B, T) entropy of the full next-token distribution.
        response_mask: (B, T) bool, True on real response tokens.
        rho: fraction of valid tokens to keep, in (0, 1]; 0.2 in the "80/20" paper.

    The threshold is the (1 - rho)-quantile of the valid tokens' entropies (linear
    interpolation) and a token is kept when ``entropy >= threshold``: the rule of TRL's
    ``top_entropy_quantile``. Tokens tied at the threshold are all kept, so ties can keep more
    than a rho fraction; rho = 1 keeps every valid token.

    >>> import torch
    >>> H = torch.tensor([[0.1, 0.9, 0.5, 0.3, 0.7]])
    >>> top_entropy_mask(H, torch.ones(1, 5, dtype=torch.bool), rho=0.4)  # threshold 0.66
    tensor([[False,  True, False, False,  True]])
    """
    fn = "top_entropy_mask"
    entropy = check_float(fn, "entropy", entropy, (2,))
    response_mask = check_mask(fn, "response_mask", response_mask, entropy.shape)
    if not 0 < rho <= 1:
        raise ValueError(f"{fn}: rho must lie in (0, 1] (0.2 in the 80/20 paper), got {rho}")
    entropy = entropy.detach()
    if not bool(response_mask.any()):
        return torch.zeros_like(response_mask)
    threshold = masked_quantile(entropy, response_mask, 1.0 - rho)
    return response_mask & (entropy >= threshold)


def top_entropy_advantages(
    advantages: Tensor, entropy: Tensor, response_mask: Tensor, rho: float = 0.2
) -> Tensor:
    """ "80/20" credit: the advantage on top-rho-entropy tokens, 0 on all other tokens.

    Args:
        advantages: (B,) or (B, T).
        entropy: (B, T) token entropies (detached here).
        response_mask: (B, T) bool.
        rho: kept fraction; see ``top_entropy_mask`` for the threshold and tie rule.

    Returns:
        (B, T) advantages, zero outside ``top_entropy_mask``. The loss normaliser still counts
        every valid token (as in the paper and TRL): dropped tokens add 0 to the sum.
    """
    fn = "top_entropy_advantages"
    entropy = check_float(fn, "entropy", entropy, (2,))
    advantages = broadcast_advantages(fn, advantages, entropy.shape)
    keep = top_entropy_mask(entropy, response_mask, rho)
    return torch.where(keep, advantages, torch.zeros_like(advantages))


def entropy_advantages(
    advantages: Tensor, entropy: Tensor, response_mask: Tensor, a: float = 0.4, k: float = 2.0
) -> Tensor:
    """Cheng et al.'s entropy-based advantage: ``A + min(a * H.detach(), |A| / k)``.

    Args:
        advantages: (B,) or (B, T).
        entropy: (B, T) token entropies (detached: the bonus shapes credit, it is not a loss).
        response_mask: (B, T) bool; padded positions get 0.
        a: entropy scale alpha (0.4); k: clip kappa (2), so the bonus never exceeds |A| / k and
            never flips the sign of A for k > 1. (Both defaults are not confirmed from the paper.)

    >>> import torch
    >>> A = torch.tensor([1.0, -1.0])
    >>> H = torch.tensor([[0.5, 3.0], [0.5, 3.0]])
    >>> entropy_advantages(A, H, torch.ones(2, 2, dtype=torch.bool))  # bonus min(0.4H, 0.5)
    tensor([[ 1.2000,  1.5000],
            [-0.8000, -0.5000]])
    """
    fn = "entropy_advantages"
    entropy = check_float(fn, "entropy", entropy, (2,))
    response_mask = check_mask(fn, "response_mask", response_mask, entropy.shape)
    advantages = broadcast_advantages(fn, advantages, entropy.shape)
    if a < 0 or k <= 0:
        raise ValueError(f"{fn}: need a >= 0 and k > 0, got a={a}, k={k}")
    bonus = torch.minimum(a * entropy.detach(), advantages.abs() / k)
    shaped = advantages + bonus
    return torch.where(response_mask, shaped, torch.zeros_like(shaped))


def token_covariance(logp: Tensor, advantages: Tensor, response_mask: Tensor) -> Tensor:
    """Cui et al.'s per-token covariance ``(logp_i - mean logp) * (A_i - mean A)``.

    Means run over the valid tokens of the whole batch; the result is detached and 0 on padding.

    Args:
        logp: (B, T) sampled-token log-probs under the current policy.
        advantages: (B,) or (B, T).
        response_mask: (B, T) bool.

    Returns:
        (B, T) covariance terms.

    >>> import torch
    >>> token_covariance(torch.tensor([[-1.0, -3.0]]), torch.tensor([[2.0, 0.0]]),
    ...                  torch.tensor([[True, True]]))  # means -2 and 1: (1)(1), (-1)(-1)
    tensor([[1., 1.]])
    """
    fn = "token_covariance"
    logp = check_float(fn, "logp", logp, (2,)).detach()
    response_mask = check_mask(fn, "response_mask", response_mask, logp.shape)
    advantages = broadcast_advantages(fn, advantages, logp.shape).detach()
    zero = torch.zeros_like(logp)
    logp = torch.where(response_mask, logp, zero)
    advantages = torch.where(response_mask, advantages, zero)
    cov = (logp - masked_mean(logp, response_mask)) * (
        advantages - masked_mean(advantages, response_mask)
    )
    return torch.where(response_mask, cov, zero)


def _count(fraction: float, n_valid: int) -> int:
    """Number of tokens a covariance method acts on: ``max(int(fraction * n), 1)``, 0 if n = 0."""
    return max(int(fraction * n_valid), 1) if n_valid > 0 else 0


def clip_cov_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    response_mask: Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    dual_clip: float | None = None,
    clip_cov_fraction: float = 2e-4,
    cov_low: float = 1.0,
    cov_high: float = 5.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Clip-Cov: PPO-clip, with the gradient of some high-covariance tokens detached.

    Among valid tokens not already clipped by PPO and with ``cov_low < cov < cov_high``
    (omega_low, omega_high = 1, 5), ``max(int(clip_cov_fraction * n_valid), 1)`` tokens are
    drawn uniformly at random (``torch.randperm`` with ``generator``; pass a seeded generator
    for reproducible runs) and their loss is detached: its value still counts, its gradient
    is zero. Gradient-wise this is verl's ``clip_cov`` (which multiplies those losses by 0).

    Args:
        logp, old_logp, advantages, response_mask, eps_low, eps_high, dual_clip: as in
            ``ppo_clip_loss``.
        clip_cov_fraction: r, the fraction of all valid tokens detached (2e-4; verl's
            ``clip_cov_ratio``).
        cov_low, cov_high: the open covariance band of candidate tokens (verl's
            ``clip_cov_lb``/``clip_cov_ub``).
        generator: torch.Generator for the random draw (its device is used for ``randperm``).

    Returns:
        per_token_loss (B, T) and ``ppo_clip_loss``'s stats plus ``cov_detach_frac`` (detached
        tokens / valid tokens) and ``cov_candidate_frac``.
    """
    fn = "clip_cov_loss"
    if not (clip_cov_fraction > 0 and cov_low < cov_high):
        raise ValueError(
            f"{fn}: need clip_cov_fraction > 0 and cov_low < cov_high, got "
            f"{clip_cov_fraction}, ({cov_low}, {cov_high})"
        )
    loss, stats = ppo_clip_loss(
        logp, old_logp, advantages, response_mask, eps_low, eps_high, dual_clip
    )
    _, _, safe_advantages, log_ratio = prepare_logps(fn, logp, old_logp, advantages, response_mask)
    with torch.no_grad():
        low, high = clip_region_masks(torch.exp(log_ratio), safe_advantages, eps_low, eps_high)
        cov = token_covariance(logp, safe_advantages, response_mask)
        candidates = response_mask & ~(low | high) & (cov > cov_low) & (cov < cov_high)
        index = candidates.flatten().nonzero().squeeze(1)  # (n_candidates,)
        n_detach = min(_count(clip_cov_fraction, int(response_mask.sum())), index.numel())
        device = generator.device if generator is not None else torch.device("cpu")
        order = torch.randperm(index.numel(), generator=generator, device=device)
        chosen = torch.zeros(candidates.numel(), dtype=torch.bool, device=candidates.device)
        chosen[index[order[:n_detach].to(index.device)]] = True
        chosen = chosen.view_as(candidates)  # (B, T)
        stats["cov_detach_frac"] = masked_mean(chosen.float(), response_mask)
        stats["cov_candidate_frac"] = masked_mean(candidates.float(), response_mask)
    return torch.where(chosen, loss.detach(), loss), stats


def kl_cov_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    response_mask: Tensor,
    kl_cov_fraction: float = 2e-3,
    kl_cov_coef: float = 1.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """KL-Cov: ``-A r`` everywhere, plus ``kl_cov_coef * |logp - old_logp|`` on top-cov tokens.

    The ``max(int(kl_cov_fraction * n_valid), 1)`` valid tokens with the largest covariance
    (``torch.topk``; deterministic) get the penalty. As in Cui et al. and verl's ``kl_cov``
    there is no ratio clip, so this loss takes no eps_low / eps_high / dual_clip. With
    ``old_logp = logp.detach()`` the penalty's gradient is 0 (d|x|/dx = 0 at x = 0): it acts
    from the second update on a rollout.

    Args:
        logp, old_logp, advantages, response_mask: as in ``ppo_clip_loss``.
        kl_cov_fraction: k, the fraction of valid tokens penalised (2e-3 for 7B models in the
            paper, 2e-4 for 32B; verl's ``kl_cov_ratio``).
        kl_cov_coef: beta of the penalty (1.0; verl's ``ppo_kl_coef``).

    Returns:
        per_token_loss (B, T), 0 on padding, and stats: ``kl_cov_frac``, ``abs_log_ratio``
        (mean |logp - old_logp|), ``approx_kl``, ``ratio_mean``, ``ratio_max``.
    """
    fn = "kl_cov_loss"
    if not (0 < kl_cov_fraction <= 1 and kl_cov_coef >= 0):
        raise ValueError(
            f"{fn}: need 0 < kl_cov_fraction <= 1 and kl_cov_coef >= 0, got "
            f"{kl_cov_fraction}, {kl_cov_coef}"
        )
    safe_logp, safe_old, safe_advantages, log_ratio = prepare_logps(
        fn, logp, old_logp, advantages, response_mask
    )
    ratio = torch.exp(log_ratio)  # (B, T)
    with torch.no_grad():
        cov = token_covariance(safe_logp, safe_advantages, response_mask)
        ranked = torch.where(response_mask, cov, torch.full_like(cov, -torch.inf)).flatten()
        n_penalised = _count(kl_cov_fraction, int(response_mask.sum()))
        chosen = torch.zeros_like(ranked, dtype=torch.bool)
        chosen[torch.topk(ranked, n_penalised).indices] = True
        chosen = chosen.view_as(response_mask)  # (B, T)
    penalty = torch.where(chosen, kl_cov_coef * log_ratio.abs(), torch.zeros_like(log_ratio))
    loss = -safe_advantages * ratio + penalty
    loss = torch.where(response_mask, loss, torch.zeros_like(loss))
    with torch.no_grad():
        stats = {
            "kl_cov_frac": masked_mean(chosen.float(), response_mask),
            "abs_log_ratio": masked_mean(log_ratio.abs(), response_mask),
            "approx_kl": masked_mean(ratio - 1 - log_ratio, response_mask),
            "ratio_mean": masked_mean(ratio, response_mask),
            "ratio_max": torch.where(response_mask, ratio, torch.zeros_like(ratio)).max(),
        }
    return loss, stats
