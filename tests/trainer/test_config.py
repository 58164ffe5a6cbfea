import dataclasses

import pytest

from hicra.fielddocs import field_docs
from hicra.trainer.config import TrainConfig, config_from_dict, load_yaml, parse_args, validate


def test_every_field_has_a_docstring():
    docs = field_docs(TrainConfig)
    missing = [f.name for f in dataclasses.fields(TrainConfig) if not docs.get(f.name)]
    assert missing == []


def test_yaml_then_flags_override(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: m\nlr: 3.0e-4\nsamples_per_prompt: 4\ndual_clip: 3\n"
        "task_options: {n_numbers: 3}\nadam_betas: [0.9, 0.95]\ndynamic_sampling: true\n"
    )
    cfg, _ = parse_args(
        ["--config", str(recipe), "--lr", "1e-5", "--no-dynamic-sampling", "--credit-mode", "grpo"]
    )
    assert cfg.model == "m" and cfg.samples_per_prompt == 4 and cfg.dual_clip == 3.0
    assert cfg.lr == 1e-5 and cfg.dynamic_sampling is False and cfg.credit_mode == "grpo"
    assert cfg.task_options == {"n_numbers": 3} and cfg.adam_betas == (0.9, 0.95)
    assert load_yaml(recipe).dynamic_sampling is True


def test_cli_none_and_literals():
    cfg, _ = parse_args(["--model", "m", "--dual-clip", "none", "--loss-agg", "seq_sum_norm"])
    assert cfg.dual_clip is None and cfg.loss_agg == "seq_sum_norm"
    with pytest.raises(SystemExit):
        parse_args(["--loss-agg", "mean"])
    with pytest.raises(SystemExit):
        parse_args(["--steps", "ten"])


def test_yaml_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\nlearning_rate: 1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*learning_rate"):
        load_yaml(bad)
    bad.write_text("steps: 2.5\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*'steps'.*integer"):
        load_yaml(bad)
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ValueError, match=r"bad\.yaml line \d+: not valid YAML"):
        load_yaml(bad)
    with pytest.raises(ValueError, match="resume.*true or false"):
        config_from_dict({"resume": "maybe"})


def test_validate_rejects_unrunnable_configs():
    validate(TrainConfig(model="m"))
    with pytest.raises(ValueError, match="samples_per_prompt"):
        validate(TrainConfig(model="m", samples_per_prompt=1))
    with pytest.raises(ValueError, match="model"):
        validate(TrainConfig())
