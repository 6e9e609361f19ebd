"""A transformers ``DynamicCache`` whose layers append into spare room instead of re-concatenating.

``DynamicLayer.update`` runs ``torch.cat([keys, new])`` at every decoding step, copying the whole KV cache
of every layer to add one column: at batch 16 and ~230 columns that copy is a large share of a step on a
CPU. Here each layer keeps a buffer with room for :data:`ROOM` more columns and writes new columns into
it; ``keys`` / ``values`` are views of the filled part, so everything that reads them (attention, masks,
``get_seq_length``) sees exactly what ``DynamicLayer`` would hold. Whatever replaces ``keys`` from
outside (``batch_select_indices`` when rows leave the batch, ``batch_repeat_interleave``, ``crop``) is
noticed at the next update, which copies it into a fresh buffer once. Same numbers, fewer copies.
"""

from __future__ import annotations

from typing import Any

ROOM = 64
"""Spare columns allocated at each (re)allocation: one copy per ``ROOM`` decoding steps, not per step."""


def growing(cache: Any) -> Any:
    """Turn every layer of a ``DynamicCache`` (empty or filled) into a growing layer, in place."""
    for layer in cache.layers:
        if type(layer) is not _layer_class():
            if type(layer).__name__ != "DynamicLayer":
                return cache  # sliding-window or other layer kinds: left as they are
            layer.__class__ = _layer_class()
    return cache


_CLASS: Any = None


def _layer_class() -> Any:
    global _CLASS
    if _CLASS is None:
        from transformers.cache_utils import DynamicLayer

        class GrowingLayer(DynamicLayer):
            def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
                if not self.is_initialized:
                    self.lazy_initialization(key_states, value_states)
                new = key_states.shape[-2]
                have = self.keys.shape[-2] if self.keys.numel() else 0
                buf_k = getattr(self, "_buf_k", None)
                if (buf_k is None or buf_k.shape[0] != key_states.shape[0] or have + new > buf_k.shape[-2]
                        or self.keys.data_ptr() != buf_k.data_ptr() or have == 0):
                    shape = (*key_states.shape[:2], have + new + ROOM, key_states.shape[-1])
                    self._buf_k, self._buf_v = key_states.new_empty(shape), value_states.new_empty(shape)
                    if have:
                        self._buf_k[..., :have, :] = self.keys
                        self._buf_v[..., :have, :] = self.values
                self._buf_k[..., have:have + new, :] = key_states
                self._buf_v[..., have:have + new, :] = value_states
                self.keys = self._buf_k[..., :have + new, :]
                self.values = self._buf_v[..., :have + new, :]
                return self.keys, self.values

        _CLASS = GrowingLayer
    return _CLASS
