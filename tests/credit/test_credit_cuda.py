"""The credit functions on a GPU give the CPU's numbers (skipped without CUDA)."""

import pytest
import torch

from hicra.credit import (
    credit_policy_loss,
    group_advantages,
    informative_group_mask,
    token_advantages,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _inputs(device):
    gen = torch.Generator().manual_seed(0)
    B, T = 16, 40
    rewards = (torch.rand(B, generator=gen) > 0.5).float()
    group_ids = torch.arange(B) // 4
    mask = torch.arange(T)[None, :] < torch.randint(1, T + 1, (B,), generator=gen)[:, None]
    planning = (torch.rand(B, T, generator=gen) > 0.7) & mask
    entropy = torch.rand(B, T, generator=gen) * 3
    logp = -torch.rand(B, T, generator=gen) * 4
    old = logp + 0.1 * torch.randn(B, T, generator=gen)
    ref = logp + 0.1 * torch.randn(B, T, generator=gen)
    tensors = rewards, group_ids, mask, planning, entropy, logp, old, ref
    return [x.to(device) for x in tensors]


@pytest.mark.parametrize(
    "mode", ["grpo", "hicra", "entropy_adv", "top_entropy", "entropy_reg", "kl_cov"]
)
def test_cuda_matches_cpu(mode):
    results = []
    for device in ("cpu", "cuda"):
        rewards, group_ids, mask, planning, entropy, logp, old, ref = _inputs(device)
        adv = group_advantages(rewards, group_ids)
        assert informative_group_mask(rewards, group_ids).device.type == device
        token_adv = token_advantages(mode, adv, mask, planning_mask=planning, entropy=entropy)
        lp = logp.clone().requires_grad_(True)
        loss, stats = credit_policy_loss(
            mode, lp, old, token_adv, mask, ref_logp=ref, beta=0.01, entropy=entropy, dual_clip=3.0
        )
        loss.backward()
        results.append((adv.cpu(), token_adv.cpu(), loss.detach().cpu(), lp.grad.cpu(), stats))
    for cpu, gpu in zip(results[0][:4], results[1][:4]):
        torch.testing.assert_close(gpu, cpu, rtol=1e-5, atol=1e-6)
    assert results[1][4] == pytest.approx(results[0][4], rel=1e-4, abs=1e-6)


def test_clip_cov_on_cuda_is_deterministic_with_a_cuda_generator():
    rewards, group_ids, mask, _, _, logp, old, _ = _inputs("cuda")
    token_adv = token_advantages("clip_cov", group_advantages(rewards, group_ids), mask)
    stats = [
        credit_policy_loss(
            "clip_cov",
            logp,
            old,
            token_adv,
            mask,
            clip_cov_fraction=0.2,
            generator=torch.Generator(device="cuda").manual_seed(3),
        )[1]
        for _ in range(2)
    ]
    assert stats[0] == stats[1]
