"""HICRA inside verl's v1 trainers, by subclassing them (no fork, no copied verl code).

verl 0.9.1's advantage estimators (`register_adv_est`) receive `token_level_rewards,
response_mask, index, config` and no token ids, so they cannot know which tokens are planning
tokens. The hook therefore sits one level up, in the trainer: `_compute_advantage` first runs
verl's own (KL-in-reward, rollout correction, the configured estimator, e.g. GRPO) and stores
the advantages in verl's TransferQueue; then the hook reads back `responses`, `response_mask`,
`advantages` (and `entropy`, `old_log_probs` when present), tags planning tokens with the
planning detector (`hicra.detector`; the published lexicon by default), applies the credit
mode (A + alpha*|A| on planning tokens for "hicra") and writes `advantages` back in verl's
nested layout. The actor's PPO loss then uses them unchanged.

`install()` swaps every registered v1 trainer (sync, colocate_async, separate_async) for its
HICRA subclass in verl's `TRAINER_REGISTRY`, keeping the mode names, since verl branches on
`trainer.v1.trainer_mode` (replay buffer, weight sync). Without a `hicra` config section the
subclasses are exactly verl's trainers.
"""

from __future__ import annotations

from typing import Any

import transfer_queue as tq
from tensordict import TensorDict
from verl.protocol import DataProto
from verl.trainer.ppo.v1 import trainer_base
from verl.workers.utils.padding import response_to_nested

from hicra.credit import resolve_credit_mode
from hicra.integrations.verl.credit import apply_credit_to_batch
from hicra.integrations.verl.settings import HICRASettings

_UNSET = object()


class HICRAAdvantageMixin:
    """Put before a verl `PPOTrainer` subclass: `class T(HICRAAdvantageMixin, PPOTrainerSync)`."""

    _hicra_settings: Any = _UNSET
    _hicra_lexicon: Any = None

    def hicra_settings(self) -> HICRASettings | None:
        if self._hicra_settings is _UNSET:
            self._hicra_settings = HICRASettings.from_verl_config(self.config)
        return self._hicra_settings

    def hicra_lexicon(self):
        if self._hicra_lexicon is None:
            from hicra.lexicon import load_detector

            self._hicra_lexicon = load_detector(self.hicra_settings().detector)
        return self._hicra_lexicon

    def _hicra_fields(self, batch: Any) -> list[str]:
        """The TransferQueue fields the hook reads: entropy exists unless verl ran in bypass
        mode (old_log_probs = rollout_log_probs, no recomputation, hence no entropy)."""
        fields = ["responses", "response_mask", "advantages", "old_log_probs"]
        stored = getattr(batch, "fields", None)
        if stored:
            return fields + (["entropy"] if "entropy" in stored else [])
        correction = self.config.algorithm.get("rollout_correction", None)
        bypass = bool(correction and correction.get("bypass_mode", False))
        return fields + ([] if bypass else ["entropy"])

    def _compute_advantage(self, batch, metrics: dict):
        batch = super()._compute_advantage(batch, metrics)
        settings = self.hicra_settings()
        if settings is None:
            return batch
        fields = self._hicra_fields(batch)
        if (
            "entropy" in resolve_credit_mode(settings.credit_mode).requires
            and "entropy" not in fields
        ):
            raise ValueError(
                f"hicra.credit_mode={settings.credit_mode} needs verl's per-token entropy, which verl does not "
                "compute in rollout-correction bypass mode (algorithm.rollout_correction.bypass_mode=true)"
            )
        data = tq.kv_batch_get(
            keys=batch.keys, partition_id=batch.partition_id, select_fields=fields
        )
        response_mask = data["response_mask"]  # nested (B, T_i)
        padded = DataProto(batch=data.to_padded_tensor())  # (B, T) right padded, as verl does
        metrics.update(
            apply_credit_to_batch(padded.batch, self.tokenizer, self.hicra_lexicon(), settings)
        )
        output = TensorDict(
            {"advantages": response_to_nested(padded.batch["advantages"], response_mask)},
            batch_size=len(batch),
        )
        return tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=output)


def hicra_trainer_class(base: type) -> type:
    """The HICRA subclass of one verl trainer class (cached on the base)."""
    if issubclass(base, HICRAAdvantageMixin):
        return base
    cached = base.__dict__.get("_hicra_subclass")
    if cached is None:
        cached = type(
            f"HICRA{base.__name__}", (HICRAAdvantageMixin, base), {"__module__": __name__}
        )
        base._hicra_subclass = cached
    return cached


def install() -> dict[str, type]:
    """Replace every registered v1 trainer by its HICRA subclass; returns mode -> class.

    Idempotent. The registry is verl's plain dict `TRAINER_REGISTRY`; names are unchanged.
    """
    import verl.trainer.ppo.v1  # noqa: F401  (registers sync, colocate_async, separate_async)

    registry = trainer_base.TRAINER_REGISTRY
    for name, cls in list(registry.items()):
        registry[name] = hicra_trainer_class(cls)
    return dict(registry)
