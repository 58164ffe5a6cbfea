"""Sampling G responses per prompt with a KV cache, into a typed `RolloutBatch`.

Works with any Hugging Face causal LM (`model(input_ids, attention_mask, position_ids,
past_key_values, use_cache=True)`). Prompts are left-padded, so every row's next token sits
in the last column; responses are right-padded. Sampling draws from a `torch.Generator` the
caller seeds, so a step's samples depend only on (seed, step), never on what ran before:
that is what makes stop-and-resume exact.

Why not `model.generate`: on CPU with a ~1M-parameter model the per-token overhead of
`generate` (logits processors, stopping criteria, cache bookkeeping) dominates the forward
itself; this loop does the same KV-cached ancestral sampling (pure temperature, no top-k /
top-p) and is faster there (docs/trainer.md gives the measurement).

Example: prompts ["a", "b"], samples_per_prompt 3 -> B = 6 rows, group_ids [0,0,0,1,1,1].
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch


@dataclass
class RolloutBatch:
    """G sampled responses for each of N prompts (B = N * G rows, group-major).

    prompt_ids: (B, P) long, left-padded prompt tokens.
    prompt_mask: (B, P) bool, True on real prompt tokens.
    response_ids: (B, T) long, right-padded response tokens (EOS included when emitted).
    response_mask: (B, T) bool, True on real response tokens (EOS included).
    group_ids: (B,) long, index of the prompt each row answers.
    truncated_mask: (B,) bool, True where the response hit max_new_tokens without EOS.
    texts: B decoded responses (special tokens dropped), what the verifier scores.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    group_ids: torch.Tensor
    truncated_mask: torch.Tensor
    texts: list[str]

    def __len__(self) -> int:
        return self.response_ids.shape[0]

    def select(self, rows: torch.Tensor) -> "RolloutBatch":
        """The rows given by a (K,) index or (B,) bool tensor (e.g. dynamic sampling)."""
        if rows.dtype == torch.bool:
            rows = rows.nonzero().flatten()
        idx = rows.tolist()
        return RolloutBatch(
            prompt_ids=self.prompt_ids[rows],
            prompt_mask=self.prompt_mask[rows],
            response_ids=self.response_ids[rows],
            response_mask=self.response_mask[rows],
            group_ids=self.group_ids[rows],
            truncated_mask=self.truncated_mask[rows],
            texts=[self.texts[i] for i in idx],
        )


def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, falling back to EOS (many causal-LM tokenizers have no pad)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("tokenizer has neither pad_token nor eos_token; set one before training")
    return int(pad)


def encode_prompts(tokenizer, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids (N, P) and mask (N, P) bool, with the tokenizer's special tokens."""
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    width = max(len(ids) for ids in encoded)
    pad = pad_token_id(tokenizer)
    ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.bool)
    for row, seq in enumerate(encoded):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = True
    return ids, mask


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, L) mask -> (B, L) positions counting real tokens only (left padding gets 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _cache_keyword(model) -> str:
    """transformers >= 5 names the KV cache argument `cache`; 4.x calls it `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cache_of(output):
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


@torch.no_grad()
def sample_responses(
    model,
    tokenizer,
    prompts: list[str],
    samples_per_prompt: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> RolloutBatch:
    """Sample `samples_per_prompt` responses to each prompt, KV-cached, at `temperature`.

    Returns a RolloutBatch with B = len(prompts) * samples_per_prompt rows, group-major
    (rows g*G .. g*G+G-1 answer prompt g).
    """
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = pad_token_id(tokenizer)
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts)
    prompt_ids = prompt_ids.repeat_interleave(samples_per_prompt, dim=0).to(device)  # (B, P)
    prompt_mask = prompt_mask.repeat_interleave(samples_per_prompt, dim=0).to(device)  # (B, P)
    batch = prompt_ids.shape[0]

    attention_mask = prompt_mask.long()
    positions = position_ids_from_mask(attention_mask)
    cache_kw = _cache_keyword(model)
    out = model(input_ids=prompt_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache, next_logits = _cache_of(out), out.logits[:, -1, :]  # (B, V)
    last_position = positions[:, -1:]  # (B, 1)

    tokens, live_masks = [], []
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    for _ in range(max_new_tokens):
        probs = torch.softmax(next_logits.float() / temperature, dim=-1)  # (B, V)
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
        token = torch.where(finished, torch.full_like(token, pad), token)
        tokens.append(token)
        live_masks.append(~finished)
        if eos is not None:
            finished = finished | (token == eos)
        if bool(finished.all()):
            break
        attention_mask = torch.cat([attention_mask, torch.ones((batch, 1), dtype=torch.long, device=device)], 1)
        last_position = last_position + 1
        out = model(
            input_ids=token[:, None],
            attention_mask=attention_mask,
            position_ids=last_position,
            use_cache=True,
            logits_to_keep=1,
            **{cache_kw: cache},
        )
        cache, next_logits = _cache_of(out), out.logits[:, -1, :]

    response_ids = torch.stack(tokens, 1)  # (B, T)
    response_mask = torch.stack(live_masks, 1)  # (B, T)
    texts = tokenizer.batch_decode(
        [ids[mask].tolist() for ids, mask in zip(response_ids.cpu(), response_mask.cpu())],
        skip_special_tokens=True,
    )
    group_ids = torch.arange(len(prompts), device=device).repeat_interleave(samples_per_prompt)
    return RolloutBatch(
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        response_ids=response_ids,
        response_mask=response_mask,
        group_ids=group_ids,
        truncated_mask=~finished,
        texts=texts,
    )
