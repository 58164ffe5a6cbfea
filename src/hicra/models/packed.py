"""Rollouts through MKL's packed GEMM: the same float32 maths, faster on CPU.

Decoding runs every linear layer on a few rows at a time (one token per response). On CPU,
PyTorch's `F.linear` then calls a plain `sgemm` against the transposed weight, which on those
shapes reads the weights at 4-9 GB/s where the memory gives one core ~14 GB/s (docs/trainer.md).
MKL can instead reorder a weight once into its own blocked layout for a given row count
(`cblas_sgemm_pack`) and multiply that many rows against it (`cblas_sgemm_compute`): on
SmolLM2-135M's layers with 8 rows, 1.5-2.5x faster, float32 throughout, equal to `F.linear` up to the order of the sums.
PyTorch exposes both calls as `torch.ops.mkl._mkl_reorder_linear_weight` /
`torch.ops.mkl._mkl_linear` (what `torch.compile` uses for frozen float32 linears on CPU);
nothing else in this field packs weights for eager decoding, so the wrapper is written here.
Wrap a sampling call in it (`with packed_linears(model, rows): sample_responses(...)`): it pays
on long decodes of a fixed batch, not on a trainer's rollouts, whose batch shrinks as responses end while the
packed layout serves only the row count it was made for (docs/trainer.md).

`packed_linears(model)` packs every float32 `nn.Linear` on the CPU with at least
`MIN_PACKED_WEIGHTS` weights (LoRA's base layers included: peft calls them as modules) for the
duration of a `with` block, so the packed copy is always the policy's current weights (packing
135M parameters takes ~0.2 s, against tens of seconds of sampling; the packed copy takes as
much memory as the weights it packs), and restores the plain layers afterwards. Where MKL is
not there (ARM builds, GPUs) it does nothing. Smaller layers stay plain: on the demo's
countdown models (128 x 512 layers) packing gained nothing measurable, and plain layers keep
their runs bit-identical to the ones before packing existed.

    >>> import torch
    >>> layer = torch.nn.Linear(8, 4)
    >>> x = torch.randn(3, 8)
    >>> with torch.no_grad(), packed_linears(layer, min_weights=0):
    ...     y = layer(x)
    >>> bool(torch.allclose(y, layer(x), atol=1e-5)), "forward" in vars(layer)
    (True, False)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import torch
from torch import nn

MIN_PACKED_WEIGHTS = (1 << 16) + 1
"""Layers with fewer weights than this stay plain: the demo's countdown models have at most
128 x 512 = 65,536; SmolLM2-135M's smallest, the 576 -> 192 key and value projections, have
110,592."""


@cache
def mkl_packing_available() -> bool:
    """Whether this PyTorch build has MKL's packed float32 GEMM (x86 builds with MKL)."""
    if not torch.backends.mkl.is_available():
        return False
    try:
        weight = torch.randn(4, 3)
        x = torch.randn(2, 3)
        packed = torch.ops.mkl._mkl_reorder_linear_weight(weight, 2)
        out = torch.ops.mkl._mkl_linear(x, packed, weight, None, 2)
    except (AttributeError, RuntimeError):
        return False
    return bool(torch.allclose(out, x @ weight.T, atol=1e-5))


def _packable(module: nn.Module, min_weights: int) -> bool:
    weight = getattr(module, "weight", None)
    return (
        isinstance(module, nn.Linear)
        and isinstance(weight, torch.Tensor)
        and weight.dtype == torch.float32
        and weight.device.type == "cpu"
        and weight.dim() == 2
        and weight.numel() >= min_weights
    )


def _packed_forward(module: nn.Linear, packed: torch.Tensor, rows: int):
    weight, bias = module.weight, module.bias

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32 or torch.is_grad_enabled():
            return nn.functional.linear(x, weight, bias)  # autograd or another dtype: plain
        return torch.ops.mkl._mkl_linear(x, packed, weight, bias, rows)

    return forward


@contextmanager
def packed_linears(
    model: nn.Module, rows: int = 8, min_weights: int = MIN_PACKED_WEIGHTS
) -> Iterator[nn.Module]:
    """Within the block, every float32 CPU `nn.Linear` of `model` (the model itself too) with
    at least `min_weights` weights runs no-grad forwards through MKL's packed GEMM; with
    gradients on it stays plain. rows: the row count the layout is made for; inputs with another
    row count get MKL's plain product (the same result). No-op without MKL."""
    if not mkl_packing_available():
        yield model
        return
    patched = []
    try:
        with torch.no_grad():
            for module in model.modules():
                if _packable(module, min_weights) and "forward" not in vars(module):
                    packed = torch.ops.mkl._mkl_reorder_linear_weight(module.weight, rows)
                    module.forward = _packed_forward(module, packed, rows)
                    patched.append(module)
        yield model
    finally:
        for module in patched:
            del module.forward
