"""group_advantages, informative_group_mask, hicra_advantages: hand-computed tiny tensors."""

import math
import statistics

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hicra.credit import (
    group_advantages,
    group_ids_from_keys,
    hicra_advantages,
    informative_group_mask,
)

SQRT_HALF = math.sqrt(0.5)


# ---------------------------------------------------------------- group_advantages
def test_group_scale_two_groups_by_hand():
    # group 0: (1, 0) mean 0.5, unbiased std sqrt(0.5); group 1: (1, 1) constant -> 0
    adv = group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0]), torch.tensor([0, 0, 1, 1]), eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([0.5 / SQRT_HALF, -0.5 / SQRT_HALF, 0.0, 0.0]))


def test_group_scale_group_of_three_uses_unbiased_std():
    # (1, 0, 0): mean 1/3, deviations (2/3, -1/3, -1/3), var = (6/9) / 2 = 1/3
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([4, 4, 4]), eps=0.0)
    std = math.sqrt(1 / 3)
    torch.testing.assert_close(adv, torch.tensor([2 / 3 / std, -1 / 3 / std, -1 / 3 / std]))


def test_eps_is_added_to_std():
    adv = group_advantages(torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), eps=0.5)
    torch.testing.assert_close(
        adv, torch.tensor([0.5 / (SQRT_HALF + 0.5), -0.5 / (SQRT_HALF + 0.5)])
    )


def test_batch_scale_divides_by_std_of_all_rewards():
    # batch (1, 0, 1, 1): mean 0.75, sum of squares 0.75, unbiased var 0.25 -> std 0.5
    adv = group_advantages(
        torch.tensor([1.0, 0.0, 1.0, 1.0]), torch.tensor([0, 0, 1, 1]), "batch", eps=0.0
    )
    torch.testing.assert_close(adv, torch.tensor([1.0, -1.0, 0.0, 0.0]))


def test_none_scale_is_dr_grpo_centring():
    adv = group_advantages(
        torch.tensor([3.0, 1.0, 2.0, 2.0, 5.0]), torch.tensor([0, 0, 1, 1, 1]), "none"
    )
    torch.testing.assert_close(adv, torch.tensor([1.0, -1.0, -1.0, -1.0, 2.0]))


def test_ids_need_not_be_sorted_or_contiguous():
    adv = group_advantages(
        torch.tensor([1.0, 5.0, 0.0, 3.0]), torch.tensor([90, -2, 90, -2]), "none"
    )
    torch.testing.assert_close(adv, torch.tensor([0.5, 1.0, -0.5, -1.0]))


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_all_equal_groups_and_singletons_give_exact_zeros(scale, eps):
    # 0.1 * 3 / 3 != 0.1 in floating point: the zeros must come from the max == min rule
    rewards = torch.tensor([0.1, 0.1, 0.1, 0.7, 1.0, 0.0, 0.3], dtype=torch.float32)
    ids = torch.tensor([0, 0, 0, 1, 2, 2, 3])
    adv = group_advantages(rewards, ids, scale, eps=eps)
    assert not torch.isnan(adv).any()
    for i in (0, 1, 2, 3, 6):  # constant group 0, singletons 1 and 3
        assert adv[i].item() == 0.0
    assert adv[4] > 0 > adv[5]


def test_whole_batch_constant_and_single_response():
    for scale in ("group", "batch", "none"):
        assert torch.equal(
            group_advantages(torch.full((4,), 0.3), torch.tensor([0, 0, 1, 1]), scale, 0.0),
            torch.zeros(4),
        )
        assert torch.equal(
            group_advantages(torch.tensor([2.0]), torch.tensor([0]), scale), torch.zeros(1)
        )


def test_integer_rewards_become_float32_and_float64_is_kept():
    assert group_advantages(torch.tensor([1, 0]), torch.tensor([0, 0])).dtype == torch.float32
    assert (
        group_advantages(torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0, 0])).dtype
        == torch.float64
    )


@pytest.mark.parametrize(
    "rewards, ids, kwargs, error, match",
    [
        (torch.ones(2, 2), torch.zeros(2, dtype=torch.long), {}, ValueError, "1-D"),
        (torch.ones(3), torch.zeros(2, dtype=torch.long), {}, ValueError, "one id per reward"),
        (torch.ones(2), torch.zeros(2), {}, TypeError, "integer"),
        (
            torch.tensor([1.0, float("nan")]),
            torch.zeros(2, dtype=torch.long),
            {},
            ValueError,
            r"rewards\[1\]",
        ),
        (torch.ones(2), torch.zeros(2, dtype=torch.long), {"scale": "std"}, ValueError, "scale"),
        (torch.ones(2), torch.zeros(2, dtype=torch.long), {"eps": -1.0}, ValueError, "eps"),
        ([1.0, 0.0], torch.zeros(2, dtype=torch.long), {}, TypeError, "torch.Tensor"),
        (torch.ones(0), torch.zeros(0, dtype=torch.long), {}, ValueError, "empty"),
    ],
)
def test_group_advantages_rejects_bad_input(rewards, ids, kwargs, error, match):
    with pytest.raises(error, match=match):
        group_advantages(rewards, ids, **kwargs)


def _loop_reference(rewards: list[float], ids: list[int], scale: str, eps: float) -> list[float]:
    """Plain-Python GRPO advantages, one group at a time."""
    groups: dict[int, list[float]] = {}
    for r, g in zip(rewards, ids):
        groups.setdefault(g, []).append(r)
    batch_std = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
    out = []
    for r, g in zip(rewards, ids):
        values = groups[g]
        if len(set(values)) == 1:
            out.append(0.0)
            continue
        centred = r - statistics.fmean(values)
        if scale == "group":
            centred /= statistics.stdev(values) + eps
        elif scale == "batch":
            centred /= batch_std + eps
        out.append(centred)
    return out


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 6), st.sampled_from([0.0, 0.5, 1.0]) | st.floats(-10, 10)),
        min_size=1,
        max_size=40,
    ),
    scale=st.sampled_from(["group", "batch", "none"]),
    eps=st.sampled_from([0.0, 1e-6, 0.1]),
)
def test_vectorised_equals_loop_reference(data, scale, eps):
    ids = [g for g, _ in data]
    rewards = [r for _, r in data]
    got = group_advantages(
        torch.tensor(rewards, dtype=torch.float64), torch.tensor(ids), scale, eps
    )
    want = torch.tensor(_loop_reference(rewards, ids, scale, eps), dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- group_ids_from_keys
def test_group_ids_from_keys_any_hashable():
    want = [0, 0, 1, 0, 1]
    assert group_ids_from_keys(["q7", "q7", "q2", "q7", "q2"]).tolist() == want
    # verl passes uids as a numpy object array; TRL-style ids may come as a tensor
    assert group_ids_from_keys(np.array(["a", "a", "b", "a", "b"], dtype=object)).tolist() == want
    assert group_ids_from_keys(torch.tensor([9, 9, 4, 9, 4])).tolist() == want
    ids = group_ids_from_keys(["x", "y"])
    assert ids.dtype == torch.long
    torch.testing.assert_close(group_advantages(torch.tensor([1.0, 0.0]), ids), torch.zeros(2))


# ---------------------------------------------------------------- informative_group_mask
def test_informative_group_mask_by_hand():
    mask = informative_group_mask(
        torch.tensor([1.0, 0.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0]),
        torch.tensor([0, 0, 1, 1, 2, 3, 3, 3]),
    )
    assert mask.tolist() == [True, True, False, False, False, False, False, False]
    assert mask.dtype == torch.bool


def test_informative_mask_agrees_with_nonzero_advantages():
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.2, 0.3, 0.3])
    ids = torch.tensor([0, 0, 1, 1, 2, 2, 5])
    adv = group_advantages(rewards, ids)
    informative = informative_group_mask(rewards, ids)
    # every response of a non-informative group has exactly zero advantage
    assert torch.equal(adv[~informative], torch.zeros(int((~informative).sum())))


# ---------------------------------------------------------------- hicra_advantages
def test_hicra_sign_behaviour_on_planning_tokens():
    adv = torch.tensor([2.0, -2.0, 0.0])
    planning = torch.tensor([[True, False], [True, False], [True, True]])
    out = hicra_advantages(adv, planning, alpha=0.2)
    # A > 0: (1 + alpha) A = 2.4 ; A < 0: (1 - alpha) A = -1.6 ; execution tokens unchanged
    torch.testing.assert_close(out, torch.tensor([[2.4, 2.0], [-1.6, -2.0], [0.0, 0.0]]))


def test_hicra_token_level_input():
    adv = torch.tensor([[1.0, -1.0, 0.5], [-0.5, 3.0, -3.0]])
    planning = torch.tensor([[True, True, False], [False, True, True]])
    out = hicra_advantages(adv, planning, alpha=0.5)
    torch.testing.assert_close(out, torch.tensor([[1.5, -0.5, 0.5], [-0.5, 4.5, -1.5]]))


def test_hicra_alpha_zero_is_exactly_grpo():
    gen = torch.Generator().manual_seed(0)
    adv = torch.randn(5, generator=gen)
    planning = torch.rand(5, 7, generator=gen) > 0.5
    assert torch.equal(hicra_advantages(adv, planning, alpha=0.0), adv[:, None].expand(5, 7))
    adv_bt = torch.randn(5, 7, generator=gen)
    assert torch.equal(hicra_advantages(adv_bt, planning, alpha=0.0), adv_bt)


def test_hicra_never_flips_sign_and_keeps_gradient():
    adv = torch.tensor([1.0, -1.0], requires_grad=True)
    out = hicra_advantages(adv, torch.ones(2, 3, dtype=torch.bool), alpha=1.0)
    assert torch.equal(out.detach(), torch.tensor([[2.0] * 3, [0.0] * 3]))
    out.sum().backward()
    torch.testing.assert_close(adv.grad, torch.tensor([6.0, 0.0]))


def test_hicra_negative_alpha_is_reverse_ablation():
    out = hicra_advantages(
        torch.tensor([1.0, -1.0]), torch.ones(2, 1, dtype=torch.bool), alpha=-0.2
    )
    torch.testing.assert_close(out, torch.tensor([[0.8], [-1.2]]))


@pytest.mark.parametrize(
    "adv, mask, alpha, error, match",
    [
        (torch.ones(2), torch.ones(2, 3), 0.2, TypeError, "bool"),
        (torch.ones(2), torch.ones(3, dtype=torch.bool), 0.2, ValueError, "2-D"),
        (torch.ones(3), torch.ones(2, 3, dtype=torch.bool), 0.2, ValueError, "B=2"),
        (torch.ones(2, 4), torch.ones(2, 3, dtype=torch.bool), 0.2, ValueError, "shape"),
        (
            torch.ones(2, dtype=torch.long),
            torch.ones(2, 3, dtype=torch.bool),
            0.2,
            TypeError,
            "floating",
        ),
        (torch.ones(2), torch.ones(2, 3, dtype=torch.bool), 1.5, ValueError, "alpha"),
    ],
)
def test_hicra_rejects_bad_input(adv, mask, alpha, error, match):
    with pytest.raises(error, match=match):
        hicra_advantages(adv, mask, alpha)
