"""HICRA inside TRL: ``HICRATrainer(GRPOTrainer)`` and ``HICRAConfig(GRPOConfig)``.

    from hicra.integrations.trl import HICRAConfig, HICRATrainer

    args = HICRAConfig(output_dir="out", credit_mode="hicra", alpha=0.2)
    trainer = HICRATrainer(model="Qwen/Qwen2.5-Math-1.5B", reward_funcs=math_reward_func,
                           args=args, train_dataset=dataset)
    trainer.train()

Tested against TRL 1.16.x (``pip install 'hicra[trl]'``); see docs/trl.md. The names load lazily so
``import hicra.integrations.trl`` alone does not import TRL.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HICRAConfig", "HICRATrainer", "math_reward_func", "train_trl"]

_LAZY = {
    "HICRAConfig": "hicra.integrations.trl.config",
    "HICRATrainer": "hicra.integrations.trl.trainer",
    "math_reward_func": "hicra.integrations.trl.rewards",
    "train_trl": "hicra.integrations.trl.cli",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'hicra.integrations.trl' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
