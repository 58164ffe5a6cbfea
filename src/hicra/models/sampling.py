"""Sampling G responses per prompt with a KV cache, into a typed `RolloutBatch`: the one sampler
of hicra (the built-in trainer, SFT's evaluation, `hicra analyze --prompts` and `hicra eval`).

Works with any Hugging Face causal LM (`model(input_ids, attention_mask, position_ids,
past_key_values, use_cache=True)`). Prompts are left-padded, so every row's next token sits
in the last column; responses are right-padded. Sampling draws from a `torch.Generator` the
caller seeds, so a step's samples depend only on (seed, step), never on what ran before:
that is what makes stop-and-resume exact.

Why not `model.generate`: on CPU with a ~1M-parameter model the per-token overhead of
`generate` (logits processors, stopping criteria, cache bookkeeping) dominates the forward
itself; this loop does the same KV-cached ancestral sampling (pure temperature, no top-k /
top-p unless asked) and is faster there (docs/trainer.md gives the measurement).

Example: prompts ["a", "b"], samples_per_prompt 3 -> B = 6 rows, group_ids [0,0,0,1,1,1].
"""

from __future__ import annotations

import inspect
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from hicra.models.packed import packed_linears


@dataclass
class RolloutBatch:
    """G sampled responses for each of N prompts (B = N * G rows, group-major).

    prompt_ids: (B, P) long, left-padded prompt tokens.
    prompt_mask: (B, P) bool, True on real prompt tokens.
    response_ids: (B, T) long, right-padded response tokens (EOS included when emitted).
    response_mask: (B, T) bool, True on real response tokens (EOS included).
    group_ids: (B,) long, index of the prompt each row answers.
    truncated_mask: (B,) bool, True where the response hit max_new_tokens without EOS or a stop
        string.
    texts: B decoded responses (special tokens dropped), what the verifier scores.
    sample_logp: (B, T) float32 log-prob of each sampled token under the sampling
        distribution (logits / temperature), 0 on padding; the teacher-forced logp of the
        trainer recomputes it (they agree to float precision).
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    group_ids: torch.Tensor
    truncated_mask: torch.Tensor
    texts: list[str]
    sample_logp: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.response_ids.shape[0]


def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, falling back to EOS (many causal-LM tokenizers have no pad)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("tokenizer has neither pad_token nor eos_token; set one before training")
    return int(pad)


def chat_prompt(tokenizer, prompt: str) -> str:
    """The text the policy is given for one user prompt: the prompt as one user message in the
    tokenizer's chat template (with the generation prompt, e.g. "<|im_start|>assistant\n"),
    or the prompt itself when the tokenizer has no template. The template's tokens are all
    prompt tokens: the response starts after them."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return prompt


def encode_prompts(
    tokenizer, prompts: list[str], add_special_tokens: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids (N, P) and mask (N, P) bool (with the tokenizer's special tokens
    unless add_special_tokens is False, e.g. for prompts already rendered by a chat template)."""
    encoded = [tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts]
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


def _draw(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
):
    """One token per row from (b, V) logits -> (token (b,), its log-prob (b,)) in float32."""
    if temperature == 0:
        log_probs = torch.log_softmax(logits.float(), dim=-1)  # (b, V)
        token = log_probs.argmax(-1)
    else:
        log_probs = torch.log_softmax(logits.float() / temperature, dim=-1)  # (b, V)
        if top_p < 1.0:
            log_probs = _nucleus(log_probs, top_p)
        token = _categorical(log_probs.exp(), generator)  # (b,)
    return token, log_probs.gather(1, token[:, None]).squeeze(1)


INVERSE_CDF_MIN_VOCAB = 1024
"""From this vocabulary size on, a draw is one uniform per row against the cumulative
probabilities instead of `torch.multinomial`, which draws one exponential per vocabulary entry
(on SmolLM2-135M, 49,152 entries x 8 rows: ~8 ms, 7% of a decoding step). Both are exact; the
demo's countdown models (73 entries) keep `torch.multinomial`, so their runs stay bit-identical
to the ones before."""


def _categorical(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of (b, V) probabilities (rows need not sum to exactly 1)."""
    if probs.shape[-1] < INVERSE_CDF_MIN_VOCAB:
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
    cdf = probs.cumsum(-1, dtype=torch.float64)  # (b, V); float64: no drift over 10^5 entries
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64, device=cdf.device)
    # the first entry whose cumulative mass exceeds u * total: entries of mass 0 never qualify
    index = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(1)
    return index.clamp_(max=probs.shape[-1] - 1)


def _nucleus(log_probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """(b, V) log-probs restricted to the smallest set of most likely tokens whose mass reaches
    top_p (the most likely token always kept), renormalised; -inf elsewhere."""
    sorted_lp, order = log_probs.sort(-1, descending=True)
    mass_before = sorted_lp.exp().cumsum(-1) - sorted_lp.exp()  # mass of the tokens ranked above
    drop = torch.zeros_like(log_probs, dtype=torch.bool).scatter(-1, order, mass_before >= top_p)
    return torch.log_softmax(log_probs.masked_fill(drop, float("-inf")), dim=-1)


class RolloutCopy:
    """A copy of a policy with its weights in another dtype, to sample rollouts from.

    `refresh(model)` returns the copy with the policy's current weights: the first call deep-copies
    the model (LoRA adapters and all) and casts its floating-point parameters, later calls copy
    the weights into the same tensors (no new memory). Buffers keep their dtype (the rotary
    frequencies stay float32). Used by the trainer's `rollout_dtype`: on CPU, decoding a few rows
    at a time is bound by reading the weights, and bfloat16 halves the bytes.
    """

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.model = None

    @torch.no_grad()
    def refresh(self, model):
        if self.model is None:
            import copy

            self.model = copy.deepcopy(model).eval().requires_grad_(False)
            for param in self.model.parameters():
                if param.is_floating_point():
                    param.data = param.data.to(self.dtype)
        else:
            for mine, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
                mine.copy_(theirs)
        return self.model


def _stop_string_hits(
    tokenizer,
    response_ids: torch.Tensor,
    rows: torch.Tensor,
    running: torch.Tensor,
    t: int,
    window: int,
    stop_strings,
) -> torch.Tensor:
    """(b,) bool: the running cached rows whose last `window` tokens (through step t) decode to a
    text containing a stop string. A string of n characters spans at most n tokens, so one that
    the token of step t completes always lies inside the window; an earlier one would already
    have stopped the row."""
    hits = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
    live = running.nonzero().flatten()
    tails = response_ids[rows[live], max(0, t + 1 - window) : t + 1].tolist()
    texts = tokenizer.batch_decode(tails, skip_special_tokens=True)
    hits[live] = torch.tensor(
        [any(s in text for s in stop_strings) for text in texts], dtype=torch.bool
    ).to(rows.device)
    return hits


def preallocated_cache(model, capacity: int):
    """A `PreallocatedCache` of `capacity` positions for a plain decoder (every layer full
    attention), else None (the model's own cache: sliding-window and hybrid models)."""
    config = getattr(model, "config", None)
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    layers = getattr(text, "num_hidden_layers", None)
    layer_types = set(getattr(text, "layer_types", None) or ["full_attention"])
    if not layers or getattr(text, "sliding_window", None) or layer_types != {"full_attention"}:
        return None
    from hicra.models.kvcache import PreallocatedCache

    return PreallocatedCache(num_layers=layers, capacity=capacity)


@torch.no_grad()
def sample_responses(
    model,
    tokenizer,
    prompts: list[str],
    samples_per_prompt: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    top_p: float = 1.0,
    eos_token_ids: list[int] | None = None,
    add_special_tokens: bool = True,
    share_prefill: bool = True,
    stop_strings: tuple[str, ...] | list[str] = (),
    pack_weights: bool = True,
) -> RolloutBatch:
    """Sample `samples_per_prompt` responses to each prompt, KV-cached, at `temperature`.

    Returns a RolloutBatch with B = len(prompts) * samples_per_prompt rows, group-major
    (rows g*G .. g*G+G-1 answer prompt g). Rows that emitted EOS are dropped from the KV
    cache as the batch goes (when the cache supports `batch_select_indices`), so the cost of
    a step follows the mean response length more than the longest one. The KV cache is written
    into buffers preallocated for prompt + max_new_tokens positions (`hicra.models.kvcache`):
    no per-step concatenation, so the cost per token does not grow with the copying of the cache.

    temperature 0: greedy (argmax; sample_logp then under logits / 1). top_p < 1: nucleus
    sampling, sample_logp under the renormalised nucleus. eos_token_ids: the tokens that end a
    response (default: the tokenizer's eos); add_special_tokens: see `encode_prompts`.
    share_prefill: run the prompt forward once per prompt and copy its KV cache and last logits
    to the `samples_per_prompt` rows (`batch_repeat_interleave`) instead of once per row (a
    G-fold saving on the prompt, which under a chat template is often longer than the response).
    Same distribution; on the tiny countdown models the draws are bit-identical to the per-row
    prefill, on a 135M model the log-probs differ in the last bits (matmuls of another row count:
    |d logp| ~ 3e-5, docs/trainer.md). A cache that cannot repeat rows gets the per-row prefill.
    stop_strings: a row also ends at the token that completes one of these strings in its text
    (e.g. "Question:" where a model goes on to invent the next exercise). That token and the
    ones before it stay in the response, as with `generate(stop_strings=...)`; the row is not
    truncated. Checked by decoding each running row's last few tokens once per step.
    pack_weights: decode float32 CPU layers through MKL's packed GEMM
    (`hicra.models.packed.packed_linears`: the same maths, equal up to the order of the sums,
    ~1.3x faster per step on SmolLM2-135M); a no-op on GPUs, other dtypes, without MKL and on
    layers of at most 65,536 weights (the countdown models, whose draws stay bit-identical).
    """
    device = next(model.parameters()).device
    eos = (
        tokenizer.eos_token_id
        if eos_token_ids is None
        else (eos_token_ids[0] if eos_token_ids else None)
    )
    stop = (
        None
        if eos_token_ids is None or len(eos_token_ids) < 2
        else torch.tensor(eos_token_ids, device=device)
    )
    pad = pad_token_id(tokenizer)
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts, add_special_tokens)
    prompt_ids = prompt_ids.repeat_interleave(samples_per_prompt, dim=0).to(device)  # (B, P)
    prompt_mask = prompt_mask.repeat_interleave(samples_per_prompt, dim=0).to(device)  # (B, P)
    batch = prompt_ids.shape[0]

    attention_mask = prompt_mask.long()
    positions = position_ids_from_mask(attention_mask)
    cache_kw = _cache_keyword(model)
    cache = preallocated_cache(model, prompt_ids.shape[1] + max_new_tokens)
    cache_arg = {cache_kw: cache} if cache is not None else {}
    g = samples_per_prompt
    out = None
    if share_prefill and g > 1:
        out = model(
            input_ids=prompt_ids[::g],
            attention_mask=attention_mask[::g],
            position_ids=positions[::g],
            use_cache=True,
            logits_to_keep=1,
            **cache_arg,
        )  # (N, 1, V): one row per prompt
        cache = _cache_of(out)
        if hasattr(cache, "batch_repeat_interleave"):
            cache.batch_repeat_interleave(g)
            next_logits = out.logits[:, -1, :].repeat_interleave(g, dim=0)  # (B, V)
        else:
            out, cache = None, preallocated_cache(model, prompt_ids.shape[1] + max_new_tokens)
            cache_arg = {cache_kw: cache} if cache is not None else {}
    if out is None:
        out = model(
            input_ids=prompt_ids,
            attention_mask=attention_mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **cache_arg,
        )
        cache, next_logits = _cache_of(out), out.logits[:, -1, :]  # (B, V)
    last_position = positions[:, -1:]  # (B, 1)

    response_ids = torch.full(
        (batch, max_new_tokens), pad, dtype=torch.long, device=device
    )  # (B, T)
    response_mask = torch.zeros((batch, max_new_tokens), dtype=torch.bool, device=device)  # (B, T)
    sample_logp = torch.zeros((batch, max_new_tokens), dtype=torch.float32, device=device)  # (B, T)
    rows = torch.arange(batch, device=device)  # original row of each row still in the cache
    done = torch.zeros(batch, dtype=torch.bool, device=device)  # per cached row: emitted EOS
    stopped = torch.zeros(batch, dtype=torch.bool, device=device)  # per original row: stop string
    stop_window = max((len(s) for s in stop_strings), default=0) + 1  # tokens, each >= 1 char
    can_compact = hasattr(cache, "batch_select_indices")
    length = 0
    # the decoding steps only: the prefill's products have many rows (`hicra.models.packed`)
    packing = packed_linears(model) if pack_weights else nullcontext()
    with packing:
        for t in range(max_new_tokens):
            token, token_logp = _draw(next_logits, temperature, top_p, generator)  # (b,), (b,)
            token = torch.where(done, torch.full_like(token, pad), token)
            response_ids[rows, t] = token
            response_mask[rows, t] = ~done
            sample_logp[rows, t] = torch.where(done, torch.zeros_like(token_logp), token_logp)
            length = t + 1
            if stop is not None:
                done = done | torch.isin(token, stop)
            elif eos is not None:
                done = done | (token == eos)
            if stop_strings:
                hit = _stop_string_hits(
                    tokenizer, response_ids, rows, ~done, t, stop_window, stop_strings
                )  # (b,)
                stopped[rows[hit]] = True
                done = done | hit
            if bool(done.all()):
                break
            # Drop finished rows from the KV cache once a quarter of the rows are done, so the long
            # tail of a batch does not pay for the rows that already stopped.
            if can_compact and int(done.sum()) * 4 >= len(rows):
                keep = (~done).nonzero().flatten()
                cache.batch_select_indices(keep)
                rows, token, done = rows[keep], token[keep], done[keep]
                attention_mask, last_position = attention_mask[keep], last_position[keep]
            attention_mask = torch.cat(
                [attention_mask, torch.ones((len(rows), 1), dtype=torch.long, device=device)], 1
            )
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

    response_ids, response_mask = response_ids[:, :length], response_mask[:, :length]
    if eos is None:
        truncated_mask = torch.ones(batch, dtype=torch.bool, device=device)
    elif stop is not None:
        truncated_mask = ~(torch.isin(response_ids, stop) & response_mask).any(1)
    else:
        truncated_mask = ~((response_ids == eos) & response_mask).any(1)
    truncated_mask = truncated_mask & ~stopped
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
        truncated_mask=truncated_mask,
        texts=texts,
        sample_logp=sample_logp[:, :length],
    )
