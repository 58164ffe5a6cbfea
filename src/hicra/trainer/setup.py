"""Building what a run needs from its config: policy and optimizer (the task comes from
`hicra.tasks.load_task`, the planning detector from `hicra.lexicon.load_detector`)."""

from __future__ import annotations

from pathlib import Path

import torch

from hicra.trainer.config import TrainConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_policy(path: str | Path, device: str, dtype: str = "float32"):
    """(model, tokenizer) of a local Hugging Face checkpoint, on `device`, in eval mode.

    Eval mode for good: the RL update is computed without dropout, so the log-probs of the
    update and of the sampler agree (ratio 1 on the first epoch).
    """
    from hicra.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(path, dtype=DTYPES[dtype])
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def build_optimizer(cfg: TrainConfig, model):
    """The optimizer and a linear-warmup-then-constant LambdaLR scheduler."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.adam_betas)
    else:
        optimizer = torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = cfg.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda n: min(1.0, (n + 1) / warmup) if warmup > 0 else 1.0
    )
    return optimizer, scheduler
