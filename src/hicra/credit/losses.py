"""Per-token policy losses and their aggregation into one scalar.

The objective is built in three separable choices, as in verl's ``core_algos``:

* a per-token policy-gradient loss (``ppo_clip_loss``: PPO-clip with DAPO's asymmetric
  clip-higher and an optional dual clip; the baselines in ``baselines.py`` are alternatives),
* extra per-token terms: ``beta * kl_k3`` to a reference policy, ``-entropy_coef * entropy``,
* an aggregation (``agg_loss``): token-mean (DAPO), sequence-mean of token-means (GRPO) or
  sequence-sum over a constant (Dr. GRPO).

``policy_loss`` composes the three; it is what the built-in trainer and the TRL/verl adapters
call. Padded positions (``response_mask`` False) never contribute a value or a gradient, even
when they hold NaN or inf: inputs are replaced by 0 there before any arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from hicra.credit._checks import broadcast_advantages, check_float, check_mask, check_same_shape

__all__ = ["AGG_MODES", "agg_loss", "kl_k3", "masked_mean", "policy_loss", "ppo_clip_loss"]

AGG_MODES = ("token_mean", "seq_mean_token_mean", "seq_sum_norm")
LOG_RATIO_LIMIT = 20.0  # |log pi - log pi_old| is clamped here before exp (as verl does)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` (B, T) over ``mask`` (B, T) bool; 0 when the mask is empty."""
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum().clamp(min=1)


def _zero_padding(mask: Tensor, *tensors: Tensor) -> list[Tensor]:
    """Replace padded entries by 0 so NaN/inf there cannot reach a value or a gradient."""
    return [torch.where(mask, x, torch.zeros_like(x)) for x in tensors]


def prepare_logps(
    fn: str, logp: Tensor, old_logp: Tensor | None, advantages: Tensor, response_mask: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Validate and sanitise the common policy-loss inputs.

    Returns (logp, old_logp, advantages (B, T), log_ratio), each 0 on padding; ``old_logp``
    defaults to ``logp.detach()`` (one update per rollout: ratio 1, gradient of the plain
    policy gradient). ``log_ratio`` is clamped to +-``LOG_RATIO_LIMIT`` for a finite ``exp``.
    """
    logp = check_float(fn, "logp", logp, (2,))
    response_mask = check_mask(fn, "response_mask", response_mask, logp.shape)
    if old_logp is None:
        old_logp = logp.detach()
    old_logp = check_float(fn, "old_logp", old_logp, (2,))
    check_same_shape(fn, "old_logp", old_logp, logp.shape, "logp")
    advantages = broadcast_advantages(fn, advantages, logp.shape)
    logp, old_logp, advantages = _zero_padding(response_mask, logp, old_logp, advantages)
    log_ratio = (logp - old_logp).clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
    return logp, old_logp, advantages, log_ratio


def clip_region_masks(
    ratio: Tensor, advantages: Tensor, eps_low: float, eps_high: float
) -> tuple[Tensor, Tensor]:
    """(B, T) bool masks of tokens whose clipped term is active (zero gradient).

    low: A < 0 and ratio < 1 - eps_low; high: A > 0 and ratio > 1 + eps_high.
    """
    low = (advantages < 0) & (ratio < 1 - eps_low)
    high = (advantages > 0) & (ratio > 1 + eps_high)
    return low, high


def ppo_clip_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    response_mask: Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    dual_clip: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO-clip surrogate per token, with DAPO's clip-higher and an optional dual clip.

    ``loss = max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high))`` with ``r = exp(logp - old_logp)``;
    with ``dual_clip = c`` (c > 1; Ye et al. 2020, verl's ``clip_ratio_c``), tokens with A < 0
    are further bounded: ``min(that, -A c)``, so a huge ratio on a bad token cannot blow up.

    Args:
        logp: (B, T) log-prob of the sampled tokens under the current policy (with grad).
        old_logp: (B, T) the same under the policy that sampled them, or None for
            ``logp.detach()`` (a single update per rollout).
        advantages: (B,) or (B, T) advantages (e.g. ``hicra_advantages``); no grad needed.
        response_mask: (B, T) bool, True on real response tokens.
        eps_low, eps_high: clip range ``[1 - eps_low, 1 + eps_high]``; DAPO's 0.2 / 0.28.
        dual_clip: the dual-clip constant c (e.g. 3.0), or None for no dual clip.

    Returns:
        per_token_loss (B, T), 0 on padding, and stats (0-dim detached tensors, means over the
        valid tokens): ``clip_frac_low`` (A < 0, r < 1 - eps_low), ``clip_frac_high``
        (A > 0, r > 1 + eps_high), ``clip_frac`` (either), ``dual_clip_frac`` (A < 0, r > c),
        ``approx_kl`` (k3 estimate of KL(pi_old || pi)), ``ratio_mean``, ``ratio_max``.

    >>> import torch
    >>> logp = torch.log(torch.tensor([[1.5, 0.5, 1.0]]))  # ratios 1.5, 0.5, 1.0 vs old_logp 0
    >>> loss, stats = ppo_clip_loss(logp, torch.zeros(1, 3), torch.tensor([[1.0, -1.0, -2.0]]),
    ...                             torch.tensor([[True, True, True]]))
    >>> loss  # -1 * clip(1.5) = -1.28; -(-1) * clip(0.5) = 0.8; -(-2) * 1.0 = 2
    tensor([[-1.2800,  0.8000,  2.0000]])
    >>> round(stats["clip_frac"].item(), 4)
    0.6667
    """
    fn = "ppo_clip_loss"
    if not (0 <= eps_low < 1 and eps_high >= 0):
        raise ValueError(
            f"{fn}: need 0 <= eps_low < 1 and eps_high >= 0, got {eps_low}, {eps_high}"
        )
    if dual_clip is not None and dual_clip <= 1:
        raise ValueError(f"{fn}: dual_clip must be > 1 (e.g. 3.0) or None, got {dual_clip}")
    logp, old_logp, advantages, log_ratio = prepare_logps(
        fn, logp, old_logp, advantages, response_mask
    )
    ratio = torch.exp(log_ratio)  # (B, T)
    clipped_ratio = ratio.clamp(1 - eps_low, 1 + eps_high)
    loss = torch.max(-advantages * ratio, -advantages * clipped_ratio)  # (B, T)
    if dual_clip is not None:
        bounded = torch.min(loss, -advantages * dual_clip)
        loss = torch.where(advantages < 0, bounded, loss)
    loss = torch.where(response_mask, loss, torch.zeros_like(loss))

    with torch.no_grad():
        low, high = clip_region_masks(ratio, advantages, eps_low, eps_high)
        dual = (advantages < 0) & (ratio > dual_clip) if dual_clip else torch.zeros_like(low)
        stats = {
            "clip_frac_low": masked_mean(low.float(), response_mask),
            "clip_frac_high": masked_mean(high.float(), response_mask),
            "clip_frac": masked_mean((low | high).float(), response_mask),
            "dual_clip_frac": masked_mean(dual.float(), response_mask),
            "approx_kl": masked_mean(kl_k3(old_logp, logp), response_mask),
            "ratio_mean": masked_mean(ratio, response_mask),
            "ratio_max": torch.where(response_mask, ratio, torch.zeros_like(ratio)).max(),
        }
    return loss, stats


def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Schulman's k3 estimator of KL(pi || pi_ref) per sampled token (unbiased, always >= 0).

    ``k3 = exp(ref_logp - logp) - (ref_logp - logp) - 1``, computed elementwise; shapes (B, T).
    No clamping: the caller masks padding (``policy_loss`` zeroes it before the call).

    >>> import torch
    >>> kl_k3(torch.tensor([[0.0, -1.0]]), torch.tensor([[0.0, 0.0]]))  # e^1 - 1 - 1 = 0.7183
    tensor([[0.0000, 0.7183]])
    """
    logp = check_float("kl_k3", "logp", logp, (1, 2))
    ref_logp = check_float("kl_k3", "ref_logp", ref_logp, (1, 2))
    check_same_shape("kl_k3", "ref_logp", ref_logp, logp.shape, "logp")
    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1


def agg_loss(
    per_token_loss: Tensor,
    response_mask: Tensor,
    mode: str = "token_mean",
    norm_const: float | None = None,
) -> Tensor:
    """Aggregate a (B, T) per-token loss into a scalar over the valid tokens.

    Modes (L = per_token_loss, m = response_mask, n_i = sum_t m_it):

    * ``"token_mean"`` (DAPO): ``sum_it m L / N`` with N = ``sum_it m``; every token weighs
      the same.
    * ``"seq_mean_token_mean"`` (original GRPO): ``sum_i (sum_t m L / n_i) / S`` with S the
      number of responses with n_i > 0; every response weighs the same.
    * ``"seq_sum_norm"`` (Dr. GRPO): ``sum_it m L / (B * C)``, a constant normaliser with no
      length bias. C defaults to T, the padded length of *this* batch; pass the generation
      budget (max new tokens) so the scale does not change with padding.

    ``norm_const`` is read by seq_sum_norm only (the other modes ignore it, so a trainer may
    always pass its generation budget). With gradient accumulation, weight each micro-batch's
    loss by its share of the step's N (token_mean) or S (seq_mean_token_mean) so the sum equals
    the full-batch loss. An empty mask gives 0 (zero gradient), never NaN.

    >>> import torch
    >>> L = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    >>> m = torch.tensor([[True, True, True], [True, False, False]])
    >>> agg_loss(L, m, "token_mean")  # (1 + 2 + 3 + 4) / 4
    tensor(2.5000)
    >>> agg_loss(L, m, "seq_mean_token_mean")  # (2 + 4) / 2
    tensor(3.)
    >>> agg_loss(L, m, "seq_sum_norm", norm_const=5)  # (6 + 4) / (2 * 5)
    tensor(1.)
    """
    fn = "agg_loss"
    per_token_loss = check_float(fn, "per_token_loss", per_token_loss, (2,))
    response_mask = check_mask(fn, "response_mask", response_mask, per_token_loss.shape)
    masked = torch.where(response_mask, per_token_loss, torch.zeros_like(per_token_loss))
    if mode not in AGG_MODES:
        raise ValueError(f"{fn}: mode must be one of {AGG_MODES}, got {mode!r}")
    if norm_const is not None and not norm_const > 0:
        raise ValueError(f"{fn}: norm_const must be > 0 or None, got {norm_const}")
    if mode == "token_mean":
        return masked.sum() / response_mask.sum().clamp(min=1)
    if mode == "seq_mean_token_mean":
        lengths = response_mask.sum(dim=1)  # (B,)
        seq_loss = masked.sum(dim=1) / lengths.clamp(min=1)  # (B,)
        return seq_loss.sum() / (lengths > 0).sum().clamp(min=1)
    length = per_token_loss.shape[1] if norm_const is None else norm_const  # seq_sum_norm
    return masked.sum() / (max(per_token_loss.shape[0], 1) * length)


def policy_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    loss_fn: str | Callable[..., tuple[Tensor, dict[str, Tensor]]] = "ppo_clip",
    agg_mode: str = "token_mean",
    norm_const: float | None = None,
    ref_logp: Tensor | None = None,
    beta: float = 0.0,
    entropy: Tensor | None = None,
    entropy_coef: float = 0.0,
    **loss_params,
) -> tuple[Tensor, dict[str, float]]:
    """The full policy objective of one step: pg loss + beta * KL - entropy_coef * entropy.

    ``total_t = pg_t + beta * kl_k3(logp, ref_logp)_t - entropy_coef * entropy_t`` per token,
    then ``agg_loss(total, response_mask, agg_mode, norm_const)``.

    Args:
        logp, old_logp, advantages, response_mask: as in ``ppo_clip_loss``.
        loss_fn: a registered policy-loss name (``"ppo_clip"``, ``"clip_cov"``, ``"kl_cov"``,
            see ``hicra.credit.registry``) or a callable with the same signature.
        agg_mode, norm_const: see ``agg_loss``.
        ref_logp: (B, T) reference-policy log-probs; required when ``beta != 0``.
        beta: KL coefficient (0 = no reference model, as in DAPO and Dr. GRPO).
        entropy: (B, T) entropy of the full next-token distribution, *with* gradient when
            ``entropy_coef != 0`` (the entropy bonus); also logged when given.
        entropy_coef: weight of the entropy bonus (the paper's "Entropy Reg." baseline).
        **loss_params: passed to ``loss_fn`` (``eps_low``, ``eps_high``, ``dual_clip``, ...).

    Returns:
        (loss, stats): the scalar to backpropagate and a flat dict of floats: ``loss``,
        ``pg_loss`` (the aggregated pg term alone), ``kl`` and ``entropy`` (token means, when
        given), and the loss function's own stats (clip fractions, ``approx_kl``, ...).
    """
    fn = "policy_loss"
    if isinstance(loss_fn, str):
        from hicra.credit.registry import get_policy_loss  # registry imports this module

        loss_fn = get_policy_loss(loss_fn)
    pg_loss, loss_stats = loss_fn(logp, old_logp, advantages, response_mask, **loss_params)
    total = pg_loss
    stats: dict[str, Tensor] = {}
    if beta != 0:
        if ref_logp is None:
            raise ValueError(f"{fn}: beta={beta} needs ref_logp (B, T), got None")
        check_same_shape(
            fn, "ref_logp", check_float(fn, "ref_logp", ref_logp, (2,)), logp.shape, "logp"
        )
        safe_logp, safe_ref = _zero_padding(response_mask, logp, ref_logp)
        kl = kl_k3(safe_logp, safe_ref)  # (B, T), 0 on padding
        total = total + beta * kl
        stats["kl"] = masked_mean(kl.detach(), response_mask)
    elif ref_logp is not None:
        kl = kl_k3(*_zero_padding(response_mask, logp.detach(), ref_logp.detach()))
        stats["kl"] = masked_mean(kl, response_mask)
    if entropy is not None:
        entropy = check_float(fn, "entropy", entropy, (2,))
        check_same_shape(fn, "entropy", entropy, logp.shape, "logp")
        (entropy,) = _zero_padding(response_mask, entropy)
        stats["entropy"] = masked_mean(entropy.detach(), response_mask)
        if entropy_coef != 0:
            total = total - entropy_coef * entropy
    elif entropy_coef != 0:
        raise ValueError(f"{fn}: entropy_coef={entropy_coef} needs entropy (B, T), got None")
    loss = agg_loss(total, response_mask, agg_mode, norm_const)
    stats["loss"] = loss.detach()
    stats["pg_loss"] = agg_loss(pg_loss.detach(), response_mask, agg_mode, norm_const)
    stats.update(loss_stats)
    # One device-to-host copy for all stats instead of one sync per .item().
    values = torch.stack([v.detach().reshape(()).float().to(loss.device) for v in stats.values()])
    return loss, dict(zip(stats, values.tolist()))
