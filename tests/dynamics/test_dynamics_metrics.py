"""Class-split token metrics and pass@k against hand computation and brute force."""

import itertools
import math

import numpy as np
import pytest
import torch

from hicra.dynamics import StepAccumulator, pass_at_k, relative_perplexity, step_metrics
from hicra.dynamics.metrics import class_sums, default_ks


def test_class_split_hand_computed():
    entropy = [[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]]
    logp = [[-0.5, -1.0, -1.5], [-2.0, -2.5, 0.0]]
    response_mask = [[True, True, True], [True, True, False]]
    planning_mask = [[True, False, False], [False, True, True]]  # last one is padding
    m = step_metrics(
        None,
        None,
        entropy=entropy,
        logp=logp,
        response_mask=response_mask,
        planning_mask=planning_mask,
    )
    assert m["tokens/planning"] == 2 and m["tokens/execution"] == 3 and m["tokens/all"] == 5
    assert m["tokens/planning_fraction"] == pytest.approx(0.4)
    assert m["entropy/planning"] == pytest.approx((1 + 5) / 2)
    assert m["entropy/execution"] == pytest.approx((2 + 3 + 4) / 3)
    assert m["nll/planning"] == pytest.approx((0.5 + 2.5) / 2)
    assert m["nll/execution"] == pytest.approx((1.0 + 1.5 + 2.0) / 3)
    assert m["perplexity/execution"] == pytest.approx(math.exp(1.5))
    assert m["length/mean"] == pytest.approx(2.5)


def test_padded_equals_unpadded_and_torch_equals_numpy():
    rng = np.random.default_rng(0)
    lengths = [5, 2, 7]
    rows = [(rng.random(n) * 3, -rng.random(n) * 4, rng.random(n) < 0.3) for n in lengths]
    # unpadded: one response at a time folded into one accumulator
    acc = StepAccumulator(None)
    for ent, lp, plan in rows:
        acc.update(
            entropy=ent[None],
            logp=lp[None],
            planning_mask=plan[None],
            response_mask=np.ones((1, len(ent)), bool),
        )
    unpadded = acc.result()
    T = 9
    ent = torch.full((3, T), float("nan"))
    lp = torch.full((3, T), float("-inf"))
    plan = torch.ones((3, T), dtype=torch.bool)
    mask = torch.zeros((3, T), dtype=torch.bool)
    for i, (e, logp, p) in enumerate(rows):
        n = len(e)
        ent[i, :n], lp[i, :n], plan[i, :n], mask[i, :n] = (
            torch.tensor(e),
            torch.tensor(logp),
            torch.tensor(p),
            True,
        )
    padded = step_metrics(None, None, entropy=ent, logp=lp, response_mask=mask, planning_mask=plan)
    assert padded.keys() == unpadded.keys()
    for k in padded:
        assert padded[k] == pytest.approx(unpadded[k]), k


def test_class_absent_gives_nan_not_zero():
    m = step_metrics(None, None, logp=[[-1.0, -1.0]], planning_mask=[[False, False]])
    assert math.isnan(m["nll/planning"]) and m["nll/execution"] == 1.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="planning_mask has shape"):
        class_sums(logp=np.zeros((2, 3)), planning_mask=np.zeros((2, 4), bool))


def test_relative_perplexity():
    out = relative_perplexity([math.nan, 0.5, 0.5 + math.log(0.8)])
    assert math.isnan(out[0]) and out[1] == 1.0 and out[2] == pytest.approx(0.8)


def _brute_pass_at_k(n, c, k):
    outcomes = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 3, 6, 8])
def test_pass_at_k_equals_brute_force(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_brute_pass_at_k(n, c, k))


def test_pass_at_k_from_groups_and_bad_k():
    m = step_metrics(
        None, None, correct=[1, 0, 0, 0, 1, 1, 0, 0], group_ids=[0, 0, 0, 0, 1, 1, 1, 1]
    )
    assert m["pass@1"] == pytest.approx((0.25 + 0.5) / 2)
    assert m["pass@2"] == pytest.approx((0.5 + _brute_pass_at_k(4, 2, 2)) / 2)
    assert m["pass@4"] == 1.0
    assert default_ks(6) == [1, 2, 4, 6]
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(2, 1, 3)


def test_outcome_metrics():
    m = step_metrics(
        None,
        None,
        rewards=torch.tensor([1.0, 0.0, 0.5, 0.5]),
        truncated=[True, False, False, False],
    )
    assert m["reward/mean"] == 0.5
    assert m["reward/std"] == pytest.approx(np.std([1.0, 0.0, 0.5, 0.5]))
    assert m["length/truncated_frac"] == 0.25
    assert m["responses"] == 4
