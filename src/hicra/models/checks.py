"""Checks of what a command is about to load or run on, before it loads it: a checkpoint
directory, a torch device, a parameter dtype on that device.

Each failure is an `InputError` naming the option and the file (one line, exit status 2 from
the command line), raised before any run directory or output is written.

    >>> check_device("cuda:7", "--device")                     # doctest: +SKIP
    Traceback (most recent call last):
    ...
    hicra.errors.InputError: --device cuda:7: CUDA is not available on this machine ...
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from pathlib import Path

from hicra.errors import InputError, first_line, one_line

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
)
DTYPES = ("float32", "bfloat16", "float16")


def check_checkpoint(path: str | Path, option: str = "--model", *, weights: bool = True) -> Path:
    """`path` when it looks like a loadable local Hugging Face checkpoint: a directory with a
    config.json holding a JSON object with a `model_type`, weight files (a .safetensors
    header is read, so a cut or foreign file is caught here) and tokenizer files."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(
            f"{option} {path}: no such directory "
            "(expected a local Hugging Face checkpoint directory)"
        )
    if not path.is_dir():
        raise InputError(
            f"{option} {path}: is a file; expected a Hugging Face checkpoint directory"
        )
    config_path = path / "config.json"
    if not config_path.is_file():
        raise InputError(f"{option} {path}: not a Hugging Face checkpoint (no config.json)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:  # unreadable, not UTF-8, not JSON
        raise InputError(f"{config_path}: not valid JSON ({first_line(err)})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise InputError(
            f"{config_path}: expected a JSON object with a 'model_type' "
            "(a Hugging Face model config)"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise InputError(
            f"{option} {path}: no tokenizer files "
            "(expected tokenizer.json or tokenizer_config.json)"
        )
    if weights:
        found = [name for name in WEIGHT_FILES if (path / name).is_file()]
        if not found:
            raise InputError(
                f"{option} {path}: no model weights (expected {' or '.join(WEIGHT_FILES[::2])})"
            )
        if found[0] == "model.safetensors":
            _check_safetensors(path / "model.safetensors")
    return path


def _check_safetensors(path: Path) -> None:
    """Read the header and check that the file holds every tensor it lists."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as err:  # SafetensorError (not exported under one stable name), OSError
        raise InputError(
            f"{path}: not a complete safetensors file ({first_line(err)}); "
            "was the checkpoint cut short?"
        ) from None


@contextlib.contextmanager
def loading(path: str | Path, option: str = "--model", what: str = "model") -> Iterator[None]:
    """Run a `from_pretrained` of user files: transformers' own warnings silenced, and any
    error it raises (a config field of the wrong type, a weight of the wrong shape, a corrupt
    tokenizer) reported as one InputError naming the checkpoint. Only the loading call is
    inside: hicra's own code runs outside and keeps its tracebacks."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    except InputError:
        raise
    except Exception as err:  # whatever transformers / tokenizers / safetensors raise on bad files
        reason = one_line(err, 240)
        if "ignore_mismatched_sizes" in reason:
            reason = "its weights do not have the sizes its config.json gives"
        where = f"{option} {path}" if option else str(path)
        raise InputError(f"{where}: cannot load the {what} ({reason})") from err
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def check_device(device: str, option: str = "--device") -> str:
    """`device` when torch can use it here: cpu, cuda / cuda:N with CUDA available (and that
    many GPUs), mps where available."""
    import torch

    if not isinstance(device, str) or not device.strip():
        raise InputError(
            f"{option}: expected a torch device (cpu, cuda, cuda:N, mps), got {device!r:.40}"
        )
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(
            f"{option} {device!r:.40}: not a torch device (expected cpu, cuda, cuda:N or mps)"
        ) from None
    if parsed.type == "cpu":
        return device
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"{option} {device}: CUDA is not available on this machine "
                f"(torch {torch.__version__}); use --device cpu"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise InputError(
                f"{option} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return device
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(
                f"{option} {device}: MPS is not available on this machine; use --device cpu"
            )
        return device
    raise InputError(
        f"{option} {device}: device type {parsed.type!r} is not supported "
        "(expected cpu, cuda[:N] or mps)"
    )


def check_dtype(dtype: str, device: str, option: str = "--dtype") -> str:
    """`dtype` when training in it on `device` works: float16 is refused on the CPU (the
    update turns the weights into NaN); bfloat16 on the CPU only where a probe update gives
    finite numbers; bfloat16 on a GPU only where the GPU supports it."""
    import torch

    if dtype not in DTYPES:
        raise InputError(f"{option}: expected one of {', '.join(DTYPES)}, got {dtype!r:.40}")
    kind = torch.device(device).type
    if dtype == "float16" and kind == "cpu":
        raise InputError(
            f"{option} float16 on {device}: half precision is not supported on the CPU "
            "(the first update gives NaN weights); use float32, or bfloat16"
        )
    if dtype == "bfloat16" and kind == "cpu" and not bfloat16_works_on_cpu():
        raise InputError(
            f"{option} bfloat16 on {device}: this CPU's torch cannot train in bfloat16 "
            "(a probe update was not finite); use float32"
        )
    if dtype == "bfloat16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise InputError(
            f"{option} bfloat16 on {device}: this GPU does not support bfloat16; "
            "use float16 or float32"
        )
    return dtype


@functools.lru_cache(maxsize=1)
def bfloat16_works_on_cpu() -> bool:
    """Whether a small bfloat16 forward, backward and AdamW step on the CPU give finite
    numbers close to float32's (measured once per process)."""
    import torch

    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            layer = torch.nn.Linear(16, 16).to(torch.bfloat16)
            x = torch.randn(4, 16, dtype=torch.bfloat16)
        optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-3)
        loss = torch.log_softmax(layer(x).float(), dim=-1).mean()
        loss.backward()
        optimizer.step()
        reference = torch.nn.functional.linear(x.float(), layer.weight.float(), layer.bias.float())
        close = torch.allclose(layer(x).float(), reference, atol=0.1, rtol=0.05)
        return (
            bool(torch.isfinite(loss))
            and all(bool(torch.isfinite(p).all()) for p in layer.parameters())
            and close
        )
    except (RuntimeError, TypeError, NotImplementedError):
        return False
