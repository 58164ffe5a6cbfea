"""``HICRAConfig``: TRL's ``GRPOConfig`` plus the options of hicra's credit assignment and metrics.

Every field is a dataclass field with a ``help`` string, like TRL's own, so ``TrlParser`` /
``HfArgumentParser`` turn them into command-line flags and recipe-YAML keys. HfArgumentParser
accepts both spellings of a flag (``--credit-mode`` and ``--credit_mode``; ``--no-write-run-dir``
for a boolean that defaults to true). The credit options have the names they have in every hicra
trainer (``credit_mode``, ``alpha``, ``credit_options``, ``detector``) and one rule decides which
apply (`hicra.credit.CreditSettings.resolve`).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig

from hicra.credit import CreditSettings, resolve_credit_mode

# TRL's `_compute_loss` plays the part of hicra's "ppo_clip" loss, so every credit mode whose
# policy loss is "ppo_clip" runs in TRL: its advantage transform gives the (B, T) advantages.
# "entropy_reg" adds TRL's own entropy bonus (`entropy_coef`). "clip_cov" and "kl_cov" change the
# loss itself (a gradient detach / a KL term on the current policy's log-ratio) and are refused.
TRL_LOSS = "ppo_clip"
# Deprecated field -> its name now (accepted with a warning for one release).
RENAMED = {"hicra_alpha": "alpha", "credit_params": "credit_options", "lexicon_path": "detector"}


@dataclass
class HICRAConfig(GRPOConfig):
    r"""Configuration of [`HICRATrainer`]: every [`GRPOConfig`] option plus HICRA's.

    Parameters:
        > Parameters that control credit assignment

        credit_mode (`str`, *optional*, defaults to `"hicra"`):
            One of `grpo`, `hicra`, `entropy_adv`, `top_entropy`, `entropy_reg` (TRL's entropy
            bonus; `entropy_coef` 0 becomes 0.001). `clip_cov` and `kl_cov` change the loss
            itself and are refused (use hicra's built-in trainer).
        alpha (`float`, *optional*, defaults to `0.2`):
            HICRA's alpha in [-1, 1]: planning tokens get advantage `A + alpha * |A|`. `0.0` is
            exactly GRPO; a negative alpha is reverse HICRA. Applies to the `hicra` mode only.
        credit_options (`dict`, `str` or `None`, *optional*, defaults to `None`):
            Extra keyword parameters of the credit mode's advantage transform (JSON on the command
            line), e.g. `{"rho": 0.2}` for `top_entropy`.
        detector (`str` or `None`, *optional*, defaults to `None`):
            Planning detector (`hicra.lexicon.load_detector`): a registered name such as `lexicon`,
            or a lexicon file (one phrase a line, or hicra's TSV). `None` uses the published
            249-phrase list shipped with hicra.
        hicra_alpha, credit_params, lexicon_path:
            Deprecated names of `alpha`, `credit_options` and `detector` (accepted with a warning).

        > Parameters that control hicra's metrics and run directory

        log_dynamics_metrics (`bool`, *optional*, defaults to `True`):
            Log hicra's per-step dynamics metrics (planning/execution entropy and NLL, semantic
            entropy, planning fraction) through `report_to` under `hicra/`. Costs one extra
            no-grad forward per generation batch.
        write_run_dir (`bool`, *optional*, defaults to `True`):
            Write a hicra run directory (config.json, metrics.jsonl, rollouts/) that
            `hicra analyze` reads.
        rollout_dir (`str` or `None`, *optional*, defaults to `None`):
            Where the hicra run directory goes. `None` means `<output_dir>/hicra_run`.
        rollouts_per_step (`int` or `None`, *optional*, defaults to `None`):
            How many rollouts (responses) to keep per generation step; `None` keeps all.
        correct_threshold (`float`, *optional*, defaults to `1.0`):
            A response counts as correct (for accuracy, pass@k and the run directory) when the
            first reward function gives it at least this value.
    """

    credit_mode: str = field(
        default="hicra",
        metadata={
            "help": "Credit assignment: grpo, hicra, entropy_adv, top_entropy or entropy_reg (TRL's entropy "
            "bonus, entropy_coef defaults to 0.001). clip_cov/kl_cov need hicra's built-in trainer.",
        },
    )
    alpha: float = field(
        default=0.2,
        metadata={
            "help": "HICRA's alpha in [-1, 1]: planning tokens get advantage A + alpha*|A| (hicra mode "
            "only). 0.0 is exactly GRPO."
        },
    )
    credit_options: dict | str | None = field(
        default=None,
        metadata={
            "help": "Extra parameters of the credit mode as a dict or JSON string, e.g. '{\"rho\": 0.2}'."
        },
    )
    detector: str | None = field(
        default=None,
        metadata={
            "help": "Planning detector: a registered name (lexicon) or a lexicon file (one phrase a line, or "
            "hicra's TSV). None uses the published 249-phrase list shipped with hicra."
        },
    )
    hicra_alpha: float | None = field(default=None, metadata={"help": "Deprecated: use --alpha."})
    credit_params: dict | str | None = field(
        default=None, metadata={"help": "Deprecated: use --credit-options."}
    )
    lexicon_path: str | None = field(default=None, metadata={"help": "Deprecated: use --detector."})
    log_dynamics_metrics: bool = field(
        default=True,
        metadata={
            "help": "Log hicra's per-step dynamics metrics (planning/execution entropy and NLL, semantic entropy, "
            "planning fraction) under hicra/. Costs one extra no-grad forward per generation batch."
        },
    )
    write_run_dir: bool = field(
        default=True,
        metadata={
            "help": "Write a hicra run directory (metrics.jsonl, rollouts/) that `hicra analyze` reads."
        },
    )
    rollout_dir: str | None = field(
        default=None,
        metadata={"help": "Where the hicra run directory goes. None means <output_dir>/hicra_run."},
    )
    overwrite_run_dir: bool = field(
        default=False,
        metadata={
            "help": "Allow replacing the hicra run directory when it holds a run made with other options, or "
            "this run when not resuming (never a directory that is not a hicra run; docs/run-directory.md)."
        },
    )
    rollouts_per_step: int | None = field(
        default=None,
        metadata={
            "help": "How many rollouts to keep per generation step in the run directory; None keeps all."
        },
    )
    correct_threshold: float = field(
        default=1.0,
        metadata={
            "help": "A response is correct when the first reward function gives it at least this value."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for old, new in RENAMED.items():
            value = getattr(self, old)
            if value is not None:
                warnings.warn(
                    f"HICRAConfig.{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3
                )
                setattr(self, new, value)
                setattr(self, old, None)
        try:
            mode = resolve_credit_mode(self.credit_mode)
        except ValueError as err:
            raise ValueError(f"HICRAConfig.credit_mode: {err}") from None
        if mode.policy_loss != TRL_LOSS:
            raise ValueError(
                f"HICRAConfig.credit_mode: {mode.name!r} needs hicra's {mode.policy_loss!r} policy loss, which "
                "TRL's GRPOTrainer does not have (it is not an advantage transform); use hicra's built-in "
                "trainer (`hicra train --backend builtin`) for it"
            )
        if mode.entropy_coef and self.entropy_coef == 0.0 and not self.use_adaptive_entropy:
            # entropy_reg: TRL's own entropy bonus (loss - entropy_coef * H) with the mode's default weight
            self.entropy_coef = mode.entropy_coef
        if isinstance(self.credit_options, str):
            try:
                self.credit_options = json.loads(self.credit_options)
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"HICRAConfig.credit_options: not valid JSON ({err}): {self.credit_options!r}"
                ) from None
        if self.credit_options is not None and not isinstance(self.credit_options, dict):
            raise ValueError(
                f"HICRAConfig.credit_options: expected a JSON object, got {self.credit_options!r}"
            )
        try:
            self.credit_settings().resolve()
        except ValueError as err:
            raise ValueError(f"HICRAConfig.{err}") from None
        if self.rollouts_per_step is not None and self.rollouts_per_step < 0:
            raise ValueError(
                f"HICRAConfig.rollouts_per_step: expected >= 0 or None, got {self.rollouts_per_step}"
            )

    def credit_settings(self) -> CreditSettings:
        """The credit options as the `CreditSettings` every hicra trainer resolves."""
        return CreditSettings(
            self.credit_mode, self.alpha, self.credit_options or {}, self.detector
        )

    def hicra_options(self) -> dict[str, Any]:
        """The hicra-specific fields as a plain dict (written into the run directory's config)."""
        names = (
            "credit_mode",
            "alpha",
            "credit_options",
            "detector",
            "log_dynamics_metrics",
            "write_run_dir",
            "rollout_dir",
            "rollouts_per_step",
            "correct_threshold",
        )
        return {name: getattr(self, name) for name in names}
