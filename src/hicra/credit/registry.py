"""Credit assignment by name: one path shared by the built-in trainer and the TRL/verl adapters.

Two registries and one table of user-facing modes:

* advantage transforms, ``transform(advantages (B, T), response_mask (B, T), *, planning_mask,
  entropy, **params) -> (B, T)``: "identity", "hicra", "entropy_adv", "top_entropy";
* policy losses, ``loss(logp, old_logp, advantages, response_mask, **params) -> (per_token_loss
  (B, T), stats)``: "ppo_clip", "clip_cov", "kl_cov";
* credit modes (``CreditMode``): a transform + a loss + the per-token inputs they need + their
  default hyperparameters: "grpo", "hicra", "entropy_adv", "top_entropy", "entropy_reg",
  "clip_cov", "kl_cov".

A trainer does, every step::

    adv = token_advantages(mode, advantages, response_mask, planning_mask=..., entropy=...)
    loss, stats = credit_policy_loss(mode, logp, old_logp, adv, response_mask, eps_low=...,
                                     eps_high=..., agg_mode=..., beta=..., ref_logp=...)

New methods plug in with ``@register_advantage_transform(name)`` /
``@register_policy_loss(name)`` and ``register_credit_mode(CreditMode(...))``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from torch import Tensor

from hicra.credit._checks import broadcast_advantages, check_mask
from hicra.credit.advantages import hicra_advantages
from hicra.credit.baselines import (
    clip_cov_loss,
    entropy_advantages,
    kl_cov_loss,
    top_entropy_advantages,
)
from hicra.credit.losses import policy_loss, ppo_clip_loss

__all__ = [
    "CreditMode",
    "advantage_param_names",
    "credit_mode_names",
    "credit_policy_loss",
    "get_advantage_transform",
    "get_policy_loss",
    "register_advantage_transform",
    "register_credit_mode",
    "register_policy_loss",
    "resolve_credit_mode",
    "token_advantages",
]

AdvantageTransform = Callable[..., Tensor]
PolicyLoss = Callable[..., "tuple[Tensor, dict[str, Tensor]]"]

_ADVANTAGE_TRANSFORMS: dict[str, AdvantageTransform] = {}
_POLICY_LOSSES: dict[str, PolicyLoss] = {}
_CREDIT_MODES: dict[str, CreditMode] = {}

TOKEN_INPUTS = ("planning_mask", "entropy", "old_logp")
# Step-wide loss settings a trainer always offers; each loss receives those it declares.
COMMON_LOSS_PARAMS = ("eps_low", "eps_high", "dual_clip", "generator")


def _register(table: dict, kind: str, name: str) -> Callable:
    def decorator(fn: Callable) -> Callable:
        if name in table and table[name] is not fn:
            raise ValueError(f"{kind} {name!r} is already registered ({table[name].__qualname__})")
        table[name] = fn
        return fn

    return decorator


def _lookup(table: dict, kind: str, name: str):
    if name not in table:
        raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


def register_advantage_transform(name: str) -> Callable[[AdvantageTransform], AdvantageTransform]:
    """Decorator: register ``fn(advantages, response_mask, *, planning_mask, entropy, **params)``.

    ``advantages`` arrive broadcast to (B, T); the function raises when an input it needs is None.
    """
    return _register(_ADVANTAGE_TRANSFORMS, "advantage transform", name)


def register_policy_loss(name: str) -> Callable[[PolicyLoss], PolicyLoss]:
    """Decorator: register ``fn(logp, old_logp, advantages, response_mask, **params)``."""
    return _register(_POLICY_LOSSES, "policy loss", name)


def get_advantage_transform(name: str) -> AdvantageTransform:
    """The advantage transform registered as ``name`` (KeyError lists the known names)."""
    return _lookup(_ADVANTAGE_TRANSFORMS, "advantage transform", name)


def get_policy_loss(name: str) -> PolicyLoss:
    """The policy loss registered as ``name`` (KeyError lists the known names)."""
    return _lookup(_POLICY_LOSSES, "policy loss", name)


def _need(fn: str, name: str, value: Tensor | None) -> Tensor:
    if value is None:
        raise ValueError(f"advantage transform {fn!r} needs {name} (B, T), got None")
    return value


@register_advantage_transform("identity")
def _identity(
    advantages: Tensor, response_mask: Tensor, *, planning_mask=None, entropy=None
) -> Tensor:
    return advantages


@register_advantage_transform("hicra")
def _hicra(advantages, response_mask, *, planning_mask=None, entropy=None, alpha: float = 0.2):
    return hicra_advantages(advantages, _need("hicra", "planning_mask", planning_mask), alpha)


@register_advantage_transform("entropy_adv")
def _entropy_adv(advantages, response_mask, *, planning_mask=None, entropy=None, a=0.4, k=2.0):
    return entropy_advantages(
        advantages, _need("entropy_adv", "entropy", entropy), response_mask, a, k
    )


@register_advantage_transform("top_entropy")
def _top_entropy(advantages, response_mask, *, planning_mask=None, entropy=None, rho: float = 0.2):
    entropy = _need("top_entropy", "entropy", entropy)
    return top_entropy_advantages(advantages, entropy, response_mask, rho)


register_policy_loss("ppo_clip")(ppo_clip_loss)
register_policy_loss("clip_cov")(clip_cov_loss)
register_policy_loss("kl_cov")(kl_cov_loss)


def _frozen(params: Mapping[str, float] | None = None) -> Mapping[str, float]:
    return MappingProxyType(dict(params or {}))


@dataclass(frozen=True)
class CreditMode:
    """A user-facing credit-assignment method: which transform, which loss, what they need."""

    name: str
    """The mode's name, as given on the command line or in a recipe (``"hicra"``)."""
    advantage_transform: str
    """Registered advantage transform applied to the broadcast (B, T) advantages."""
    policy_loss: str
    """Registered per-token policy loss."""
    requires: frozenset[str] = frozenset()
    """Per-token inputs the trainer must supply: a subset of planning_mask, entropy, old_logp."""
    advantage_params: Mapping[str, float] = field(default_factory=_frozen)
    """Default keyword hyperparameters of the transform (overridable per call)."""
    loss_params: Mapping[str, float] = field(default_factory=_frozen)
    """Default keyword hyperparameters of the loss (overridable per call)."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus ``-entropy_coef * entropy`` in the loss (entropy_reg)."""
    entropy_needs_grad: bool = False
    """True when ``entropy`` must be computed with gradient (it enters the loss)."""
    description: str = ""
    """One line for ``--help`` and docs: the method and its source."""

    def __post_init__(self) -> None:
        unknown = set(self.requires) - set(TOKEN_INPUTS)
        if unknown:
            raise ValueError(
                f"CreditMode {self.name!r}: unknown requires {sorted(unknown)}; "
                f"known: {', '.join(TOKEN_INPUTS)}"
            )
        object.__setattr__(self, "requires", frozenset(self.requires))
        object.__setattr__(self, "advantage_params", _frozen(self.advantage_params))
        object.__setattr__(self, "loss_params", _frozen(self.loss_params))


def register_credit_mode(mode: CreditMode) -> CreditMode:
    """Add a user-facing mode; its transform and loss must already be registered."""
    get_advantage_transform(mode.advantage_transform)
    get_policy_loss(mode.policy_loss)
    return _register(_CREDIT_MODES, "credit mode", mode.name)(mode)


def credit_mode_names() -> list[str]:
    """The registered credit-mode names, sorted."""
    return sorted(_CREDIT_MODES)


def resolve_credit_mode(mode: str | CreditMode) -> CreditMode:
    """The ``CreditMode`` named ``mode`` (a ``CreditMode`` passes through).

    >>> resolve_credit_mode("hicra").advantage_params["alpha"]
    0.2
    """
    if isinstance(mode, CreditMode):
        return mode
    if not isinstance(mode, str) or mode not in _CREDIT_MODES:
        raise ValueError(f"unknown credit mode {mode!r}; known: {', '.join(credit_mode_names())}")
    return _CREDIT_MODES[mode]


for _mode in (
    CreditMode(
        "grpo",
        "identity",
        "ppo_clip",
        description="GRPO with DAPO clip-higher (the paper's baseline)",
    ),
    CreditMode(
        "hicra",
        "hicra",
        "ppo_clip",
        frozenset({"planning_mask"}),
        {"alpha": 0.2},
        description="HICRA: A + alpha*|A| on planning tokens (Wang et al. 2025)",
    ),
    CreditMode(
        "entropy_adv",
        "entropy_adv",
        "ppo_clip",
        frozenset({"entropy"}),
        {"a": 0.4, "k": 2.0},
        description="entropy-based advantage A + min(a*H, |A|/k) (Cheng et al. 2025)",
    ),
    CreditMode(
        "top_entropy",
        "top_entropy",
        "ppo_clip",
        frozenset({"entropy"}),
        {"rho": 0.2},
        description="gradient only on the top-20% entropy tokens (Wang et al. 2025, 80/20)",
    ),
    CreditMode(
        "entropy_reg",
        "identity",
        "ppo_clip",
        frozenset({"entropy"}),
        entropy_coef=1e-3,
        entropy_needs_grad=True,
        description="GRPO + entropy bonus -c*H (the paper's Entropy Reg. baseline)",
    ),
    CreditMode(
        "clip_cov",
        "identity",
        "clip_cov",
        loss_params={"clip_cov_fraction": 2e-4, "cov_low": 1.0, "cov_high": 5.0},
        description="Clip-Cov: detach random high-covariance tokens (Cui et al. 2025)",
    ),
    CreditMode(
        "kl_cov",
        "identity",
        "kl_cov",
        frozenset({"old_logp"}),
        loss_params={"kl_cov_fraction": 2e-3, "kl_cov_coef": 1.0},
        description="KL-Cov: |logp - old_logp| penalty on top-covariance tokens (Cui et al. 2025)",
    ),
):
    register_credit_mode(_mode)


def _keyword_names(fn: Callable, skip: int) -> set[str]:
    """Names of the keyword parameters of ``fn`` after its first ``skip`` positional ones."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def advantage_param_names(mode: str | CreditMode) -> set[str]:
    """The keyword parameters the mode's advantage transform takes (what ``**params`` of
    `token_advantages` may hold).

    >>> sorted(advantage_param_names("hicra")), sorted(advantage_param_names("entropy_adv"))
    (['alpha'], ['a', 'k'])
    """
    transform = get_advantage_transform(resolve_credit_mode(mode).advantage_transform)
    return _keyword_names(transform, 2) - {"planning_mask", "entropy"}


def _merge(kind: str, mode: CreditMode, defaults: Mapping, overrides: dict, accepted: set) -> dict:
    params = {**defaults, **overrides}
    unknown = set(params) - accepted
    if unknown:
        raise TypeError(
            f"credit mode {mode.name!r}: {kind} does not take {sorted(unknown)}; "
            f"it takes {', '.join(sorted(accepted)) or 'no parameters'}"
        )
    return params


def token_advantages(
    mode: str | CreditMode,
    advantages: Tensor,
    response_mask: Tensor,
    planning_mask: Tensor | None = None,
    entropy: Tensor | None = None,
    **params,
) -> Tensor:
    """Per-token advantages of one step under a credit mode; the call every trainer makes.

    Args:
        mode: a credit-mode name or ``CreditMode``.
        advantages: (B,) response advantages (``group_advantages``) or (B, T).
        response_mask: (B, T) bool, True on real response tokens.
        planning_mask: (B, T) bool, required by "hicra".
        entropy: (B, T) token entropies, required by "entropy_adv" and "top_entropy" (detached
            there; "entropy_reg" needs entropy in ``credit_policy_loss``, not here).
        **params: overrides of the mode's ``advantage_params`` (e.g. ``alpha=0.3``).

    Returns:
        (B, T) token advantages, exactly 0 on padding.

    >>> import torch
    >>> m = torch.tensor([[True, True, False]])
    >>> token_advantages("hicra", torch.tensor([-1.0]), m, planning_mask=m & torch.tensor([True, False, False]))
    tensor([[-0.8000, -1.0000,  0.0000]])
    """
    mode = resolve_credit_mode(mode)
    response_mask = check_mask("token_advantages", "response_mask", response_mask)
    # Each transform raises for an input it needs and did not get: entropy_reg requires entropy
    # for its loss, not for its (identity) transform, so it is not demanded here.
    transform = get_advantage_transform(mode.advantage_transform)
    params = _merge(
        "advantage transform " + repr(mode.advantage_transform),
        mode,
        mode.advantage_params,
        params,
        advantage_param_names(mode),
    )
    advantages = broadcast_advantages("token_advantages", advantages, response_mask.shape)
    out = transform(
        advantages, response_mask, planning_mask=planning_mask, entropy=entropy, **params
    )
    return torch.where(response_mask, out, torch.zeros_like(out))


def credit_policy_loss(
    mode: str | CreditMode,
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    agg_mode: str = "token_mean",
    norm_const: float | None = None,
    ref_logp: Tensor | None = None,
    beta: float = 0.0,
    entropy: Tensor | None = None,
    entropy_coef: float | None = None,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    dual_clip: float | None = None,
    generator: torch.Generator | None = None,
    **loss_params,
) -> tuple[Tensor, dict[str, float]]:
    """The step's scalar loss under a credit mode: ``policy_loss`` with the mode's loss.

    ``eps_low``, ``eps_high``, ``dual_clip`` and ``generator`` are the step-wide settings every
    trainer passes; each loss receives those it declares (KL-Cov has no clip, only Clip-Cov
    draws random numbers). ``entropy_coef`` defaults to the mode's. ``**loss_params`` override
    the mode's ``loss_params``. Other arguments as in ``policy_loss``.
    """
    mode = resolve_credit_mode(mode)
    if "old_logp" in mode.requires and old_logp is None:
        raise ValueError(f"credit mode {mode.name!r} needs old_logp (B, T), got None")
    if mode.entropy_needs_grad and entropy is None:
        raise ValueError(f"credit mode {mode.name!r} needs entropy (B, T) with gradient, got None")
    loss_fn = get_policy_loss(mode.policy_loss)
    accepted = _keyword_names(loss_fn, 4)
    common = {
        "eps_low": eps_low,
        "eps_high": eps_high,
        "dual_clip": dual_clip,
        "generator": generator,
    }
    params = _merge(
        "policy loss " + repr(mode.policy_loss),
        mode,
        mode.loss_params,
        loss_params,
        accepted - set(COMMON_LOSS_PARAMS),
    )
    params.update({k: v for k, v in common.items() if k in accepted})
    return policy_loss(
        logp,
        old_logp,
        advantages,
        response_mask,
        loss_fn=loss_fn,
        agg_mode=agg_mode,
        norm_const=norm_const,
        ref_logp=ref_logp,
        beta=beta,
        entropy=entropy,
        entropy_coef=mode.entropy_coef if entropy_coef is None else entropy_coef,
        **params,
    )
