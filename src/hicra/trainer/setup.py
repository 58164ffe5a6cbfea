"""Building what a run needs from its config: policy and optimizer (the task comes from
`hicra.tasks.load_task`, the planning detector from `hicra.lexicon.load_detector`)."""

from __future__ import annotations

from pathlib import Path

import torch

from hicra.errors import InputError, first_line
from hicra.trainer.config import TrainConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_policy(path: str | Path, device: str, dtype: str = "float32"):
    """(model, tokenizer) of a checkpoint directory or model alias, on `device`, in eval mode
    (a bad checkpoint is an InputError naming it: `hicra.models.checks`).

    Eval mode for good: the RL update is computed without dropout, so the log-probs of the
    update and of the sampler agree (ratio 1 on the first epoch).
    """
    from hicra.models import load_model_and_tokenizer

    option = "checkpoint" if Path(path).parent.name == "checkpoints" else "--model"
    model, tokenizer = load_model_and_tokenizer(path, dtype=DTYPES[dtype], option=option)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def load_lora_policy(cfg: TrainConfig, checkpoint: Path | None):
    """(peft model, tokenizer): the base `cfg.model` with trainable LoRA adapters, fresh or
    (resuming) those saved in `checkpoint`. The adapter's config names `cfg.model` as its
    base, so `hicra.models.load_model_and_tokenizer(checkpoint)` rebuilds the merged model."""
    from peft import LoraConfig, PeftModel, get_peft_model

    base, tokenizer = load_policy(cfg.model, cfg.device, cfg.dtype)
    if checkpoint is not None:
        model = PeftModel.from_pretrained(base, str(checkpoint), is_trainable=True)
    else:
        targets = cfg.lora_target_modules
        lora = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
            target_modules=targets
            if targets == "all-linear"
            else [t.strip() for t in targets.split(",")],
        )
        try:
            model = get_peft_model(base, lora)
        except ValueError as err:  # peft's NoMatchingPeftModuleError: no module of that name
            raise InputError(
                f"lora_target_modules (--lora-target-modules) {targets!r}: {first_line(err)}"
            ) from None
    model.peft_config["default"].base_model_name_or_path = portable_model_name(cfg.model)
    return model.eval(), tokenizer


def portable_model_name(spec: str) -> str:
    """An existing local path made absolute (a checkpoint may be read from another directory);
    an alias or Hub id as it is."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def build_optimizer(cfg: TrainConfig, model):
    """The optimizer and a linear-warmup-then-constant LambdaLR scheduler."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(
            params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay
        )
    elif cfg.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.adam_betas)
    else:
        optimizer = torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = cfg.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda n: min(1.0, (n + 1) / warmup) if warmup > 0 else 1.0
    )
    return optimizer, scheduler
