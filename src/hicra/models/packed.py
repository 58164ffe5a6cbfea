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
The sampler decodes through it by default (`sample_responses(pack_weights=True)`, entered
after the prefill); wrap other decoders in it yourself (`with packed_linears(model):
model.generate(...)`).

`packed_linears(model)` swaps the forward of every float32 `nn.Linear` on the CPU with at least
`MIN_PACKED_WEIGHTS` weights (LoRA's base layers included: peft calls them as modules) for the
duration of a `with` block, and restores the plain layers afterwards. A layer is packed on its
first decoding call inside the block, so the packed copy is always the policy's current
weights (packing SmolLM2-135M takes ~0.2-0.4 s, against tens of seconds of sampling; the packed
copy takes 1-2x the memory of the weights it packs, and is freed on leaving the block). Where
MKL is not there (ARM builds, GPUs) it does nothing. Smaller layers stay plain: on the demo's
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

MIN_PACKED_ROWS = 3
"""Fewer rows stay plain: at 1 and 2 rows the packed product is no faster (SmolLM2-135M)."""

MAX_PACKED_ROWS = 64
"""More rows stay plain: decoding runs one row per response; more is a prefill or a
teacher-forced pass, where the plain product is already compute-bound."""

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


class _PackedLinear:
    """The no-grad forward of one float32 linear layer through MKL's packed GEMM.

    MKL's layout serves one row count M (any other falls back to the plain product), and a
    sampler's batch shrinks as responses end. So the layout is made on the first decoding call
    for M = the power of two at or above its rows, and the rows of later calls are zero-padded
    to M inside the layer (the rest of the model keeps its own rows): the packed product's time
    hardly depends on M, while MKL packs and multiplies odd row counts slowly (SmolLM2-135M's
    output layer, one thread: 3 rows 12.3 ms packed against 4 rows 10.3; packing it for 3 or 5
    rows ~0.3 s, for 4 or 8 ~0.05 s). More rows than M repack; below M / 4 rows the padding
    costs more than it saves and the layer is plain. Only decoding is packed, one position per
    row ((rows, 1, in) or (rows, in)): a prefill or a teacher-forced pass (several positions per
    row, or more than `MAX_PACKED_ROWS` rows) and fewer than `MIN_PACKED_ROWS` rows, which gain
    nothing, stay plain. Measured: docs/trainer.md."""

    def __init__(self, module: nn.Linear) -> None:
        self.weight, self.bias = module.weight, module.bias
        self.packed: torch.Tensor | None = None
        self.rows = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
        if (
            x.dtype != torch.float32
            or torch.is_grad_enabled()
            or (x.dim() > 2 and x.shape[-2] != 1)  # several positions per row: a prefill
            or not MIN_PACKED_ROWS <= rows <= MAX_PACKED_ROWS
            or 4 * rows < self.rows
        ):
            return nn.functional.linear(x, self.weight, self.bias)
        if rows > self.rows:
            bucket = 1 << (rows - 1).bit_length()  # the power of two >= rows
            self.packed = torch.ops.mkl._mkl_reorder_linear_weight(self.weight, bucket)
            self.rows = bucket
        flat = x.reshape(rows, x.shape[-1])  # (m, in)
        if rows < self.rows:
            flat = nn.functional.pad(flat, (0, 0, 0, self.rows - rows))  # (M, in)
        out = torch.ops.mkl._mkl_linear(flat, self.packed, self.weight, self.bias, self.rows)
        return out[:rows].reshape(*x.shape[:-1], out.shape[-1])  # (..., out)


@contextmanager
def packed_linears(model: nn.Module, min_weights: int = MIN_PACKED_WEIGHTS) -> Iterator[nn.Module]:
    """Within the block, every float32 CPU `nn.Linear` of `model` (the model itself too) with
    at least `min_weights` weights runs its no-grad forwards of `MIN_PACKED_ROWS` to
    `MAX_PACKED_ROWS` rows through MKL's packed GEMM (`_PackedLinear`); with gradients on, or
    on other row counts, it stays plain. Nothing is packed until a layer is called, and the
    packed copies are freed on leaving the block. No-op without MKL."""
    if not mkl_packing_available():
        yield model
        return
    patched = []
    try:
        for module in model.modules():
            if _packable(module, min_weights) and "forward" not in vars(module):
                module.forward = _PackedLinear(module)
                patched.append(module)
        yield model
    finally:
        for module in patched:
            del module.forward
