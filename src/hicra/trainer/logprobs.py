"""Teacher-forced log-probabilities and entropies of sampled responses.

`logp` is log pi(y_t | x, y_<t) of the sampled token y_t (its negative is the surprisal);
`entropy` is H(pi(. | x, y_<t)), the entropy of the full next-token distribution. Both are
computed from logits / temperature, the distribution the tokens were sampled from (as verl
and TRL do).
"""

from __future__ import annotations

import torch

from hicra.trainer.rollout import position_ids_from_mask


def logp_and_entropy(logits: torch.Tensor, token_ids: torch.Tensor, temperature: float = 1.0, entropy_grad: bool = True):
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
    logits = model(input_ids=input_ids[:, :-1], attention_mask=attention_mask[:, :-1], position_ids=positions[:, :-1]).logits
    return logp_and_entropy(logits[:, width - 1 :], response_ids, temperature, entropy_grad)
