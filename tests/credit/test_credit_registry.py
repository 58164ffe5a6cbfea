"""Registry: name resolution, credit modes, the shared per-step path, doctests."""

import dataclasses
import doctest

import pytest
import torch

import hicra.credit as credit
from hicra.credit import (
    CreditMode,
    agg_loss,
    credit_mode_names,
    credit_policy_loss,
    entropy_advantages,
    get_advantage_transform,
    get_policy_loss,
    hicra_advantages,
    policy_loss,
    register_advantage_transform,
    register_credit_mode,
    register_policy_loss,
    registry,
    resolve_credit_mode,
    token_advantages,
    top_entropy_advantages,
)

MODES = ["grpo", "hicra", "entropy_adv", "top_entropy", "entropy_reg", "clip_cov", "kl_cov"]


def _batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    B, T = 4, 7
    mask = torch.arange(T)[None, :] < torch.tensor([7, 3, 5, 6])[:, None]
    planning = (torch.rand(B, T, generator=gen) > 0.6) & mask
    entropy = torch.rand(B, T, generator=gen) * 2
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    logp = -torch.rand(B, T, generator=gen) * 3
    old = logp + 0.2 * torch.randn(B, T, generator=gen)
    return adv, mask, planning, entropy, logp, old


# ---------------------------------------------------------------- resolution
def test_every_mode_resolves_to_registered_functions():
    assert set(MODES) <= set(credit_mode_names())
    for name in MODES:
        mode = resolve_credit_mode(name)
        assert mode.name == name
        assert callable(get_advantage_transform(mode.advantage_transform))
        assert callable(get_policy_loss(mode.policy_loss))
    assert resolve_credit_mode("hicra").requires == frozenset({"planning_mask"})
    assert resolve_credit_mode("hicra").advantage_params["alpha"] == 0.2
    assert (
        resolve_credit_mode("entropy_reg").entropy_coef > 0
        and resolve_credit_mode("entropy_reg").entropy_needs_grad
    )
    assert resolve_credit_mode("kl_cov").policy_loss == "kl_cov"
    mode = resolve_credit_mode("clip_cov")
    assert resolve_credit_mode(mode) is mode


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="known: clip_cov, entropy_adv, entropy_reg, grpo, hicra"):
        resolve_credit_mode("hicar")
    with pytest.raises(KeyError, match="known: .*hicra.*identity"):
        get_advantage_transform("nope")
    with pytest.raises(KeyError, match="known: clip_cov, kl_cov, ppo_clip"):
        get_policy_loss("vanilla")


def test_credit_mode_is_frozen_and_its_defaults_immutable():
    mode = resolve_credit_mode("hicra")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mode.policy_loss = "kl_cov"
    with pytest.raises(TypeError):
        mode.advantage_params["alpha"] = 0.5
    with pytest.raises(ValueError, match="unknown requires"):
        CreditMode("x", "identity", "ppo_clip", frozenset({"logits"}))


@pytest.fixture
def scratch_registry():
    saved = [
        dict(t)
        for t in (registry._ADVANTAGE_TRANSFORMS, registry._POLICY_LOSSES, registry._CREDIT_MODES)
    ]
    yield
    for table, old in zip(
        (registry._ADVANTAGE_TRANSFORMS, registry._POLICY_LOSSES, registry._CREDIT_MODES), saved
    ):
        table.clear()
        table.update(old)


def test_user_registration_round_trip(scratch_registry):
    @register_advantage_transform("double")
    def double(advantages, response_mask, *, planning_mask=None, entropy=None, factor=2.0):
        return advantages * factor

    @register_policy_loss("reinforce")
    def reinforce(logp, old_logp, advantages, response_mask, eps_low=0.2):
        return -advantages * logp, {}

    register_credit_mode(
        CreditMode("double_reinforce", "double", "reinforce", advantage_params={"factor": 3.0})
    )
    adv, mask, *_, logp, old = _batch()
    out = token_advantages("double_reinforce", adv, mask)
    torch.testing.assert_close(out, torch.where(mask, 3.0 * adv[:, None], 0.0))
    loss, stats = credit_policy_loss(
        "double_reinforce", logp, old, out, mask, dual_clip=3.0
    )  # not declared: dropped
    torch.testing.assert_close(loss, agg_loss(-out * logp, mask))
    with pytest.raises(ValueError, match="already registered"):
        register_advantage_transform("double")(lambda *a, **k: None)
    with pytest.raises(KeyError, match="unknown policy loss"):
        register_credit_mode(CreditMode("bad", "double", "missing"))


# ---------------------------------------------------------------- token_advantages
def test_grpo_mode_broadcasts_and_zeroes_padding():
    adv, mask, *_ = _batch()
    out = token_advantages("grpo", adv, mask)
    assert torch.equal(out, torch.where(mask, adv[:, None].expand_as(mask), torch.zeros(())))


def test_hicra_mode_alpha_zero_is_exactly_grpo():
    adv, mask, planning, *_ = _batch()
    assert torch.equal(
        token_advantages("hicra", adv, mask, planning_mask=planning, alpha=0.0),
        token_advantages("grpo", adv, mask),
    )


def test_hicra_mode_matches_function_and_overrides():
    adv, mask, planning, *_ = _batch()
    out = token_advantages("hicra", adv, mask, planning_mask=planning)
    torch.testing.assert_close(out, torch.where(mask, hicra_advantages(adv, planning, 0.2), 0.0))
    out = token_advantages("hicra", adv, mask, planning_mask=planning, alpha=0.5)
    torch.testing.assert_close(out, torch.where(mask, hicra_advantages(adv, planning, 0.5), 0.0))


def test_entropy_modes_match_functions():
    adv, mask, _, entropy, *_ = _batch()
    torch.testing.assert_close(
        token_advantages("entropy_adv", adv, mask, entropy=entropy),
        entropy_advantages(adv, entropy, mask, 0.4, 2.0),
    )
    torch.testing.assert_close(
        token_advantages("top_entropy", adv, mask, entropy=entropy, rho=0.5),
        top_entropy_advantages(adv, entropy, mask, 0.5),
    )


def test_missing_inputs_and_unknown_params_are_clear_errors():
    adv, mask, planning, entropy, *_ = _batch()
    with pytest.raises(ValueError, match="'hicra' needs planning_mask"):
        token_advantages("hicra", adv, mask)
    with pytest.raises(ValueError, match="'top_entropy' needs entropy"):
        token_advantages("top_entropy", adv, mask)
    with pytest.raises(TypeError, match="does not take \\['beta'\\]; it takes alpha"):
        token_advantages("hicra", adv, mask, planning_mask=planning, beta=1.0)
    with pytest.raises(TypeError, match="it takes no parameters"):
        token_advantages("grpo", adv, mask, alpha=0.2)
    # entropy_reg needs entropy for its loss only; its transform is the identity
    assert torch.equal(
        token_advantages("entropy_reg", adv, mask), token_advantages("grpo", adv, mask)
    )


# ---------------------------------------------------------------- credit_policy_loss
def test_grpo_loss_equals_policy_loss():
    adv, mask, _, _, logp, old = _batch()
    token_adv = token_advantages("grpo", adv, mask)
    got, got_stats = credit_policy_loss(
        "grpo", logp, old, token_adv, mask, eps_low=0.1, dual_clip=3.0
    )
    want, want_stats = policy_loss(logp, old, token_adv, mask, eps_low=0.1, dual_clip=3.0)
    torch.testing.assert_close(got, want)
    assert got_stats == want_stats


def test_hicra_gradient_is_scaled_on_planning_tokens():
    adv, mask, planning, _, logp, _ = _batch()
    grads = {}
    for name in ("grpo", "hicra"):
        lp = logp.clone().requires_grad_(True)
        token_adv = token_advantages(name, adv, mask, planning_mask=planning)
        credit_policy_loss(name, lp, None, token_adv, mask)[0].backward()
        grads[name] = lp.grad
    scale = torch.where(planning, 1 + 0.2 * torch.sign(adv)[:, None], 1.0)
    torch.testing.assert_close(grads["hicra"], grads["grpo"] * scale)


def test_entropy_reg_adds_the_bonus_with_gradient():
    adv, mask, _, entropy, logp, old = _batch()
    token_adv = token_advantages("entropy_reg", adv, mask, entropy=entropy)
    H = entropy.clone().requires_grad_(True)
    loss, stats = credit_policy_loss("entropy_reg", logp, old, token_adv, mask, entropy=H)
    base, _ = credit_policy_loss("grpo", logp, old, token_adv, mask)
    torch.testing.assert_close(loss.detach(), base - 1e-3 * entropy[mask].mean())
    loss.backward()
    torch.testing.assert_close(H.grad, torch.where(mask, -1e-3 / mask.sum(), 0.0))
    with pytest.raises(ValueError, match="needs entropy"):
        credit_policy_loss("entropy_reg", logp, old, token_adv, mask)


def test_cov_modes_take_their_defaults_and_common_settings():
    adv, mask, _, _, logp, old = _batch()
    token_adv = token_advantages("kl_cov", adv, mask)
    loss, stats = credit_policy_loss(
        "kl_cov", logp, old, token_adv, mask, eps_low=0.1, dual_clip=3.0
    )
    assert "kl_cov_frac" in stats and "clip_frac" not in stats
    with pytest.raises(ValueError, match="needs old_logp"):
        credit_policy_loss("kl_cov", logp, None, token_adv, mask)
    runs = [
        credit_policy_loss(
            "clip_cov",
            logp,
            old,
            token_adv,
            mask,
            clip_cov_fraction=0.3,
            generator=torch.Generator().manual_seed(0),
        )[1]
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and "cov_detach_frac" in runs[0]
    with pytest.raises(TypeError, match="does not take \\['alpha'\\]"):
        credit_policy_loss("clip_cov", logp, old, token_adv, mask, alpha=0.2)


# ---------------------------------------------------------------- docstrings run
@pytest.mark.parametrize("module", ["advantages", "losses", "baselines", "registry"])
def test_docstring_examples(module):
    result = doctest.testmod(getattr(credit, module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
