"""The shipped recipes parse: every key is a real HICRAConfig / GRPOConfig / ModelConfig / CLI field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("trl")

RECIPES = Path(__file__).resolve().parents[3] / "recipes" / "trl"
TRAIN_RECIPES = sorted(RECIPES.glob("*.yaml"))
ACCELERATE_CONFIGS = sorted((RECIPES / "accelerate").glob("*.yaml"))


def test_recipes_are_shipped():
    names = {p.name for p in TRAIN_RECIPES} | {p.name for p in ACCELERATE_CONFIGS}
    assert {"zero2.yaml", "zero3.yaml", "fsdp.yaml", "ddp.yaml"} <= names
    assert any("vllm_server" in n for n in names) and any("vl" in n.split("_")[0] for n in names)


@pytest.mark.parametrize("recipe", TRAIN_RECIPES, ids=lambda p: p.name)
def test_training_recipe_parses(recipe, tmp_path):
    from hicra.integrations.trl.cli import parse

    script_args, training_args, model_args = parse(
        [
            "--recipe",
            str(recipe),
            "--data",
            "train.parquet",
            "--output_dir",
            str(tmp_path),
            "--bf16",
            "false",
            "--report_to",
            "none",
        ]
    )
    raw = yaml.safe_load(recipe.read_text())
    assert model_args.model_name_or_path == raw["model"]
    assert training_args.credit_mode == raw["credit_mode"]
    for key in (
        "alpha",
        "loss_type",
        "num_generations",
        "max_completion_length",
        "use_vllm",
        "vllm_mode",
    ):
        if key in raw:
            assert getattr(training_args, key) == raw[key], key
    generation_batch = (
        training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    )
    assert generation_batch % training_args.num_generations == 0


@pytest.mark.parametrize("config", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_config_loads(config):
    from accelerate.commands.config.config_args import ClusterConfig

    cluster = ClusterConfig.from_yaml_file(str(config))
    assert cluster.num_processes >= 1 and cluster.distributed_type is not None
