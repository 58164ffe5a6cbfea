"""CreditSettings.resolve: the one rule of which credit options apply, for every trainer."""

import math

import pytest

from hicra.credit import CreditSettings, token_advantages


def test_alpha_applies_to_hicra_only():
    assert CreditSettings("hicra", alpha=0.5).resolve().advantage_params == {"alpha": 0.5}
    for mode in ("grpo", "entropy_reg", "clip_cov", "kl_cov"):
        assert CreditSettings(mode, alpha=0.5).resolve().advantage_params == {}
    assert CreditSettings(
        "top_entropy", alpha=0.5, options={"rho": 0.3}
    ).resolve().advantage_params == {"rho": 0.3}


def test_reverse_hicra_is_allowed_and_gives_less_credit():
    import torch

    resolved = CreditSettings("hicra", alpha=-0.5).resolve()
    mask = torch.tensor([[True, True]])
    out = token_advantages(
        resolved.mode,
        torch.tensor([1.0]),
        mask,
        planning_mask=torch.tensor([[True, False]]),
        **resolved.advantage_params,
    )
    assert out.tolist() == [[0.5, 1.0]]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (CreditSettings("nope"), "credit_mode: unknown credit mode 'nope'"),
        (CreditSettings(alpha=1.5), "alpha must lie in [-1, 1], got 1.5"),
        (CreditSettings(alpha=math.inf), "alpha must lie in [-1, 1], got inf"),
        (CreditSettings(alpha=True), "alpha must lie in [-1, 1], got True"),
        (CreditSettings(alpha="0.2"), "alpha must lie in [-1, 1], got '0.2'"),
        (CreditSettings(options=[1]), "credit_options: expected a mapping"),
        (
            CreditSettings(options={"alpha": 0.3}),
            "credit_options: set HICRA's alpha with the `alpha` option",
        ),
        (
            CreditSettings("entropy_adv", options={"rho": 0.3}),
            "credit_options: credit mode 'entropy_adv' does not take ['rho']; it takes a, k",
        ),
        (
            CreditSettings("grpo", options={"rho": 0.3}),
            "credit_options: credit mode 'grpo' does not take ['rho']; it takes no options",
        ),
    ],
)
def test_bad_settings_name_the_option(settings, message):
    with pytest.raises(ValueError) as info:
        settings.resolve()
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_the_detector_is_carried_not_resolved():
    # credit/ imports only torch: the spec stays a string for hicra.lexicon.load_detector
    assert CreditSettings(detector="no/such/file.txt").resolve().mode.name == "hicra"
