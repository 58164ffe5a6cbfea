"""PreallocatedCache: the same logits as transformers' DynamicCache, bit for bit, through
growth past the capacity and rows dropped mid-way (as the sampler drops finished rows)."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from hicra.models import build_tiny_model, build_tokenizer
from hicra.models.kvcache import PreallocatedCache
from hicra.tasks.countdown import CountdownTask


def greedy_logits(model, cache, ids, mask, steps=20, drop_at=10):
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True
    )
    logits, position = [out.logits[:, -1]], positions[:, -1:]
    for t in range(steps):
        token = logits[-1].argmax(-1)[:, None]
        if t == drop_at:  # the first row finished: keep rows 1 and 2
            keep = torch.tensor([1, 2])
            cache.batch_select_indices(keep)
            mask, position, token = mask[keep], position[keep], token[keep]
        mask = torch.cat([mask, torch.ones(mask.shape[0], 1, dtype=mask.dtype)], 1)
        position = position + 1
        out = model(
            input_ids=token, attention_mask=mask, position_ids=position, cache=cache, use_cache=True
        )
        logits.append(out.logits[:, -1])
    return torch.cat(logits[drop_at + 1 :])


@pytest.mark.parametrize("capacity", [8, 64])  # 8: the buffers must grow; 64: they never do
def test_preallocated_cache_equals_dynamic_cache(capacity):
    tokenizer = build_tokenizer(CountdownTask())
    model = build_tiny_model(
        tokenizer, hidden=32, layers=2, heads=2, max_positions=128, seed=0
    ).eval()
    ids = torch.randint(5, 60, (3, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding
    with torch.no_grad():
        expected = greedy_logits(model, DynamicCache(), ids, mask)
        got = greedy_logits(model, PreallocatedCache(num_layers=2, capacity=capacity), ids, mask)
    assert torch.equal(got, expected)


def test_sampler_results_do_not_change_with_the_preallocated_cache(monkeypatch):
    """The sampler with its preallocated cache draws exactly what it drew with transformers'
    DynamicCache for a fixed seed (tokens and log-probs), on the countdown world's tiny Llama."""
    import numpy as np

    from hicra.models import sampling

    task = CountdownTask()
    tokenizer = build_tokenizer(task)
    model = build_tiny_model(
        tokenizer, hidden=32, layers=2, heads=2, max_positions=256, seed=0
    ).eval()
    prompts = [p.prompt for p in task.sample_problems(4, np.random.default_rng(0))]

    def run():
        return sampling.sample_responses(
            model, tokenizer, prompts, 4, 60, 1.0, torch.Generator().manual_seed(3)
        )

    assert isinstance(sampling.preallocated_cache(model, 10), PreallocatedCache)
    new = run()
    monkeypatch.setattr(sampling, "preallocated_cache", lambda model, capacity: None)
    old = run()
    assert torch.equal(new.response_ids, old.response_ids) and torch.equal(
        new.response_mask, old.response_mask
    )
    assert torch.equal(new.sample_logp, old.sample_logp) and new.texts == old.texts
    assert new.truncated_mask.any() and not new.truncated_mask.all()  # rows were dropped mid-way


@pytest.mark.parametrize("samples", [1, 4])
def test_shared_prefill_draws_what_the_per_row_prefill_draws(samples):
    """The sampler runs each prompt's prefill once and copies it to its samples (the default):
    on the countdown world's tiny Llama, tokens, log-probs and texts equal the per-row prefill's
    bit for bit, rows dropped mid-way included."""
    import numpy as np

    from hicra.models.sampling import sample_responses

    task = CountdownTask()
    tokenizer = build_tokenizer(task)
    model = build_tiny_model(
        tokenizer, hidden=32, layers=2, heads=2, max_positions=256, seed=0
    ).eval()
    prompts = [p.prompt for p in task.sample_problems(4, np.random.default_rng(1))]

    def run(share):
        return sample_responses(
            model,
            tokenizer,
            prompts,
            samples,
            60,
            1.0,
            torch.Generator().manual_seed(5),
            share_prefill=share,
        )

    shared, per_row = run(True), run(False)
    assert torch.equal(shared.response_ids, per_row.response_ids) and torch.equal(
        shared.prompt_ids, per_row.prompt_ids
    )
    assert torch.equal(shared.sample_logp, per_row.sample_logp) and shared.texts == per_row.texts
    assert shared.response_ids.shape[0] == 4 * samples
