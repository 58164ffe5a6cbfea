"""ppo_clip_loss, kl_k3, agg_loss, policy_loss: hand values, gradients, padding."""

import math

import pytest
import torch

from hicra.credit import AGG_MODES, agg_loss, kl_k3, policy_loss, ppo_clip_loss

ALL = torch.ones(1, 4, dtype=torch.bool)


def _logp_for(ratios, old=0.0):
    """(1, T) logp with requires_grad such that exp(logp - old) equals ``ratios``."""
    return torch.log(torch.tensor([ratios], dtype=torch.float64)).add(old).requires_grad_(True)


# ---------------------------------------------------------------- ppo_clip_loss values
def test_ppo_clip_values_by_hand():
    logp = _logp_for([1.5, 1.1, 0.5, 0.9])
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    loss, stats = ppo_clip_loss(logp, torch.zeros_like(logp), adv, ALL)
    # A>0, r=1.5 -> -clip 1.28; A>0, r=1.1 -> -1.1; A<0, r=0.5 -> clip 0.8; A<0, r=0.9 -> 0.9
    torch.testing.assert_close(
        loss.detach(), torch.tensor([[-1.28, -1.1, 0.8, 0.9]], dtype=torch.float64)
    )
    assert stats["clip_frac_high"].item() == pytest.approx(0.25)
    assert stats["clip_frac_low"].item() == pytest.approx(0.25)
    assert stats["clip_frac"].item() == pytest.approx(0.5)
    assert stats["dual_clip_frac"].item() == 0.0
    assert stats["ratio_mean"].item() == pytest.approx((1.5 + 1.1 + 0.5 + 0.9) / 4)
    assert stats["ratio_max"].item() == pytest.approx(1.5)
    # k3 of KL(old || new): r - 1 - log r, averaged
    want_kl = sum(r - 1 - math.log(r) for r in (1.5, 1.1, 0.5, 0.9)) / 4
    assert stats["approx_kl"].item() == pytest.approx(want_kl)


def test_asymmetric_clip_uses_eps_low_and_eps_high():
    logp = _logp_for([2.0, 0.1])
    adv = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    loss, _ = ppo_clip_loss(
        logp,
        torch.zeros_like(logp),
        adv,
        torch.ones(1, 2, dtype=torch.bool),
        eps_low=0.1,
        eps_high=0.5,
    )
    torch.testing.assert_close(loss.detach(), torch.tensor([[-1.5, 0.9]], dtype=torch.float64))


def test_clipped_tokens_have_zero_gradient_and_others_the_pg_gradient():
    logp = _logp_for([1.5, 1.1, 0.5, 0.9, 1.5])
    adv = torch.tensor([[1.0, 2.0, -1.0, -3.0, -1.0]], dtype=torch.float64)
    loss, _ = ppo_clip_loss(logp, torch.zeros_like(logp), adv, torch.ones(1, 5, dtype=torch.bool))
    loss.sum().backward()
    # d(-A r)/d logp = -A r on unclipped tokens; 0 where the clip is active
    # token 4: A<0 with r=1.5 > 1+eps_high is *not* clipped (the unclipped term is larger)
    want = torch.tensor([[0.0, -2.0 * 1.1, 0.0, 3.0 * 0.9, 1.5]], dtype=torch.float64)
    torch.testing.assert_close(logp.grad, want)


def test_dual_clip_bounds_negative_advantage_loss():
    logp = _logp_for([5.0, 5.0, 2.0])
    adv = torch.tensor([[-1.0, 1.0, -1.0]], dtype=torch.float64)
    mask = torch.ones(1, 3, dtype=torch.bool)
    plain, _ = ppo_clip_loss(logp, torch.zeros_like(logp), adv, mask)
    torch.testing.assert_close(
        plain.detach(), torch.tensor([[5.0, -1.28, 2.0]], dtype=torch.float64)
    )
    loss, stats = ppo_clip_loss(logp, torch.zeros_like(logp), adv, mask, dual_clip=3.0)
    # A<0, r=5 > c=3 -> -A c = 3 ; A>0 untouched ; A<0, r=2 < c -> unchanged
    torch.testing.assert_close(
        loss.detach(), torch.tensor([[3.0, -1.28, 2.0]], dtype=torch.float64)
    )
    assert stats["dual_clip_frac"].item() == pytest.approx(1 / 3)
    loss.sum().backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64))


def test_dual_clip_bound_holds_for_any_ratio():
    gen = torch.Generator().manual_seed(2)
    logp = torch.randn(4, 50, generator=gen) * 3  # ratios from e^-9 to e^9
    adv = -torch.rand(4, 50, generator=gen) * 2  # all negative
    loss, _ = ppo_clip_loss(
        logp, torch.zeros_like(logp), adv, torch.ones(4, 50, dtype=torch.bool), dual_clip=3.0
    )
    assert (loss <= -adv * 3.0 + 1e-6).all()
    assert (loss >= -adv * 0.8 - 1e-6).all()  # and never below the low clip


def test_old_logp_none_means_on_policy_ratio_one():
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    adv = torch.tensor([2.0])
    loss, stats = ppo_clip_loss(logp, None, adv, torch.ones(1, 2, dtype=torch.bool))
    torch.testing.assert_close(loss.detach(), torch.tensor([[-2.0, -2.0]]))
    loss.sum().backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-2.0, -2.0]]))  # the REINFORCE gradient
    assert stats["ratio_mean"].item() == 1.0


@pytest.mark.parametrize(
    "kwargs, match", [({"eps_low": 1.0}, "eps_low"), ({"dual_clip": 1.0}, "dual_clip")]
)
def test_ppo_clip_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ppo_clip_loss(
            torch.zeros(1, 2), None, torch.zeros(1), torch.ones(1, 2, dtype=torch.bool), **kwargs
        )


def test_ppo_clip_rejects_bad_shapes():
    with pytest.raises(ValueError, match="old_logp"):
        ppo_clip_loss(
            torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2), torch.ones(2, 3, dtype=torch.bool)
        )
    with pytest.raises(TypeError, match="response_mask must be a bool"):
        ppo_clip_loss(torch.zeros(2, 3), None, torch.zeros(2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="advantages"):
        ppo_clip_loss(torch.zeros(2, 3), None, torch.zeros(3), torch.ones(2, 3, dtype=torch.bool))


# ---------------------------------------------------------------- kl_k3
def test_kl_k3_by_hand():
    out = kl_k3(torch.tensor([[0.0, 0.0, -1.0]]), torch.tensor([[0.0, -1.0, 0.0]]))
    # x = ref - logp: 0 -> 0 ; -1 -> e^-1 + 1 - 1 ; 1 -> e - 1 - 1
    torch.testing.assert_close(out, torch.tensor([[0.0, math.exp(-1), math.e - 2]]))
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, generator=gen), torch.randn(50, generator=gen)
    assert (kl_k3(a, b) >= 0).all()


# ---------------------------------------------------------------- agg_loss
L = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
M = torch.tensor([[True, True, True], [True, False, False], [False, False, False]])


def test_agg_modes_by_hand():
    assert agg_loss(L, M, "token_mean").item() == pytest.approx(10 / 4)
    # the empty third row is not a sequence to average over
    assert agg_loss(L, M, "seq_mean_token_mean").item() == pytest.approx((2 + 4) / 2)
    # Dr. GRPO: every row counts, constant divisor
    assert agg_loss(L, M, "seq_sum_norm", norm_const=10).item() == pytest.approx(10 / (3 * 10))
    assert agg_loss(L, M, "seq_sum_norm").item() == pytest.approx(10 / (3 * 3))  # default T


def test_norm_const_is_read_by_seq_sum_norm_only():
    assert agg_loss(L, M, "token_mean", norm_const=8).item() == pytest.approx(10 / 4)
    assert agg_loss(L, M, "seq_mean_token_mean", norm_const=8).item() == pytest.approx(6 / 2)


@pytest.mark.parametrize("mode", ["token_mean", "seq_mean_token_mean", "seq_sum_norm"])
def test_weighted_micro_batches_sum_to_full_batch(mode):
    gen = torch.Generator().manual_seed(6)
    per_token = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    mask = torch.arange(5)[None, :] < torch.tensor([5, 2, 0, 4])[:, None]
    full = agg_loss(per_token, mask, mode, norm_const=5)
    parts = [(per_token[i : i + 2], mask[i : i + 2]) for i in (0, 2)]
    if mode == "token_mean":
        weights = [m.sum() / mask.sum() for _, m in parts]
    elif mode == "seq_mean_token_mean":
        weights = [(m.sum(1) > 0).sum() / (mask.sum(1) > 0).sum() for _, m in parts]
    else:
        weights = [0.5, 0.5]  # equal-sized micro-batches
    total = sum(w * agg_loss(x, m, mode, norm_const=5) for w, (x, m) in zip(weights, parts))
    torch.testing.assert_close(total, full)


def test_agg_empty_mask_is_zero_with_zero_gradient():
    x = torch.ones(2, 3, requires_grad=True)
    for mode in AGG_MODES:
        out = agg_loss(x, torch.zeros(2, 3, dtype=torch.bool), mode)
        assert out.item() == 0.0
        out.backward()
        assert torch.equal(x.grad, torch.zeros(2, 3))
        x.grad = None


def test_agg_gradient_weights():
    x = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    agg_loss(x, mask, "seq_mean_token_mean").backward()
    torch.testing.assert_close(x.grad, torch.tensor([[1 / 6, 1 / 6, 1 / 6], [0.5, 0.0, 0.0]]))


def test_agg_rejects_unknown_mode_and_bad_norm():
    with pytest.raises(ValueError, match="token_mean"):
        agg_loss(L, M, "seq-mean-token-mean")
    with pytest.raises(ValueError, match="norm_const"):
        agg_loss(L, M, "seq_sum_norm", norm_const=0)


# ---------------------------------------------------------------- padded == unpadded
def _batch(seed=0, B=3, T=6):
    gen = torch.Generator().manual_seed(seed)
    lengths = [6, 2, 4]
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    logp = (-torch.rand(B, T, generator=gen) * 3).double()
    old = logp + 0.4 * torch.randn(B, T, generator=gen).double()
    ref = logp + 0.3 * torch.randn(B, T, generator=gen).double()
    ent = torch.rand(B, T, generator=gen).double() * 2
    adv = torch.randn(B, T, generator=gen).double()
    return logp, old, ref, ent, adv, mask


def _pad(x, extra, value):
    return torch.cat([x, torch.full((x.shape[0], extra), value, dtype=x.dtype)], dim=1)


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("dual_clip", [None, 3.0])
def test_policy_loss_padded_equals_unpadded(mode, dual_clip):
    logp, old, ref, ent, adv, mask = _batch()
    results = []
    for extra in (0, 5):
        garbage = float("nan") if extra else 0.0
        lp = _pad(logp, extra, garbage).requires_grad_(True)
        en = _pad(ent, extra, float("inf")).requires_grad_(True)
        loss, stats = policy_loss(
            lp,
            _pad(old, extra, -float("inf")),
            _pad(adv, extra, float("nan")),
            _pad(mask, extra, False),
            agg_mode=mode,
            norm_const=8.0,
            ref_logp=_pad(ref, extra, float("nan")),
            beta=0.1,
            entropy=en,
            entropy_coef=0.01,
            dual_clip=dual_clip,
        )
        loss.backward()
        results.append((loss.detach(), stats, lp.grad, en.grad))
    (l0, s0, g0, e0), (l1, s1, g1, e1) = results
    torch.testing.assert_close(l1, l0)
    assert s1.keys() == s0.keys() and all(s1[k] == pytest.approx(s0[k]) for k in s0)
    torch.testing.assert_close(g1[:, :6], g0)
    assert torch.equal(g1[:, 6:], torch.zeros(3, 5, dtype=g1.dtype))  # no NaN leaks from padding
    torch.testing.assert_close(e1[:, :6], e0)
    assert torch.equal(e1[:, 6:], torch.zeros(3, 5, dtype=e1.dtype))


def test_agg_loss_padded_equals_unpadded():
    per_token = torch.randn(3, 6, generator=torch.Generator().manual_seed(3))
    mask = torch.arange(6)[None, :] < torch.tensor([6, 1, 3])[:, None]
    for mode in AGG_MODES:
        a = agg_loss(per_token, mask, mode, norm_const=7)
        b = agg_loss(_pad(per_token, 4, float("nan")), _pad(mask, 4, False), mode, norm_const=7)
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- policy_loss composition
def test_policy_loss_composes_terms():
    logp, old, ref, ent, adv, mask = _batch(seed=4)
    lp = logp.clone().requires_grad_(True)
    loss, stats = policy_loss(
        lp, old, adv, mask, ref_logp=ref, beta=0.05, entropy=ent, entropy_coef=0.01
    )
    pg, pg_stats = ppo_clip_loss(logp, old, adv, mask)
    total = pg + 0.05 * kl_k3(logp, ref) - 0.01 * ent
    torch.testing.assert_close(loss.detach(), agg_loss(total, mask))
    assert stats["pg_loss"] == pytest.approx(agg_loss(pg, mask).item())
    assert stats["kl"] == pytest.approx(kl_k3(logp, ref)[mask].mean().item())
    assert stats["entropy"] == pytest.approx(ent[mask].mean().item())
    assert stats["loss"] == pytest.approx(loss.item())
    assert stats["clip_frac"] == pytest.approx(pg_stats["clip_frac"].item())
    assert all(isinstance(v, float) for v in stats.values())


def test_policy_loss_accepts_callable_and_logs_kl_without_beta():
    logp, old, ref, ent, adv, mask = _batch(seed=5)
    loss, stats = policy_loss(logp, old, adv, mask, loss_fn=ppo_clip_loss, ref_logp=ref)
    torch.testing.assert_close(loss, agg_loss(ppo_clip_loss(logp, old, adv, mask)[0], mask))
    assert "kl" in stats and "entropy" not in stats


def test_policy_loss_errors():
    logp, old, ref, ent, adv, mask = _batch()
    with pytest.raises(ValueError, match="ref_logp"):
        policy_loss(logp, old, adv, mask, beta=0.1)
    with pytest.raises(ValueError, match="entropy"):
        policy_loss(logp, old, adv, mask, entropy_coef=0.1)
    with pytest.raises(KeyError, match="ppo_clip"):
        policy_loss(logp, old, adv, mask, loss_fn="ppo")
