"""Input checks shared by the credit functions: one clear line per mistake.

Every public credit function validates its tensors here, so a wrong shape or dtype fails at the
call with the function and argument named, not three ops later inside a broadcast.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_tensor(fn: str, name: str, x: object) -> Tensor:
    """Return ``x`` if it is a tensor, else raise ``TypeError`` naming ``fn`` and ``name``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_float(fn: str, name: str, x: object, ndims: tuple[int, ...]) -> Tensor:
    """A floating-point tensor with one of the allowed numbers of dimensions."""
    x = check_tensor(fn, name, x)
    if not torch.is_floating_point(x):
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() not in ndims:
        want = " or ".join(_shape_words(n) for n in ndims)
        raise ValueError(f"{fn}: {name} must be {want}, got shape {tuple(x.shape)}")
    return x


def check_mask(fn: str, name: str, x: object, shape: torch.Size | None = None) -> Tensor:
    """A boolean (B, T) mask, optionally of an exact shape."""
    x = check_tensor(fn, name, x)
    if x.dtype != torch.bool:
        raise TypeError(
            f"{fn}: {name} must be a bool tensor (B, T), got dtype {x.dtype}; "
            f"convert with `{name}.bool()` if 1 marks a valid entry"
        )
    if x.dim() != 2:
        raise ValueError(f"{fn}: {name} must be 2-D (B, T), got shape {tuple(x.shape)}")
    if shape is not None and x.shape != shape:
        raise ValueError(f"{fn}: {name} has shape {tuple(x.shape)}, expected {tuple(shape)}")
    return x


def check_same_shape(fn: str, name: str, x: Tensor, shape: torch.Size, other: str) -> None:
    """Raise unless ``x.shape == shape`` (the shape of argument ``other``)."""
    if x.shape != shape:
        raise ValueError(
            f"{fn}: {name} has shape {tuple(x.shape)}, expected {tuple(shape)} (the shape of {other})"
        )


def broadcast_advantages(fn: str, advantages: object, shape: torch.Size) -> Tensor:
    """Sequence-level (B,) or token-level (B, T) advantages -> (B, T) of ``shape`` (a view)."""
    advantages = check_float(fn, "advantages", advantages, (1, 2))
    if advantages.dim() == 1:
        if advantages.shape[0] != shape[0]:
            raise ValueError(
                f"{fn}: advantages has {advantages.shape[0]} entries, expected B={shape[0]} "
                f"(one per response, matching the (B, T)={tuple(shape)} mask)"
            )
        return advantages.unsqueeze(1).expand(shape)
    check_same_shape(fn, "advantages", advantages, shape, "the mask")
    return advantages


def _shape_words(n: int) -> str:
    return {1: "1-D (B,)", 2: "2-D (B, T)"}.get(n, f"{n}-D")
