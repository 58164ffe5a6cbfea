"""``HICRATrainer``: TRL's ``GRPOTrainer`` with hicra's token-level credit and dynamics metrics.

The whole change to TRL is one step, after TRL has generated and scored a batch:

    out = GRPOTrainer._generate_and_score_completions(batch)   # TRL: rollouts, rewards, A (B,)
    planning_mask = lexicon.tag_batch(out["completion_ids"], tokenizer, response_mask)  # (B, T)
    out["advantages"] = token_advantages(mode, A, response_mask, planning_mask, ...)    # (B, T)

TRL 1.16's ``_compute_loss`` takes (B, T) advantages from subclasses (it unsqueezes only 1-D
ones), so every loss TRL offers, with PEFT, gradient accumulation, ``num_iterations > 1`` (the
buffered batch keeps the (B, T) tensor), ``steps_per_generation`` and vLLM generation, is TRL's
own code path. docs/trl.md lists each path and what was run.

With ``log_dynamics_metrics`` one extra no-grad forward (TRL's ``_get_per_token_logps_and_entropies``)
gives the token entropy and log-prob; the batch is gathered across processes and
``hicra.dynamics.step_metrics`` is logged under ``hicra/`` through TRL's ``report_to``. The main
process also writes a hicra run directory (``hicra analyze`` reads it).
"""

from __future__ import annotations

import os
from typing import Any

import torch
import trl
from packaging.version import Version
from trl import GRPOTrainer
from trl.models.utils import disable_gradient_checkpointing

from hicra.integrations.trl.config import HICRAConfig
from hicra.integrations.trl.credit import TrlCredit
from hicra.integrations.trl.rundir import TrlRunRecorder
from hicra.lexicon.detectors import detector_name

__all__ = ["HICRAConfig", "HICRATrainer", "TESTED_TRL"]

TESTED_TRL = (
    Version("1.16.0"),
    Version("1.17.0"),
)  # [low, high): HICRATrainer relies on TRL internals

# Keys of TRL's generation output that the model's forward needs (multimodal models), as in
# GRPOTrainer._compute_loss.
_FORWARD_KEYS = (
    "pixel_values",
    "image_grid_thw",
    "num_images",
    "pixel_attention_mask",
    "spatial_shapes",
    "num_tiles",
    "image_sizes",
    "token_type_ids",
    "mm_token_type_ids",
    "image_position_ids",
)


def check_trl_version(version: str = trl.__version__) -> None:
    """Raise unless TRL is in the tested range (HICRA_ALLOW_UNTESTED_TRL=1 skips the check)."""
    if os.environ.get("HICRA_ALLOW_UNTESTED_TRL") == "1":
        return
    low, high = TESTED_TRL
    if not low <= Version(version) < high:
        raise ImportError(
            f"HICRATrainer is tested with trl>={low},<{high} but trl {version} is installed; "
            f"install 'trl>={low},<{high}' (or set HICRA_ALLOW_UNTESTED_TRL=1 at your own risk)"
        )


class HICRATrainer(GRPOTrainer):
    """GRPOTrainer whose advantages are hicra's (B, T) token advantages.

    Takes every argument of ``trl.GRPOTrainer``; ``args`` must be an ``HICRAConfig``. The
    tokenizer (``processing_class``, or its ``.tokenizer`` for a VLM processor) must be a fast
    tokenizer: planning tokens are found from its offsets.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_trl_version()
        config = kwargs.get("args", args[2] if len(args) > 2 else None)
        if not isinstance(config, HICRAConfig):
            raise TypeError(
                f"HICRATrainer: args must be an HICRAConfig (got {type(config).__name__}); "
                "HICRAConfig takes every GRPOConfig option plus credit_mode, alpha, detector, ..."
            )
        super().__init__(*args, **kwargs)
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        self.hicra_credit = TrlCredit.from_config(self.args, tokenizer)
        self.hicra_recorder = TrlRunRecorder(
            self.args, self.hicra_credit.lexicon, tokenizer, self.accelerator
        )
        self._hicra_scored: dict[str, Any] = {}

    # --- TRL hooks --------------------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """TRL's rewards (N_global, n_funcs), kept with this process's rows for the run directory."""
        rewards_per_func = super()._calculate_rewards(
            inputs, prompts, completions, completion_ids_list
        )
        self._hicra_scored = {
            "inputs": inputs,
            "prompts": prompts,
            "rewards_per_func": rewards_per_func,
        }
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        response_mask = output["completion_mask"].bool()  # (B, T)
        if "tool_mask" in output:  # tool results inside a completion are not the model's tokens
            response_mask = response_mask & output["tool_mask"].bool()
        train = self.model.training
        needs_scores = self.hicra_credit.needs_entropy or (train and self.args.log_dynamics_metrics)
        logp, entropy = self._score_completions(output) if needs_scores else (None, None)
        planning_mask = None
        if self.hicra_credit.needs_planning_mask or (train and self.hicra_recorder.active):
            planning_mask = self.hicra_credit.planning_mask(output["completion_ids"], response_mask)
        sequence_advantages = output["advantages"]  # (B,)
        output["advantages"] = self.hicra_credit.advantages(
            sequence_advantages, response_mask, planning_mask, entropy
        )
        if train and self.hicra_recorder.active:
            metrics = self.hicra_recorder.record_generation(
                step=self.state.global_step + 1,
                completion_ids=output["completion_ids"],
                response_mask=response_mask,
                planning_mask=planning_mask,
                logp=logp,
                entropy=entropy,
                sequence_advantages=sequence_advantages,
                scored=self._hicra_scored,
                reward_weights=self.reward_weights,
                num_generations=self.num_generations,
            )
            for name, value in metrics.items():
                self._metrics["train"][f"hicra/{name}"].append(value)
        self._hicra_scored = {}
        return output

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        train = self.model.training
        super().log(logs, start_time)  # fills `logs` with TRL's averaged metrics, ours included
        if train and "train_runtime" not in logs:
            self.hicra_recorder.log_metrics(self.state.global_step, logs)

    def train(self, *args: Any, **kwargs: Any):
        resume = kwargs.get("resume_from_checkpoint", args[0] if args else None)
        self.hicra_recorder.start(config=self._run_config(), resuming=bool(resume))
        try:
            return super().train(*args, **kwargs)
        finally:
            self.hicra_recorder.close()

    # --- helpers ----------------------------------------------------------------------------------
    def _score_completions(self, output: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(logp, entropy), each (B, T), of the completions under the current policy (no grad).

        Uses TRL's own ``_get_per_token_logps_and_entropies``, chunked like TRL's reference pass.
        """
        input_ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
        attention_mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        forward_kwargs = {key: output[key] for key in _FORWARD_KEYS if key in output}
        train = self.model.training
        batch_size = (
            self.args.per_device_train_batch_size if train else self.args.per_device_eval_batch_size
        )
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
        ):
            logp, entropy, _ = self._get_per_token_logps_and_entropies(
                self.model,
                input_ids,
                attention_mask,
                output["completion_ids"].size(1),
                batch_size=batch_size,
                compute_entropy=True,
                **forward_kwargs,
            )
        return logp.float(), entropy.float()

    def _run_config(self) -> dict[str, Any]:
        config = {"backend": "trl", "trl_version": trl.__version__, **self.args.hicra_options()}
        config["grpo"] = {k: v for k, v in self.args.to_dict().items() if k not in config}
        config["model"] = getattr(getattr(self.model, "config", None), "_name_or_path", None)
        config["detector_name"] = detector_name(self.hicra_credit.lexicon)
        return config
