"""The `hicra` section of a verl config (Hydra): what the plug-in's trainer hook does.

    python -m verl.trainer.main_ppo ... +hicra.credit_mode=hicra +hicra.alpha=0.2 \
        +hicra.detector=/data/my_lexicon.txt +hicra.log_metrics=true

The credit options have the names they have in every hicra trainer (`credit_mode`, `alpha`,
`credit_options`, `detector`) and one rule decides which apply
(`hicra.credit.CreditSettings.resolve`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any

from hicra.credit import CreditSettings

# Credit modes whose change is to the loss, not the advantages: verl has its own switches.
_LOSS_SIDE_MODES = {
    "entropy_reg": "actor_rollout_ref.actor.entropy_coeff=<c>",
    "clip_cov": "actor_rollout_ref.actor.policy_loss.loss_mode=clip_cov",
    "kl_cov": "actor_rollout_ref.actor.policy_loss.loss_mode=kl_cov",
}
# Deprecated key -> its name now (accepted with a warning for one release).
_RENAMED = {"lexicon_path": "detector"}


@dataclass(frozen=True)
class HICRASettings:
    """Options of the verl hook, read from the config's `hicra` section (all optional)."""

    credit_mode: str = "hicra"
    """hicra's credit mode applied on top of verl's advantages: "hicra" (A + alpha*|A| on
    planning tokens), "grpo" (leave verl's advantages as they are: metrics only),
    "entropy_adv" or "top_entropy" (need verl's per-token entropy, i.e. not bypass mode)."""
    alpha: float = 0.2
    """HICRA's alpha in [-1, 1] (the paper: 0.2 in every experiment); credit_mode "hicra" only."""
    credit_options: dict[str, Any] = field(default_factory=dict)
    """Parameters of the mode's advantage transform, e.g. {rho: 0.2} for top_entropy."""
    detector: str | None = None
    """Planning detector (`hicra.lexicon.load_detector`): a registered name (`lexicon`) or a
    lexicon file; None = the published 249-phrase Strategic-Gram list."""
    log_metrics: bool = True
    """Log planning/execution entropy and NLL, planning fraction and semantic entropy under
    `hicra/` each step (costs one decode of the batch)."""
    lexicon_path: str | None = None
    """Deprecated name of `detector` (accepted with a warning)."""

    def __post_init__(self) -> None:
        for old, new in _RENAMED.items():
            value = getattr(self, old)
            if value is not None:
                warnings.warn(
                    f"hicra.{old} is deprecated; use hicra.{new}", DeprecationWarning, stacklevel=3
                )
                if getattr(self, new) is None:
                    object.__setattr__(self, new, value)
                object.__setattr__(self, old, None)
        object.__setattr__(self, "credit_options", dict(self.credit_options or {}))

    @classmethod
    def from_verl_config(cls, config: Any) -> HICRASettings | None:
        """The settings of a verl config (OmegaConf DictConfig or dict); None when the config has
        no `hicra` section, in which case the trainer behaves exactly like verl's own."""
        section = config.get("hicra") if hasattr(config, "get") else None
        if section is None:
            return None
        section = {k: dict(v.items()) if hasattr(v, "items") else v for k, v in section.items()}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(
                f"hicra config: unknown key(s) {unknown}; known: {sorted(known - set(_RENAMED))}"
            )
        settings = cls(**section)
        settings.check()
        return settings

    def credit_settings(self) -> CreditSettings:
        return CreditSettings(self.credit_mode, self.alpha, self.credit_options, self.detector)

    def check(self) -> None:
        if self.credit_mode in _LOSS_SIDE_MODES:
            raise ValueError(
                f"hicra.credit_mode={self.credit_mode!r} changes the loss, not the advantages; "
                f"in verl use its own switch instead: {_LOSS_SIDE_MODES[self.credit_mode]}"
            )
        try:
            self.credit_settings().resolve()
        except ValueError as err:
            raise ValueError(f"hicra.{err}") from None

    def advantage_params(self) -> dict[str, Any]:
        return self.credit_settings().resolve().advantage_params


__all__ = ["HICRASettings"]
