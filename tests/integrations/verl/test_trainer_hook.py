"""The HICRA trainer hook inside verl's real v1 `_compute_advantage`, on a real TransferQueue.

Starts a local Ray instance and TransferQueue (about 40 s on 2 CPUs), so it is marked slow.
Needs verl 0.9.x with its `TransferQueue` dependency; skips cleanly without them.
"""

from __future__ import annotations

import pytest

pytest.importorskip("verl")
pytest.importorskip("transfer_queue")
ray = pytest.importorskip("ray")

import os  # noqa: E402

import torch  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TEXTS = [
    "let me verify 2 + 2 = 4 so the answer is 4",
    "2 + 2 = 5 but wait 2 + 2 = 4",
    "the answer is 4",
    "2 + 2 = 3",
]
SCORES = [1.0, 0.0, 1.0, 0.0]
PLANNING_WORDS = {0: [0, 1, 2, 8], 1: [5, 6]}  # "let me verify", "so"; "but wait"


@pytest.fixture(scope="module")
def transfer_queue():
    import transfer_queue as tq
    from omegaconf import OmegaConf

    # The plug-in variable as a user exports it before launching verl: Ray workers of the local
    # instance inherit it (test_plugin_reaches_ray_workers).
    saved = os.environ.get("VERL_USE_EXTERNAL_MODULES")
    os.environ["VERL_USE_EXTERNAL_MODULES"] = "hicra.integrations.verl.plugin"
    src = os.path.dirname(os.path.dirname(os.path.dirname(__import__("hicra").__file__)))
    saved_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = src + os.pathsep + (saved_path or "")
    # Logical CPUs: TransferQueue's controller and storage actors each ask for one.
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield tq
    tq.close()
    ray.shutdown()
    for name, value in (("VERL_USE_EXTERNAL_MODULES", saved), ("PYTHONPATH", saved_path)):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def tokenizer():
    from hicra.models import build_tokenizer

    return build_tokenizer(TEXTS)


def put_batch(tq, tokenizer, partition):
    """Store one rollout batch the way verl's agent loop does (nested per-sample fields)."""
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    samples, keys = [], []
    generator = torch.Generator().manual_seed(0)
    for i, (text, score) in enumerate(zip(TEXTS, SCORES)):
        ids = torch.tensor(tokenizer(text, add_special_tokens=False).input_ids)
        rm_scores = torch.zeros(len(ids))
        rm_scores[-1] = score  # verl puts the outcome reward on the last response token
        samples.append(
            {
                "uid": f"q{i // 2}",
                "responses": ids,
                "response_mask": torch.ones_like(ids),
                "rm_scores": rm_scores,
                "old_log_probs": -torch.rand(len(ids), generator=generator),
                "entropy": torch.rand(len(ids), generator=generator),
            }
        )
        keys.append(f"q{i // 2}_{i}_0")
    return tq.kv_batch_put(
        keys=keys, partition_id=partition, fields=list_of_dict_to_tensordict(samples)
    )


def advantages_after(tq, trainer_cls, tokenizer, partition, hicra_section):
    from omegaconf import OmegaConf

    meta = put_batch(tq, tokenizer, partition)
    config = {
        "algorithm": {
            "use_kl_in_reward": False,
            "adv_estimator": "grpo",
            "gamma": 1.0,
            "lam": 1.0,
            "norm_adv_by_std_in_grpo": True,
            "rollout_correction": None,
        },
        "actor_rollout_ref": {"rollout": {"n": 2}},
    }
    if hicra_section is not None:
        config["hicra"] = hicra_section
    trainer = object.__new__(trainer_cls)  # only _compute_advantage runs: no workers, no GPUs
    trainer.config, trainer.tokenizer = OmegaConf.create(config), tokenizer
    metrics = {}
    trainer._compute_advantage(meta, metrics)
    stored = tq.kv_batch_get(keys=meta.keys, partition_id=partition, select_fields=["advantages"])
    return stored["advantages"].to_padded_tensor(0.0), metrics  # (B, T)


def test_hook_rewrites_verl_grpo_advantages(transfer_queue, tokenizer):
    from verl.trainer.ppo.v1 import get_trainer_cls
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    from hicra.integrations.verl.trainer import HICRAAdvantageMixin, install

    installed = install()
    assert set(installed) >= {"sync", "colocate_async", "separate_async"}
    hicra_cls = get_trainer_cls("sync")  # what verl's TaskRunner will construct
    assert issubclass(hicra_cls, HICRAAdvantageMixin) and issubclass(hicra_cls, PPOTrainerSync)
    assert install()["sync"] is hicra_cls  # idempotent

    verl_adv, _ = advantages_after(transfer_queue, PPOTrainerSync, tokenizer, "verl", None)
    hicra_adv, metrics = advantages_after(
        transfer_queue, hicra_cls, tokenizer, "hicra", {"alpha": 0.2}
    )
    untouched, no_metrics = advantages_after(transfer_queue, hicra_cls, tokenizer, "off", None)
    alpha0, _ = advantages_after(transfer_queue, hicra_cls, tokenizer, "zero", {"alpha": 0.0})

    assert torch.equal(untouched, verl_adv) and not no_metrics  # no `hicra` section: verl exactly
    assert torch.equal(alpha0, verl_adv)
    assert verl_adv[0, 0] > 0 > verl_adv[1, 0]  # GRPO signs: correct vs wrong in group q0
    planning = torch.zeros_like(verl_adv, dtype=torch.bool)
    for row, words in PLANNING_WORDS.items():
        planning[row, words] = True
    assert torch.allclose(hicra_adv[planning], verl_adv[planning] + 0.2 * verl_adv[planning].abs())
    assert torch.equal(hicra_adv[~planning], verl_adv[~planning])
    assert metrics["hicra/tokens/planning"] == 6
    assert metrics["hicra/entropy/planning"] > 0


def test_plugin_module_installs_through_verl_external_modules_variable():
    """verl imports VERL_USE_EXTERNAL_MODULES at `import verl`: the registry then holds HICRA."""
    import os
    import subprocess
    import sys

    src = os.path.dirname(os.path.dirname(os.path.dirname(__import__("hicra").__file__)))
    env = {
        **os.environ,
        "VERL_USE_EXTERNAL_MODULES": "hicra.integrations.verl.plugin",
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    code = (
        "from verl.trainer.ppo.v1 import get_trainer_cls; "
        "print(*(get_trainer_cls(m).__name__ for m in ('sync', 'colocate_async', 'separate_async')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [
        "HICRAPPOTrainerSync",
        "HICRAPPOTrainerColocateAsync",
        "HICRAPPOTrainerSeparateAsync",
    ]


def test_plugin_reaches_ray_workers(transfer_queue):
    """verl looks the trainer class up inside its TaskRunner Ray actor: there, too, it is HICRA's."""

    @ray.remote
    def trainer_class_name():
        from verl.trainer.ppo.v1 import get_trainer_cls

        return get_trainer_cls("sync").__name__

    assert ray.get(trainer_class_name.remote()) == "HICRAPPOTrainerSync"
