"""The `hicra` section of a verl config (Hydra): what the plug-in's trainer hook does.

    python -m verl.trainer.main_ppo ... +hicra.credit_mode=hicra +hicra.alpha=0.2 \
        +hicra.lexicon_path=/data/my_lexicon.txt +hicra.log_metrics=true
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

# Credit modes whose change is to the loss, not the advantages: verl has its own switches.
_LOSS_SIDE_MODES = {
    "entropy_reg": "actor_rollout_ref.actor.entropy_coeff=<c>",
    "clip_cov": "actor_rollout_ref.actor.policy_loss.loss_mode=clip_cov",
    "kl_cov": "actor_rollout_ref.actor.policy_loss.loss_mode=kl_cov",
}


@dataclass(frozen=True)
class HICRASettings:
    """Options of the verl hook, read from the config's `hicra` section (all optional)."""

    credit_mode: str = "hicra"
    """hicra's credit mode applied on top of verl's advantages: "hicra" (A + alpha*|A| on
    planning tokens), "grpo" (leave verl's advantages as they are: metrics only),
    "entropy_adv" or "top_entropy" (need verl's per-token entropy, i.e. not bypass mode)."""
    alpha: float = 0.2
    """HICRA's alpha (the paper: 0.2 in every experiment); only for credit_mode "hicra"."""
    lexicon_path: str | None = None
    """Planning-phrase file; None = the published 249-phrase Strategic-Gram list."""
    log_metrics: bool = True
    """Log planning/execution entropy and NLL, planning fraction and semantic entropy under
    `hicra/` each step (costs one decode of the batch)."""

    @classmethod
    def from_verl_config(cls, config: Any) -> "HICRASettings | None":
        """The settings of a verl config (OmegaConf DictConfig or dict); None when the config has
        no `hicra` section, in which case the trainer behaves exactly like verl's own."""
        section = config.get("hicra") if hasattr(config, "get") else None
        if section is None:
            return None
        section = dict(section.items())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"hicra config: unknown key(s) {unknown}; known: {sorted(known)}")
        settings = cls(**section)
        settings.check()
        return settings

    def check(self) -> None:
        from hicra.credit import credit_mode_names

        if self.credit_mode in _LOSS_SIDE_MODES:
            raise ValueError(
                f"hicra.credit_mode={self.credit_mode!r} changes the loss, not the advantages; in verl "
                f"use its own switch instead: {_LOSS_SIDE_MODES[self.credit_mode]}"
            )
        if self.credit_mode not in credit_mode_names():
            raise ValueError(f"hicra.credit_mode={self.credit_mode!r} unknown; known: {credit_mode_names()}")
        if not -1.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"hicra.alpha={self.alpha} must lie in [-1, 1]")

    def advantage_params(self) -> dict[str, float]:
        return {"alpha": float(self.alpha)} if self.credit_mode == "hicra" else {}
