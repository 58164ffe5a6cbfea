"""Baselines: 80/20 top-entropy, Cheng entropy advantage, covariance, Clip-Cov, KL-Cov."""

import pytest
import torch

from hicra.credit import (
    clip_cov_loss,
    entropy_advantages,
    kl_cov_loss,
    masked_quantile,
    ppo_clip_loss,
    token_covariance,
    top_entropy_advantages,
    top_entropy_mask,
)


def _mask(lengths, T):
    return torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]


# ---------------------------------------------------------------- top entropy (80/20)
def test_masked_quantile_matches_torch_quantile():
    gen = torch.Generator().manual_seed(0)
    values = torch.rand(4, 9, generator=gen)
    mask = torch.rand(4, 9, generator=gen) > 0.3
    for q in (0.0, 0.13, 0.5, 0.8, 1.0):
        torch.testing.assert_close(
            masked_quantile(values, mask, q), torch.quantile(values[mask], q)
        )
    assert masked_quantile(values, torch.zeros_like(mask), 0.5).isnan()


def test_top_entropy_mask_by_hand_and_padding_ignored():
    H = torch.tensor([[0.1, 0.9, 0.5, 0.3, 0.7, 99.0]])  # the 99 is padding
    mask = _mask([5], 6)
    # valid sorted (0.1, 0.3, 0.5, 0.7, 0.9); q = 0.6 -> position 2.4 -> 0.5 + 0.4 * 0.2 = 0.58
    keep = top_entropy_mask(H, mask, rho=0.4)
    assert keep.tolist() == [[False, True, False, False, True, False]]


def test_top_entropy_ties_at_threshold_are_all_kept():
    H = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    keep = top_entropy_mask(H, torch.ones(1, 5, dtype=torch.bool), rho=0.2)
    assert keep.tolist() == [[True, True, True, True, False]]


def test_top_entropy_matches_trl_rule_on_random_batch():
    gen = torch.Generator().manual_seed(1)
    H = torch.rand(6, 30, generator=gen) * 3
    mask = _mask([30, 5, 17, 1, 29, 12], 30)
    threshold = torch.quantile(H[mask], 0.8)  # TRL: quantile(valid, 1 - top_entropy_quantile)
    want = (H >= threshold) & mask
    assert torch.equal(top_entropy_mask(H, mask, rho=0.2), want)
    assert abs(want.sum().item() / mask.sum().item() - 0.2) < 0.02


def test_top_entropy_rho_one_keeps_all_and_empty_mask_keeps_none():
    H = torch.rand(2, 4)
    mask = _mask([4, 2], 4)
    assert torch.equal(top_entropy_mask(H, mask, rho=1.0), mask)
    assert not top_entropy_mask(H, torch.zeros_like(mask), rho=0.5).any()
    with pytest.raises(ValueError, match="rho"):
        top_entropy_mask(H, mask, rho=0.0)


def test_top_entropy_advantages_zero_outside_kept_tokens():
    H = torch.tensor([[0.1, 2.0, 0.2], [3.0, 0.0, 0.3]])
    out = top_entropy_advantages(
        torch.tensor([1.0, -2.0]), H, torch.ones(2, 3, dtype=torch.bool), rho=0.34
    )
    # valid sorted (0, .1, .2, .3, 2, 3); q = 0.66 -> position 3.3 -> .3 + .3 * 1.7 = 0.81
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 0.0], [-2.0, 0.0, 0.0]]))


# ---------------------------------------------------------------- entropy advantage (Cheng)
def test_entropy_advantages_by_hand():
    A = torch.tensor([1.0, -1.0, 0.0])
    H = torch.tensor([[0.5, 3.0, 1.0], [0.5, 3.0, 1.0], [2.0, 2.0, 7.0]])
    mask = torch.tensor([[True, True, False], [True, True, True], [True, True, True]])
    out = entropy_advantages(A, H, mask, a=0.4, k=2.0)
    # bonus = min(0.4 H, |A| / 2): (0.2, 0.5, 0.4) for |A| = 1, 0 for A = 0; padding -> 0
    torch.testing.assert_close(
        out, torch.tensor([[1.2, 1.5, 0.0], [-0.8, -0.5, -0.6], [0.0, 0.0, 0.0]])
    )


def test_entropy_advantages_never_flip_sign_and_detach_entropy():
    gen = torch.Generator().manual_seed(2)
    A = torch.randn(8, generator=gen)
    H = (torch.rand(8, 5, generator=gen) * 10).requires_grad_(True)
    out = entropy_advantages(A, H, torch.ones(8, 5, dtype=torch.bool))
    assert ((out * A[:, None]) >= 0).all()
    assert not out.requires_grad  # the bonus shapes credit; no gradient into the entropy
    with pytest.raises(ValueError, match="k > 0"):
        entropy_advantages(A, H, torch.ones(8, 5, dtype=torch.bool), k=0)


# ---------------------------------------------------------------- covariance
def test_token_covariance_by_hand_ignores_padding():
    logp = torch.tensor([[-1.0, -3.0, 50.0]])
    adv = torch.tensor([[2.0, 0.0, 50.0]])
    cov = token_covariance(logp, adv, _mask([2], 3))
    torch.testing.assert_close(cov, torch.tensor([[1.0, 1.0, 0.0]]))


# ---------------------------------------------------------------- Clip-Cov
def _cov_batch(seed=0, B=4, T=64):
    gen = torch.Generator().manual_seed(seed)
    logp = -torch.rand(B, T, generator=gen) * 6  # spread of log-probs
    adv = torch.randn(B, 1, generator=gen).expand(B, T) * 3
    old = logp + 0.05 * torch.randn(B, T, generator=gen)
    mask = _mask([T, T - 10, T // 2, T - 3], T)
    return logp, old, adv.contiguous(), mask


def _grads(loss_fn, logp, *args, **kwargs):
    lp = logp.clone().requires_grad_(True)
    loss, stats = loss_fn(lp, *args, **kwargs)
    loss.sum().backward()
    return loss.detach(), lp.grad, stats


def test_clip_cov_detaches_the_drawn_candidates_only():
    logp, old, adv, mask = _cov_batch()
    kw = dict(clip_cov_fraction=0.05, generator=torch.Generator().manual_seed(7))
    loss, grad, stats = _grads(clip_cov_loss, logp, old, adv, mask, **kw)
    ref_loss, ref_grad, ref_stats = _grads(ppo_clip_loss, logp, old, adv, mask)
    torch.testing.assert_close(loss, ref_loss)  # values are kept: only the gradient is cut
    n_valid = int(mask.sum())
    expected = max(int(0.05 * n_valid), 1)
    cut = (grad == 0) & (ref_grad != 0)
    assert int(cut.sum()) == expected
    assert stats["cov_detach_frac"].item() == pytest.approx(expected / n_valid)
    cov = token_covariance(logp, adv, mask)
    assert (
        (cov[cut] > 1.0) & (cov[cut] < 5.0)
    ).all()  # only inside the (omega_low, omega_high) band
    torch.testing.assert_close(grad[~cut], ref_grad[~cut])
    assert stats["clip_frac"].item() == pytest.approx(ref_stats["clip_frac"].item())


def test_clip_cov_is_deterministic_with_a_seeded_generator():
    logp, old, adv, mask = _cov_batch(seed=3)
    runs = [
        _grads(
            clip_cov_loss,
            logp,
            old,
            adv,
            mask,
            clip_cov_fraction=0.05,
            generator=torch.Generator().manual_seed(seed),
        )[1]
        for seed in (11, 11, 12)
    ]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_clip_cov_never_picks_ppo_clipped_tokens():
    # every token is far outside the clip range -> all clipped -> nothing to detach
    logp, _, adv, mask = _cov_batch(seed=4)
    old = logp - 2.0 * torch.sign(adv)  # r = e^2 for A > 0, e^-2 for A < 0
    _, _, stats = _grads(clip_cov_loss, logp, old, adv, mask, clip_cov_fraction=0.5)
    assert stats["clip_frac"].item() == pytest.approx(1.0)
    assert stats["cov_detach_frac"].item() == 0.0


def test_clip_cov_rejects_bad_band():
    logp, old, adv, mask = _cov_batch()
    with pytest.raises(ValueError, match="cov_low < cov_high"):
        clip_cov_loss(logp, old, adv, mask, cov_low=5.0, cov_high=1.0)


# ---------------------------------------------------------------- KL-Cov
def test_kl_cov_by_hand():
    logp = torch.tensor([[-1.0, -2.5, -2.0, -2.0]], requires_grad=True)
    old = torch.tensor([[-1.5, -2.5, -2.5, -2.0]])
    adv = torch.tensor([[2.0, 0.0, 0.0, 2.0]])
    # means: logp -1.875, A 1 -> cov (0.875, 0.625, 0.125, -0.125); top 1 of 4 -> token 0
    loss, stats = kl_cov_loss(
        logp, old, adv, torch.ones(1, 4, dtype=torch.bool), kl_cov_fraction=0.25
    )
    r0 = torch.exp(torch.tensor(0.5))
    want = torch.tensor([[-2.0 * r0 + 0.5, 0.0, 0.0, -2.0]])
    torch.testing.assert_close(loss.detach(), want)
    assert stats["kl_cov_frac"].item() == pytest.approx(0.25)
    loss.sum().backward()
    # token 0: d(-A r + |logp - old|) = -A r + 1 ; no clip anywhere
    torch.testing.assert_close(logp.grad, torch.tensor([[-2.0 * r0 + 1.0, 0.0, 0.0, -2.0]]))


def test_kl_cov_penalises_top_fraction_and_ignores_padding():
    logp, old, adv, mask = _cov_batch(seed=5)
    logp = torch.where(mask, logp, torch.full_like(logp, 1e6))  # huge padding would win a top-k
    loss, grad, stats = _grads(kl_cov_loss, logp, old, adv, mask, kl_cov_fraction=0.1)
    n = max(int(0.1 * int(mask.sum())), 1)
    assert stats["kl_cov_frac"].item() == pytest.approx(n / int(mask.sum()))
    assert torch.equal(loss[~mask], torch.zeros(int((~mask).sum())))
    assert torch.equal(grad[~mask], torch.zeros(int((~mask).sum())))
