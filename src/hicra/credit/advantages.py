"""Advantages: from one reward per response to one advantage per token.

Two steps, each a pure function:

1. ``group_advantages``: GRPO's group baseline. The G responses to one prompt share a group id;
   each response's advantage is its reward minus the group's mean reward, optionally divided by
   a spread (the group's std as in GRPO, the batch's std, or nothing as in Dr. GRPO).
2. ``hicra_advantages``: HICRA's credit assignment. The response's advantage is broadcast to its
   tokens and, on planning tokens (inside a Strategic Gram), replaced by ``A + alpha * |A|``:
   ``(1 + alpha) A`` for a response that beat its group, ``(1 - alpha) A`` (less blame) for one
   that did worse.

``informative_group_mask`` gives DAPO's dynamic-sampling filter: responses whose group has at
least two different rewards (a group of identical rewards has zero advantage everywhere and
contributes no policy gradient).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
from torch import Tensor

from hicra.credit._checks import check_float, check_mask, check_tensor

__all__ = ["group_advantages", "group_ids_from_keys", "hicra_advantages", "informative_group_mask"]

SCALES = ("group", "batch", "none")


def group_ids_from_keys(
    keys: Sequence[Hashable], device: torch.device | str | None = None
) -> Tensor:
    """(B,) long group ids from any hashable per-response keys, numbered by first appearance.

    Engines name groups differently (verl: a uid string per response in ``index``; TRL:
    consecutive blocks of ``num_generations``); this turns any of them into ``group_ids``.

    >>> group_ids_from_keys(["q7", "q7", "q2", "q7", "q2"])
    tensor([0, 0, 1, 0, 1])
    """
    if isinstance(keys, Tensor):  # 0-dim tensors hash by identity, not value
        keys = keys.tolist()
    numbering: dict[Hashable, int] = {}
    ids = [numbering.setdefault(key, len(numbering)) for key in keys]
    return torch.tensor(ids, dtype=torch.long, device=device)


def _group_index(fn: str, rewards: object, group_ids: object) -> tuple[Tensor, Tensor, Tensor]:
    """Validate (rewards, group_ids); return (rewards as float, inverse (B,), counts (G,))."""
    rewards = check_tensor(fn, "rewards", rewards)
    group_ids = check_tensor(fn, "group_ids", group_ids)
    if rewards.dim() != 1:
        raise ValueError(f"{fn}: rewards must be 1-D (B,), got shape {tuple(rewards.shape)}")
    if rewards.dtype == torch.bool or torch.is_complex(rewards):
        raise TypeError(f"{fn}: rewards must be a real number tensor, got dtype {rewards.dtype}")
    if group_ids.dim() != 1 or group_ids.shape != rewards.shape:
        raise ValueError(
            f"{fn}: group_ids must be 1-D with one id per reward, got shape "
            f"{tuple(group_ids.shape)} for rewards of shape {tuple(rewards.shape)}"
        )
    if torch.is_floating_point(group_ids) or group_ids.dtype == torch.bool:
        raise TypeError(f"{fn}: group_ids must be an integer tensor, got dtype {group_ids.dtype}")
    if rewards.numel() == 0:
        raise ValueError(f"{fn}: rewards is empty; need at least one response")
    # At least float32 (0/1 integer rewards are common), float64 stays float64.
    rewards = rewards.to(torch.promote_types(rewards.dtype, torch.float32))
    if not bool(torch.isfinite(rewards).all()):
        bad = int((~torch.isfinite(rewards)).nonzero()[0, 0])
        raise ValueError(f"{fn}: rewards[{bad}] = {rewards[bad].item()} is not finite")
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)
    return rewards, inverse, counts


def _constant_groups(rewards: Tensor, inverse: Tensor, n_groups: int) -> Tensor:
    """(G,) bool: True for a group whose rewards are all equal (a group of one included)."""
    high = rewards.new_full((n_groups,), -torch.inf).scatter_reduce(0, inverse, rewards, "amax")
    low = rewards.new_full((n_groups,), torch.inf).scatter_reduce(0, inverse, rewards, "amin")
    return high == low


def group_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    scale: str = "group",
    eps: float = 1e-6,
) -> Tensor:
    """GRPO group-relative advantages: reward minus its group's mean, optionally scaled.

    Args:
        rewards: (B,) one scalar reward per response (any real dtype; computed in >= float32).
        group_ids: (B,) integer id of the prompt each response answers; responses with the same
            id form one group. Ids need not be contiguous or sorted.
        scale: ``"group"`` divides by the group's reward std (GRPO), ``"batch"`` by the std of
            all B rewards (TRL's ``scale_rewards="batch"``), ``"none"`` leaves the centred
            reward (Dr. GRPO).
        eps: added to the std before dividing, as in TRL and verl: ``(R - mean) / (std + eps)``.

    Returns:
        (B,) advantages in the rewards' floating dtype (float32 for integer rewards).

    The std is the unbiased (Bessel-corrected, ``n - 1``) sample std, the one verl
    (``torch.std``) and TRL (``nanstd``) use, so advantages match those engines' numbers. A group
    whose rewards are all equal (including a group of one response) gets exact zeros: it is
    detected by max == min and zeroed explicitly, so float rounding in the mean can never leak
    a tiny residual through ``1 / (0 + eps)``, and no NaN can appear.

    Example (two prompts, G = 2 and G = 3; the second group all wrong):

    >>> import torch
    >>> r = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0])
    >>> g = torch.tensor([7, 7, 3, 3, 3])
    >>> group_advantages(r, g, scale="none")
    tensor([ 0.5000, -0.5000,  0.0000,  0.0000,  0.0000])
    >>> group_advantages(r, g, scale="group", eps=0.0)  # std of (1, 0) is 0.7071
    tensor([ 0.7071, -0.7071,  0.0000,  0.0000,  0.0000])
    """
    fn = "group_advantages"
    if scale not in SCALES:
        raise ValueError(f"{fn}: scale must be one of {SCALES}, got {scale!r}")
    if eps < 0:
        raise ValueError(f"{fn}: eps must be >= 0, got {eps}")
    rewards, inverse, counts = _group_index(fn, rewards, group_ids)
    n_groups = counts.numel()
    counts_f = counts.to(rewards.dtype)

    group_sum = rewards.new_zeros(n_groups).index_add_(0, inverse, rewards)  # (G,)
    group_mean = group_sum / counts_f  # (G,)
    centred = rewards - group_mean[inverse]  # (B,)
    constant = _constant_groups(rewards, inverse, n_groups)[inverse]  # (B,)
    centred = torch.where(constant, torch.zeros_like(centred), centred)

    if scale == "none":
        return centred
    if scale == "group":
        # Deviations are divided by the group's largest |deviation| before squaring (as hypot
        # does), so tiny differences cannot underflow to a zero std.
        unit = rewards.new_zeros(n_groups).scatter_reduce(0, inverse, centred.abs(), "amax")
        unit = torch.where(unit > 0, unit, torch.ones_like(unit))  # (G,)
        squares = rewards.new_zeros(n_groups).index_add_(
            0, inverse, (centred / unit[inverse]).square()
        )
        std = (unit * (squares / (counts_f - 1).clamp(min=1)).sqrt())[inverse]  # (B,)
    elif rewards.numel() > 1:  # "batch"
        deviation = rewards - rewards.mean()
        unit = deviation.abs().max()
        unit = torch.where(unit > 0, unit, torch.ones_like(unit))
        std = (deviation / unit).std() * unit
    else:
        std = rewards.new_zeros(())
    # Constant groups divide 0 by 1, so even eps = 0 cannot produce 0 / 0.
    return centred / torch.where(constant, torch.ones_like(centred), std + eps)


def informative_group_mask(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """DAPO dynamic sampling: which responses belong to a group with differing rewards.

    Args:
        rewards: (B,) one reward per response.
        group_ids: (B,) integer prompt id per response.

    Returns:
        (B,) bool: True for each response whose group has at least two distinct rewards.
        Groups with all-equal rewards (all right, all wrong, or a single response) carry zero
        advantage and no policy gradient; DAPO drops them and samples more prompts.

    >>> import torch
    >>> informative_group_mask(torch.tensor([1.0, 0.0, 1.0, 1.0, 0.5]), torch.tensor([0, 0, 1, 1, 2]))
    tensor([ True,  True, False, False, False])
    """
    rewards, inverse, counts = _group_index("informative_group_mask", rewards, group_ids)
    return ~_constant_groups(rewards, inverse, counts.numel())[inverse]


def hicra_advantages(advantages: Tensor, planning_mask: Tensor, alpha: float = 0.2) -> Tensor:
    """HICRA: amplify the advantage on planning tokens, ``A + alpha * |A|``.

    Args:
        advantages: (B,) one advantage per response (broadcast to its tokens), or (B, T) token
            advantages.
        planning_mask: (B, T) bool, True on tokens inside a Strategic Gram. Padding must be
            False here or masked later by the loss (the loss ignores padded positions anyway).
        alpha: the HICRA coefficient, 0.2 in every experiment of the paper. Must lie in
            [-1, 1] so no token's advantage changes sign; alpha = 0 is exactly GRPO, a negative
            alpha is the "reverse HICRA" ablation that gives planning tokens less credit.

    Returns:
        (B, T) ``hicra_advantage``: ``A + alpha * |A|`` where ``planning_mask`` is True, ``A``
        elsewhere. For A > 0 that is ``(1 + alpha) A``; for A < 0 it is ``(1 - alpha) A``.
        With ``alpha == 0`` the result equals the broadcast input exactly (``torch.equal``).

    >>> import torch
    >>> a = torch.tensor([1.0, -1.0])
    >>> m = torch.tensor([[True, False], [True, False]])
    >>> hicra_advantages(a, m, alpha=0.2)
    tensor([[ 1.2000,  1.0000],
            [-0.8000, -1.0000]])
    """
    fn = "hicra_advantages"
    planning_mask = check_mask(fn, "planning_mask", planning_mask)
    advantages = check_float(fn, "advantages", advantages, (1, 2))
    shape = planning_mask.shape
    if advantages.dim() == 1:
        if advantages.shape[0] != shape[0]:
            raise ValueError(
                f"{fn}: advantages has {advantages.shape[0]} entries but planning_mask has "
                f"B={shape[0]} rows"
            )
        advantages = advantages.unsqueeze(1).expand(shape)
    elif advantages.shape != shape:
        raise ValueError(
            f"{fn}: advantages has shape {tuple(advantages.shape)} but planning_mask has "
            f"shape {tuple(shape)}"
        )
    if planning_mask.device != advantages.device:
        raise ValueError(
            f"{fn}: advantages is on {advantages.device} but planning_mask on {planning_mask.device}"
        )
    if not -1.0 <= float(alpha) <= 1.0:
        raise ValueError(f"{fn}: alpha must lie in [-1, 1] (the paper uses 0.2), got {alpha}")
    if alpha == 0:
        return advantages.clone()
    boosted = advantages + alpha * advantages.abs()  # (B, T)
    return torch.where(planning_mask, boosted, advantages)
