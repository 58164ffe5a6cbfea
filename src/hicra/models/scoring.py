"""Teacher-forced log-probabilities and entropies of sampled responses: the one scorer of hicra
(the built-in trainer's old-policy pass and update, `hicra analyze --prompts`).

`logp` is log pi(y_t | x, y_<t) of the sampled token y_t (its negative is the surprisal);
`entropy` is H(pi(. | x, y_<t)), the entropy of the full next-token distribution. Both are
computed from logits / temperature, the distribution the tokens were sampled from (as verl
and TRL do).
"""

from __future__ import annotations

import torch

from hicra.models.sampling import RolloutBatch, position_ids_from_mask


def logp_and_entropy(
    logits: torch.Tensor,
    token_ids: torch.Tensor,
    temperature: float = 1.0,
    entropy_grad: bool = True,
):
    """logits (B, T, V), token_ids (B, T) -> logp (B, T), entropy (B, T), in float32.

    entropy_grad False computes the entropy without building its graph (saves a (B, T, V)
    activation when only logp enters the loss).

    >>> logits = torch.zeros(1, 1, 4)            # uniform over 4 tokens
    >>> lp, h = logp_and_entropy(logits, torch.tensor([[2]]))
    >>> round(float(-lp), 4), round(float(h), 4)  # both log 4
    (1.3863, 1.3863)
    """
    log_probs = torch.log_softmax(logits.float() / temperature, dim=-1)  # (B, T, V)
    logp = log_probs.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)  # (B, T)
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        entropy = -(log_probs.exp() * log_probs).sum(-1)  # (B, T)
    return logp, entropy


def response_logp(
    model,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    response_ids: torch.Tensor,
    response_mask: torch.Tensor,
    temperature: float = 1.0,
    entropy_grad: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward over prompt + response -> (logp (B, T), entropy (B, T)) of the response.

    prompt_ids/prompt_mask (B, P) left-padded; response_ids/response_mask (B, T)
    right-padded. Padded positions hold garbage values: callers mask with response_mask.
    Gradients flow to logp when called outside no_grad; to entropy only if entropy_grad.
    """
    input_ids = torch.cat([prompt_ids, response_ids], dim=1)  # (B, P+T)
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1).long()  # (B, P+T)
    positions = position_ids_from_mask(attention_mask)
    width = prompt_ids.shape[1]
    # logits at position P-1+t predict response token t; the last position predicts nothing.
    logits = model(
        input_ids=input_ids[:, :-1],
        attention_mask=attention_mask[:, :-1],
        position_ids=positions[:, :-1],
    ).logits
    return logp_and_entropy(logits[:, width - 1 :], response_ids, temperature, entropy_grad)


def micro_batches(rows: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Split a (K,) index tensor into chunks of `size` (0: one chunk)."""
    return [rows] if size <= 0 else list(rows.split(size))


def rows_logp(
    model, batch: RolloutBatch, rows: torch.Tensor, temperature: float, entropy_grad: bool = False
):
    """(logp, entropy), each (len(rows), T), of some rows, with the forward trimmed to the
    longest response among them (the padding columns beyond it are 0)."""
    width = int(batch.response_mask[rows].sum(1).max()) if len(rows) else 0
    width = max(width, 1)
    logp, entropy = response_logp(
        model,
        batch.prompt_ids[rows],
        batch.prompt_mask[rows],
        batch.response_ids[rows, :width],
        batch.response_mask[rows, :width],
        temperature,
        entropy_grad=entropy_grad,
    )
    pad = batch.response_ids.shape[1] - width
    return torch.nn.functional.pad(logp, (0, pad)), torch.nn.functional.pad(entropy, (0, pad))


def by_length(batch: RolloutBatch, rows: torch.Tensor) -> torch.Tensor:
    """`rows` sorted by response length (stable), so micro-batches hold similar lengths and
    trimming removes most padding."""
    return rows[torch.argsort(batch.response_mask[rows].sum(1), stable=True)]


@torch.no_grad()
def score_tokens(model, batch: RolloutBatch, temperature: float, micro_batch_size: int):
    """(logp, entropy), each (B, T), of the sampled responses under `model`, no gradient."""
    logp = torch.zeros(
        batch.response_ids.shape, dtype=torch.float32, device=batch.response_ids.device
    )
    entropy = torch.zeros_like(logp)
    rows = torch.arange(len(batch), device=batch.response_ids.device)
    for micro in micro_batches(
        by_length(batch, rows) if micro_batch_size > 0 else rows, micro_batch_size
    ):
        logp[micro], entropy[micro] = rows_logp(model, batch, micro, temperature)
    return logp, entropy
