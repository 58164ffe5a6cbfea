"""The verl hook's step on a batch: planning tokens get A + alpha*|A|, nothing else moves.

The verl-free tests run everywhere; those on verl's own DataProto and GRPO estimator skip when
verl is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hicra.integrations.verl.credit import apply_credit_to_batch
from hicra.integrations.verl.settings import HICRASettings
from hicra.lexicon import StrategicLexicon

TEXTS = [
    "let me verify 2 + 2 = 4 so the answer is 4",
    "2 + 2 = 5 but wait 2 + 2 = 4",
    "the answer is 4",
    "2 + 2 = 3",
]


@pytest.fixture(scope="module")
def tokenizer():
    from hicra.models import build_tokenizer

    return build_tokenizer(TEXTS)


def right_padded(tokenizer, texts):
    rows = [tokenizer(text, add_special_tokens=False).input_ids for text in texts]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask  # (B, T), (B, T)


def expected_planning(tokenizer, texts):
    """Planning tokens by hand: whole words of the phrases used above."""
    words = {0: {0, 1, 2, 8}, 1: {5, 6}, 2: set(), 3: set()}  # let me verify / so ; but wait
    ids, mask = right_padded(tokenizer, texts)
    planning = torch.zeros_like(mask, dtype=torch.bool)
    for row, positions in words.items():
        for position in positions:
            planning[row, position] = True
    return planning


def batch_of(tokenizer, advantages_per_response):
    ids, mask = right_padded(tokenizer, TEXTS)
    advantages = torch.tensor(advantages_per_response)[:, None] * mask  # (B, T), as verl's GRPO
    entropy = torch.rand(mask.shape, generator=torch.Generator().manual_seed(0)) * mask
    old_log_probs = -torch.rand(mask.shape, generator=torch.Generator().manual_seed(1)) * mask
    return {
        "responses": ids,
        "response_mask": mask,
        "advantages": advantages.float(),
        "entropy": entropy,
        "old_log_probs": old_log_probs,
    }


def test_hicra_on_a_plain_batch(tokenizer):
    batch = batch_of(tokenizer, [1.0, -1.0, 0.5, -0.5])
    before = batch["advantages"].clone()
    metrics = apply_credit_to_batch(
        batch, tokenizer, StrategicLexicon.default(), HICRASettings(alpha=0.2)
    )
    planning = expected_planning(tokenizer, TEXTS)
    after = batch["advantages"]
    assert torch.allclose(after[planning], before[planning] + 0.2 * before[planning].abs())
    assert torch.equal(after[~planning], before[~planning])
    assert torch.equal(
        after[batch["response_mask"] == 0], torch.zeros_like(after[batch["response_mask"] == 0])
    )
    assert metrics["hicra/tokens/planning"] == planning.sum().item()
    for name in (
        "hicra/entropy/planning",
        "hicra/entropy/execution",
        "hicra/nll/planning",
        "hicra/semantic/entropy",
        "hicra/tokens/planning_fraction",
        "hicra/advantage_abs_change",
    ):
        assert np.isfinite(metrics[name]), name


def test_alpha_zero_and_grpo_mode_leave_advantages_untouched(tokenizer):
    for settings in (
        HICRASettings(alpha=0.0),
        HICRASettings(credit_mode="grpo", log_metrics=False),
    ):
        batch = batch_of(tokenizer, [1.0, -1.0, 0.5, -0.5])
        before = batch["advantages"].clone()
        metrics = apply_credit_to_batch(batch, tokenizer, StrategicLexicon.default(), settings)
        assert torch.equal(batch["advantages"], before)
        assert metrics["hicra/advantage_abs_change"] == 0.0


def test_settings_from_a_verl_style_config():
    assert HICRASettings.from_verl_config({"algorithm": {}}) is None
    settings = HICRASettings.from_verl_config({"hicra": {"alpha": 0.3, "log_metrics": False}})
    assert settings == HICRASettings(alpha=0.3, log_metrics=False)
    with pytest.raises(ValueError, match="unknown key"):
        HICRASettings.from_verl_config({"hicra": {"alfa": 0.3}})
    with pytest.raises(ValueError, match="policy_loss.loss_mode=clip_cov"):
        HICRASettings.from_verl_config({"hicra": {"credit_mode": "clip_cov"}})
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        HICRASettings(alpha=2.0).check()


def test_shape_mismatch_is_named(tokenizer):
    batch = batch_of(tokenizer, [1.0, -1.0, 0.5, -0.5])
    batch["advantages"] = batch["advantages"][:, :-1]
    with pytest.raises(ValueError, match="must share"):
        apply_credit_to_batch(batch, tokenizer, StrategicLexicon.default(), HICRASettings())


# ---------------------------------------------------------------- against verl itself
def test_on_verl_dataproto_after_verl_grpo(tokenizer):
    pytest.importorskip("verl")
    from verl.protocol import DataProto
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    ids, mask = right_padded(tokenizer, TEXTS)
    scores = torch.tensor([1.0, 0.0, 1.0, 0.0])
    token_level_rewards = torch.zeros(mask.shape)
    lengths = mask.sum(1)
    token_level_rewards[torch.arange(4), lengths - 1] = (
        scores  # verl puts the score on the last token
    )
    uid = np.array(["q0", "q0", "q1", "q1"], dtype=object)
    advantages, _ = compute_grpo_outcome_advantage(token_level_rewards, mask, uid)  # verl's GRPO
    data = DataProto.from_dict(
        tensors={
            "responses": ids,
            "response_mask": mask,
            "advantages": advantages,
            "entropys": torch.rand(mask.shape) * mask,
        },
        non_tensors={"uid": uid},
    )
    metrics = apply_credit_to_batch(
        data.batch, tokenizer, StrategicLexicon.default(), HICRASettings(alpha=0.2)
    )
    planning = expected_planning(tokenizer, TEXTS)
    after = data.batch["advantages"]
    assert torch.allclose(after[planning], advantages[planning] + 0.2 * advantages[planning].abs())
    assert torch.equal(after[~planning], advantages[~planning])
    assert "hicra/entropy/planning" in metrics  # verl's legacy name `entropys` is read too


def test_settings_share_the_credit_rule_and_keep_the_old_key():
    settings = HICRASettings.from_verl_config(
        {"hicra": {"credit_mode": "top_entropy", "credit_options": {"rho": 0.1}}}
    )
    assert settings.advantage_params() == {"rho": 0.1}
    assert HICRASettings(alpha=-0.3).advantage_params() == {"alpha": -0.3}
    with pytest.raises(
        ValueError, match=r"hicra.credit_options: credit mode 'top_entropy' does not take \['a'\]"
    ):
        HICRASettings.from_verl_config(
            {"hicra": {"credit_mode": "top_entropy", "credit_options": {"a": 1}}}
        )
    with pytest.warns(
        DeprecationWarning, match="hicra.lexicon_path is deprecated; use hicra.detector"
    ):
        old = HICRASettings.from_verl_config({"hicra": {"lexicon_path": "my.txt"}})
    assert old.detector == "my.txt" and old.lexicon_path is None
