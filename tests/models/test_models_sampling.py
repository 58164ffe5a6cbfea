import torch

from hicra.models.sampling import sample_responses
from hicra.models.scoring import logp_and_entropy, response_logp
from hicra.trainer.setup import load_policy

PROMPTS = ["numbers 1 2 3 target 4 :", "numbers 5 target 6 :"]  # different lengths -> left padding


def test_sample_shapes_masks_and_groups(tiny_model_dir):
    model, tok = load_policy(tiny_model_dir, "cpu")
    gen = torch.Generator().manual_seed(0)
    batch = sample_responses(model, tok, PROMPTS, 3, 12, 1.0, gen)
    B, T = batch.response_ids.shape
    assert B == 6 and T <= 12
    assert batch.group_ids.tolist() == [0, 0, 0, 1, 1, 1]
    assert batch.prompt_mask[3:, 0].eq(False).all() and batch.prompt_mask[:3].all()  # left padded
    lengths = batch.response_mask.sum(1)
    for i in range(B):
        mask = batch.response_mask[i]
        assert mask[: lengths[i]].all() and not mask[lengths[i] :].any()  # right padded
        ids = batch.response_ids[i][mask]
        ended = bool((ids == tok.eos_token_id).any())
        assert ended != bool(batch.truncated_mask[i])
        if ended:
            assert ids[-1] == tok.eos_token_id and (ids[:-1] != tok.eos_token_id).all()
        assert batch.texts[i] == tok.decode(ids.tolist(), skip_special_tokens=True)


def test_same_generator_seed_same_samples(tiny_model_dir):
    model, tok = load_policy(tiny_model_dir, "cpu")
    a = sample_responses(model, tok, PROMPTS, 4, 10, 1.0, torch.Generator().manual_seed(7))
    torch.manual_seed(123)  # the global RNG must not matter
    b = sample_responses(model, tok, PROMPTS, 4, 10, 1.0, torch.Generator().manual_seed(7))
    c = sample_responses(model, tok, PROMPTS, 4, 10, 1.0, torch.Generator().manual_seed(8))
    assert torch.equal(a.response_ids, b.response_ids) and a.texts == b.texts
    assert (
        not torch.equal(a.response_ids, c.response_ids)
        or a.response_ids.shape != c.response_ids.shape
    )


def test_teacher_forced_logp_padded_equals_unpadded(tiny_model_dir):
    model, tok = load_policy(tiny_model_dir, "cpu")
    batch = sample_responses(model, tok, PROMPTS, 2, 10, 1.0, torch.Generator().manual_seed(1))
    logp, entropy = response_logp(
        model, batch.prompt_ids, batch.prompt_mask, batch.response_ids, batch.response_mask
    )
    for i in (0, 3):  # one row of each prompt, scored alone without any padding
        p = batch.prompt_mask[i]
        r = batch.response_mask[i]
        alone_logp, alone_entropy = response_logp(
            model,
            batch.prompt_ids[i][p][None],
            p[p][None],
            batch.response_ids[i][r][None],
            r[r][None],
        )
        torch.testing.assert_close(logp[i][r], alone_logp[0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(entropy[i][r], alone_entropy[0], rtol=1e-4, atol=1e-5)


def test_sampled_tokens_follow_the_scored_distribution(tiny_model_dir):
    """Teacher-forced entropy at temperature 1 is that of the distribution sampled from:
    the mean surprisal of sampled tokens estimates it (within noise)."""
    model, tok = load_policy(tiny_model_dir, "cpu")
    batch = sample_responses(model, tok, PROMPTS[:1], 64, 6, 1.0, torch.Generator().manual_seed(2))
    logp, entropy = response_logp(
        model, batch.prompt_ids, batch.prompt_mask, batch.response_ids, batch.response_mask
    )
    first = batch.response_mask[:, 0]
    assert abs(float(-logp[first, 0].mean()) - float(entropy[first, 0].mean())) < 0.35


def test_logp_and_entropy_hand_computed():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25]]]))
    logp, entropy = logp_and_entropy(logits, torch.tensor([[1]]))
    assert torch.allclose(logp, torch.log(torch.tensor([[0.25]])))
    assert torch.allclose(entropy, torch.tensor([[1.5 * torch.log(torch.tensor(2.0)).item()]]))
    hot_logp, hot_entropy = logp_and_entropy(
        logits, torch.tensor([[1]]), temperature=1e6
    )  # ~uniform
    assert torch.allclose(hot_entropy, torch.log(torch.tensor([[3.0]])), atol=1e-4)


def test_sampler_logp_matches_teacher_forcing_through_cache_compaction(tiny_model_dir):
    """Rows stop at different lengths and are dropped from the KV cache mid-batch: the
    sampler's own log-probs must still equal a fresh teacher-forced pass, row by row."""
    model, tok = load_policy(tiny_model_dir, "cpu")
    batch = sample_responses(model, tok, PROMPTS, 32, 40, 0.7, torch.Generator().manual_seed(3))
    lengths = batch.response_mask.sum(1)
    assert lengths.min() < lengths.max() and (~batch.truncated_mask).float().mean() > 0.25
    logp, _ = response_logp(
        model,
        batch.prompt_ids,
        batch.prompt_mask,
        batch.response_ids,
        batch.response_mask,
        temperature=0.7,
    )
    m = batch.response_mask
    torch.testing.assert_close(batch.sample_logp[m], logp.detach()[m], rtol=1e-4, atol=1e-4)
    assert (batch.sample_logp[~m] == 0).all()


def test_stop_strings_end_a_row_at_the_token_that_completes_them(tiny_model_dir):
    model, tok = load_policy(tiny_model_dir, "cpu")
    free = sample_responses(model, tok, PROMPTS, 3, 12, 1.0, torch.Generator().manual_seed(3))
    row = free.response_ids[0][free.response_mask[0]].tolist()
    stop = tok.decode(row[2:4], skip_special_tokens=True)  # two tokens of a real response
    assert " " in stop  # the string spans a token boundary
    batch = sample_responses(
        model, tok, PROMPTS, 3, 12, 1.0, torch.Generator().manual_seed(3), stop_strings=[stop]
    )
    stopped = 0
    for i in range(batch.response_ids.shape[0]):
        ids = batch.response_ids[i][batch.response_mask[i]].tolist()
        before = tok.decode(ids[:-1], skip_special_tokens=True)
        assert stop not in before  # never runs past the first occurrence
        if stop in batch.texts[i]:
            stopped += 1
            assert not batch.truncated_mask[i] and ids[-1] != tok.eos_token_id
        elif ids[-1] != tok.eos_token_id:
            assert batch.truncated_mask[i] and len(ids) == batch.response_ids.shape[1]
    assert stopped >= 1
    # until the first row stops, every row draws what it drew without the stop string
    first = free.response_ids[0][: len(row)].tolist()
    cut = next(j for j in range(len(first)) if stop in tok.decode(first[: j + 1]))
    assert batch.response_ids[0][batch.response_mask[0]].tolist() == first[: cut + 1]


def test_large_vocabularies_draw_by_inverse_cdf_with_the_right_law():
    from hicra.models.sampling import INVERSE_CDF_MIN_VOCAB, _categorical

    vocab = 2 * INVERSE_CDF_MIN_VOCAB
    logits = torch.randn(vocab, generator=torch.Generator().manual_seed(0)) * 2
    logits[:5] += 6.0  # a few likely tokens, a long tail
    logits[10:20] = float("-inf")  # outside a nucleus: never drawn
    probs = torch.softmax(logits, -1).expand(4, vocab).contiguous()
    generator = torch.Generator().manual_seed(1)
    draws = torch.cat([_categorical(probs, generator) for _ in range(5000)])  # 20,000
    counts = torch.bincount(draws, minlength=vocab).double()
    expected = probs[0].double() * draws.numel()
    top = expected.argsort(descending=True)[:10]
    z = (counts[top] - expected[top]) / expected[top].sqrt()
    assert z.abs().max() < 4.5 and counts[10:20].sum() == 0
    tail = expected.argsort(descending=True)[10:]
    assert abs(counts[tail].sum() - expected[tail].sum()) < 4.5 * expected[tail].sum().sqrt()
    again = _categorical(probs, torch.Generator().manual_seed(1))
    assert torch.equal(again, draws[:4])  # the generator alone decides


def test_small_vocabularies_keep_torch_multinomial():
    from hicra.models.sampling import _categorical

    probs = torch.softmax(torch.randn(3, 73), -1)
    ours = _categorical(probs, torch.Generator().manual_seed(2))
    theirs = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(2)).squeeze(1)
    assert torch.equal(ours, theirs)
