"""A KV cache that writes into preallocated buffers instead of concatenating.

transformers' `DynamicCache` appends each decoding step's keys and values with `torch.cat`,
which copies the whole cache of every layer at every step: the copying grows with the length,
so sampling T tokens costs O(T^2) memory traffic on top of attention, and every step allocates
and frees 2 x layers tensors of the full cache's size. `PreallocatedCache` gives each layer a
buffer of `capacity` positions (prompt + longest response, known before sampling starts), writes
the step's keys and values into it in place, and hands attention a view of the filled part.
Should a sequence outgrow the buffer it is doubled (amortised O(1) copies per token).

Rows can still be dropped from the batch (`batch_select_indices`, used by the sampler when
responses finish), which copies the kept rows once.

    >>> cache = PreallocatedCache(num_layers=model.config.num_hidden_layers, capacity=P + T)  # doctest: +SKIP
    >>> out = model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True)         # doctest: +SKIP
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """One layer's keys and values, (B, H, capacity, D) buffers of which the first `length`
    positions are filled; `keys` / `values` are views of those positions."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = max(int(capacity), 1)
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        batch, heads, _, dim = key_states.shape
        self.device = key_states.device
        self._keys = key_states.new_empty((batch, heads, self.capacity, dim))  # (B, H, C, D)
        self._values = value_states.new_empty(
            (batch, value_states.shape[1], self.capacity, value_states.shape[-1])
        )
        self.length = 0
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self._keys.shape[-2]:
            self._grow(max(end, 2 * self._keys.shape[-2]))
        self._keys[:, :, self.length : end] = key_states
        self._values[:, :, self.length : end] = value_states
        self.length = end
        self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]
        return self.keys, self.values

    def _grow(self, capacity: int) -> None:
        keys = self._keys.new_empty((*self._keys.shape[:2], capacity, self._keys.shape[-1]))
        values = self._values.new_empty((*self._values.shape[:2], capacity, self._values.shape[-1]))
        keys[:, :, : self.length] = self._keys[:, :, : self.length]
        values[:, :, : self.length] = self._values[:, :, : self.length]
        self._keys, self._values = keys, values

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self.keys, self.values = (
                self._keys[:, :, : self.length],
                self._values[:, :, : self.length],
            )

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized:
            self._keys = self._keys.repeat_interleave(repeats, dim=0)
            self._values = self._values.repeat_interleave(repeats, dim=0)
            self.keys, self.values = (
                self._keys[:, :, : self.length],
                self._values[:, :, : self.length],
            )

    def reset(self) -> None:
        self.length = 0
        self.keys = self.values = None
        self.is_initialized = False

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove < 0 and self.is_initialized:
            self.length = max(0, self.length + tokens_to_remove)
            self.keys, self.values = (
                self._keys[:, :, : self.length],
                self._values[:, :, : self.length],
            )


class PreallocatedCache(DynamicCache):
    """A `DynamicCache` whose layers are `PreallocatedLayer`s of `capacity` positions."""

    def __init__(self, num_layers: int, capacity: int) -> None:
        Cache.__init__(self, layers=[PreallocatedLayer(capacity) for _ in range(num_layers)])
