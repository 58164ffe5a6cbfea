"""The hook's step on one batch, verl-free: token ids -> planning mask -> hicra advantages.

Works on a verl `DataProto` (or anything with a `.batch` mapping of tensors) holding, as verl
names them after its advantage step:

    responses       (B, T) long   response token ids (right padded)
    response_mask   (B, T)        1 on real response tokens
    advantages      (B, T) float  verl's advantages (GRPO: the response's advantage on each token)
    entropy / entropys (B, T)     optional: per-token entropy of the full next-token distribution
    old_log_probs   (B, T)        optional: log-prob of each sampled token under pi_old

`advantages` is replaced in place; the returned dict holds the step's `hicra/...` metrics.
"""

from __future__ import annotations

from typing import Any

import torch

from hicra.integrations.verl.settings import HICRASettings


def _optional(batch: Any, *names: str) -> torch.Tensor | None:
    keys = set(batch.keys())
    return next((batch[name] for name in names if name in keys), None)


def apply_credit_to_batch(
    batch: Any, tokenizer: Any, lexicon: Any, settings: HICRASettings
) -> dict[str, float]:
    """Rewrite `batch["advantages"]` (B, T) under settings.credit_mode; return the metrics."""
    from hicra.credit import token_advantages

    responses = batch["responses"]  # (B, T)
    response_mask = batch["response_mask"].bool()  # (B, T)
    advantages = batch["advantages"]  # (B, T)
    if responses.shape != response_mask.shape or advantages.shape != response_mask.shape:
        raise ValueError(
            f"hicra verl hook: responses {tuple(responses.shape)}, response_mask "
            f"{tuple(response_mask.shape)} and advantages {tuple(advantages.shape)} must share (B, T)"
        )
    entropy = _optional(batch, "entropy", "entropys")
    old_log_probs = _optional(batch, "old_log_probs")
    planning_mask = lexicon.tag_batch(responses, tokenizer, response_mask).to(
        advantages.device
    )  # (B, T)
    hicra_advantage = token_advantages(
        settings.credit_mode,
        advantages,
        response_mask.to(advantages.device),
        planning_mask=planning_mask,
        entropy=None if entropy is None else entropy.to(advantages.device).float(),
        **settings.advantage_params(),
    )
    batch["advantages"] = hicra_advantage.to(advantages.dtype)

    metrics = {
        "hicra/advantage_abs_change": float(
            ((hicra_advantage - advantages).abs() * response_mask).sum()
            / response_mask.sum().clamp(min=1)
        )
    }
    if settings.log_metrics:
        metrics.update(
            step_metrics_of_batch(
                responses, response_mask, planning_mask, tokenizer, lexicon, entropy, old_log_probs
            )
        )
    return metrics


def step_metrics_of_batch(
    responses: torch.Tensor,
    response_mask: torch.Tensor,
    planning_mask: torch.Tensor,
    tokenizer: Any,
    lexicon: Any,
    entropy: torch.Tensor | None = None,
    old_log_probs: torch.Tensor | None = None,
) -> dict[str, float]:
    """hicra's per-step dynamics metrics (docs/metrics.md) under `hicra/`, from verl tensors.

    NaN values (a token class absent from the step) are dropped: verl's loggers expect numbers.
    """
    from hicra.dynamics import step_metrics

    texts = tokenizer.batch_decode(
        [ids[mask].tolist() for ids, mask in zip(responses.cpu(), response_mask.cpu())],
        skip_special_tokens=True,
    )
    metrics = step_metrics(
        texts,
        lexicon,
        entropy=None if entropy is None else entropy.float().cpu(),
        logp=None if old_log_probs is None else old_log_probs.float().cpu(),
        response_mask=response_mask.cpu(),
        planning_mask=planning_mask.cpu(),
    )
    return {f"hicra/{name}": value for name, value in metrics.items() if value == value}
