"""The example launch script's overrides against verl's real Hydra config, and verl's own loader
of the custom reward function pointed at hicra's."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytest.importorskip("verl")
pytest.importorskip("hydra")

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "verl" / "run_hicra_grpo.sh"


def script_overrides() -> list[str]:
    """The `key=value` lines of the main_ppo call, with shell variables given sample values."""
    import hicra.integrations.verl.reward as reward_module

    values = {
        "TRAIN_FILES": "/data/train.parquet",
        "VAL_FILES": "/data/val.parquet",
        "MODEL": "/models/m",
        "NNODES": "2",
        "NGPUS": "8",
        "ALPHA": "0.2",
        "CREDIT_MODE": "hicra",
        "DETECTOR": "null",
        "LEXICON": "null",
        "EXPERIMENT": "hicra_alpha0.2",
        "REWARD_FILE": reward_module.__file__,
    }
    text = SCRIPT.read_text()
    call = text[text.index("python -m verl.trainer.main_ppo") :]
    overrides = []
    for line in call.splitlines()[1:]:
        match = re.match(r"\s+([+\w.]+=\S+?)\s*\\$", line)
        if match:
            override = re.sub(r'"?\$(\w+)"?', lambda m: values[m.group(1)], match.group(1))
            overrides.append(override.replace("'", ""))
    return overrides


def test_script_overrides_compose_with_verl_config():
    import verl
    from hydra import compose, initialize_config_dir

    from hicra.integrations.verl.settings import HICRASettings

    overrides = script_overrides()
    assert len(overrides) > 40 and "+hicra.alpha=0.2" in overrides
    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        config = compose(config_name="ppo_trainer", overrides=overrides)  # unknown keys would raise
    assert config.trainer.use_v1 and config.trainer.v1.trainer_mode == "sync"
    assert config.actor_rollout_ref.rollout.n == 8 and config.trainer.nnodes == 2
    assert HICRASettings.from_verl_config(config) == HICRASettings(alpha=0.2, detector=None)

    from verl.trainer.ppo.reward import get_custom_reward_fn

    score = get_custom_reward_fn(config)  # verl's own loader, pointed at hicra's compute_score
    result = score(
        data_source="math500",
        solution_str=r"so \boxed{\frac{3}{4}}",
        ground_truth="0.75",
        extra_info={},
    )
    assert result["score"] == 1.0 and result["acc"]
