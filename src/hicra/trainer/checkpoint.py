"""Resumable checkpoints of the built-in trainer.

    RUN/checkpoints/step_000040/
      model.safetensors, config.json, tokenizer files   (save_pretrained: loadable by any HF code)
      (LoRA runs: adapter_model.safetensors + adapter_config.json instead of the model)
      trainer_state.pt   {"step", "optimizer", "scheduler", "rng": {torch, numpy, python}}

A checkpoint written after step s holds the model after s optimizer updates; resuming from it
continues with step s + 1 and reproduces an uninterrupted run exactly on CPU (the problem
stream and the sampling seed of a step depend only on (seed, step); RNG states are restored
too, for anything else that draws from the global generators). Writes go to a temporary
directory renamed into place, so a run killed mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "trainer_state.pt"
_STEP_RE = re.compile(r"^step_(\d+)$")


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:06d}"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_RE.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike) -> tuple[int, Path] | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(
    run_dir, step: int, model, tokenizer, optimizer, scheduler, keep: int = 2
) -> Path:
    """Write the checkpoint of `step` atomically, then prune to the `keep` latest."""
    final = checkpoint_path(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if hasattr(model, "peft_config"):  # LoRA: the adapter only; the embeddings are never adapted,
        model.save_pretrained(
            tmp, save_embedding_layers=False
        )  # and "auto" would look the base up on the Hub
    else:
        model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
    }
    torch.save(state, tmp / STATE_FILE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for _, old in list_checkpoints(run_dir)[: -max(keep, 1)]:
        shutil.rmtree(old)
    return final


def load_trainer_state(path: str | os.PathLike) -> dict:
    """The trainer_state.pt of a checkpoint directory (optimizer, scheduler, RNG, step)."""
    # numpy's RNG state holds an ndarray: not loadable with weights_only=True.
    from hicra.errors import InputError, first_line

    file = Path(path) / STATE_FILE
    try:
        state = torch.load(file, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise InputError(
            f"{file}: cannot load the trainer state ({first_line(err)}); delete that checkpoint "
            "directory to resume from the one before it"
        ) from None
    if not isinstance(state, dict) or not {"step", "optimizer", "scheduler", "rng"} <= set(state):
        raise InputError(
            f"{file}: not a hicra trainer state (expected step, optimizer, scheduler, rng)"
        )
    return state
