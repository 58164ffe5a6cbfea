"""The built-in single-process trainer: SFT warm start and GRPO/HICRA RL (docs/trainer.md).

    from hicra.trainer.config import TrainConfig
    from hicra.trainer.grpo import train
    train(TrainConfig(model="runs/sft", credit_mode="hicra", run_dir="runs/hicra"))

Nothing is imported here, so `import hicra.trainer` stays light.
"""
