"""Where step metrics go besides the run directory: TensorBoard, W&B, a progress bar."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from hicra.trainer.config import TrainConfig

# (metric, label, format) shown in the progress bar's postfix when present.
BAR_FIELDS = (
    ("accuracy", "acc", "{:.2f}"),
    ("task/exec_error_rate", "err", "{:.3f}"),
    ("backtrack/rate", "bt", "{:.2f}"),
    ("entropy/execution", "Hexe", "{:.3f}"),
    ("semantic/entropy", "Hsem", "{:.2f}"),
    ("length/mean", "len", "{:.0f}"),
    ("time/step_s", "s/step", "{:.1f}"),
)


class MetricSinks:
    """Optional TensorBoard (run_dir/tensorboard) and W&B mirrors of the metrics."""

    def __init__(self, cfg: TrainConfig, run_dir: Path) -> None:
        self.tb = self.wandb_run = None
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        if cfg.wandb:
            try:
                import wandb
            except ImportError:
                raise ValueError(
                    "wandb: the wandb package is not installed (pip install wandb)"
                ) from None
            from dataclasses import asdict

            self.wandb_run = wandb.init(
                project=cfg.wandb_project,
                name=run_dir.name,
                dir=str(run_dir),
                config=asdict(cfg),
                resume="allow",
            )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        finite = {
            k: float(v)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and math.isfinite(v)
        }
        if self.tb is not None:
            for k, v in finite.items():
                self.tb.add_scalar(k, v, step)
        if self.wandb_run is not None:
            self.wandb_run.log(finite, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()


class ProgressBar:
    """tqdm bar over the steps with the key numbers of the last logged step."""

    def __init__(self, cfg: TrainConfig, start_step: int, desc: str | None = None) -> None:
        self.bar = None
        if cfg.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=cfg.steps,
                initial=start_step,
                desc=desc or cfg.credit_mode,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
            )

    def update(self, step: int, metrics: dict[str, float]) -> None:
        if self.bar is None:
            return
        shown = {}
        for key, label, fmt in BAR_FIELDS:
            value = metrics.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                shown[label] = fmt.format(value)
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
