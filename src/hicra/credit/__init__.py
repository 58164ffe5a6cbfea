"""Credit assignment: rewards -> advantages -> token advantages -> one scalar loss.

Pure tensor functions (torch only), batch-first, boolean masks, no config objects:

    reward (B,) --group_advantages--> advantage (B,) --hicra_advantages--> hicra_advantage (B, T)
    --ppo_clip_loss--> per-token loss (B, T) --agg_loss--> scalar

``token_advantages`` and ``credit_policy_loss`` run a named credit mode ("grpo", "hicra",
"entropy_adv", "top_entropy", "entropy_reg", "clip_cov", "kl_cov"); the built-in trainer and the
TRL / verl adapters call those two. ``CreditSettings(mode, alpha, options, detector).resolve()``
decides which options apply to a mode, for every trainer alike. See docs/credit.md for the
equations and defaults.
"""

from hicra.credit.advantages import (
    group_advantages,
    group_ids_from_keys,
    hicra_advantages,
    informative_group_mask,
)
from hicra.credit.baselines import (
    clip_cov_loss,
    entropy_advantages,
    kl_cov_loss,
    masked_quantile,
    token_covariance,
    top_entropy_advantages,
    top_entropy_mask,
)
from hicra.credit.losses import AGG_MODES, agg_loss, kl_k3, masked_mean, policy_loss, ppo_clip_loss
from hicra.credit.registry import (
    CreditMode,
    advantage_param_names,
    credit_mode_names,
    credit_policy_loss,
    get_advantage_transform,
    get_policy_loss,
    register_advantage_transform,
    register_credit_mode,
    register_policy_loss,
    resolve_credit_mode,
    token_advantages,
)
from hicra.credit.settings import CreditSettings, ResolvedCredit

__all__ = [
    "AGG_MODES",
    "CreditMode",
    "CreditSettings",
    "ResolvedCredit",
    "advantage_param_names",
    "agg_loss",
    "clip_cov_loss",
    "credit_mode_names",
    "credit_policy_loss",
    "entropy_advantages",
    "get_advantage_transform",
    "get_policy_loss",
    "group_advantages",
    "group_ids_from_keys",
    "hicra_advantages",
    "informative_group_mask",
    "kl_cov_loss",
    "kl_k3",
    "masked_mean",
    "masked_quantile",
    "policy_loss",
    "ppo_clip_loss",
    "register_advantage_transform",
    "register_credit_mode",
    "register_policy_loss",
    "resolve_credit_mode",
    "token_advantages",
    "token_covariance",
    "top_entropy_advantages",
    "top_entropy_mask",
]
