"""Paged attention: the batch metadata every path reads, and the dispatching layer.

Owns ``Attention`` (and re-exports ``AttentionMetadata`` from ``metadata.py``: where each
sequence's queries, context and blocks are). ``Attention`` writes new K/V into the pool and
attends over it with the reference path (``reference.py``, CPU) or the Triton kernels
(``triton_decode.py``, ``triton_prefill.py``, GPU). A batch lists its decode sequences
(one query each) first, so the two GPU kernels each take one contiguous slice. Knows
nothing of scheduling.
"""

from __future__ import annotations

import torch
from torch import nn

from .metadata import AttentionMetadata as AttentionMetadata  # re-exported


def num_decode_splits(batch: int, num_kv_heads: int, num_sms: int, max_splits: int = 32
                      ) -> int:
    """KV splits per decode sequence so that about two programs per multiprocessor run;
    a power of two, so that few kernel variants are ever compiled."""
    want = -(-2 * num_sms // (batch * num_kv_heads))
    return min(max_splits, 1 << max(0, want - 1).bit_length())


DENSE_PREFILL_MIN_TOKENS = 1024


def dense_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float
                 ) -> torch.Tensor:
    """Causal attention of one chunk over itself: q [T, H, D], k/v [T, KV, D] -> [T, H, D]."""
    group = q.shape[1] // k.shape[1]
    qh = q.transpose(0, 1)[None]  # [1, H, T, D]
    kh = k.repeat_interleave(group, dim=1).transpose(0, 1)[None]
    vh = v.repeat_interleave(group, dim=1).transpose(0, 1)[None]
    o = nn.functional.scaled_dot_product_attention(qh, kh, vh, is_causal=True, scale=scale)
    return o[0].transpose(0, 1)


class Attention(nn.Module):
    """Paged attention over the pool; ``k_cache``/``v_cache`` are set by the ModelRunner.

    Args:
        num_heads, num_kv_heads, head_dim: the layer's shape (GQA when they differ).
        backend: ``reference`` or ``triton``.
    """

    def __init__(self, num_heads: int, num_kv_heads: int, head_dim: int,
                 backend: str = "reference") -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.scale = head_dim ** -0.5
        self.backend = backend
        self.k_cache = torch.empty(0)
        self.v_cache = torch.empty(0)
        # the pool's head size: head_dim rounded up to a power of two for the Triton
        # kernels (K/V zero-padded; zeros change no dot product); padded graph rows
        # (slot -1) write to ``trash_slot``, a block outside the BlockManager's pool
        self.cache_dim = head_dim
        self.trash_slot = -1

    def store(self, k: torch.Tensor, v: torch.Tensor, meta: AttentionMetadata) -> None:
        """Write k, v [T, KV, D] into the pool."""
        from .reference import store_kv

        slots = meta.slot_mapping
        if self.cache_dim != self.head_dim:
            k, v = self._pad(k), self._pad(v)
            slots = torch.where(slots < 0, self.trash_slot, slots)
        store_kv(k, v, self.k_cache, self.v_cache, slots)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, (0, self.cache_dim - self.head_dim))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                meta: AttentionMetadata) -> torch.Tensor:
        """q [T, H, D], k/v [T, KV, D] (already in the pool) -> [T, H, D]."""
        if self.backend == "reference":
            from .reference import paged_attention

            return paged_attention(q, self.k_cache, self.v_cache, meta, self.scale)
        if self.cache_dim != self.head_dim:
            out = self._triton(self._pad(q), self._pad(k), self._pad(v), meta)
            return out[..., :self.head_dim]
        return self._triton(q, k, v, meta)

    def _triton(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                meta: AttentionMetadata) -> torch.Tensor:
        from .triton_decode import paged_decode
        from .triton_prefill import paged_prefill

        d = meta.num_decode_tokens
        out = torch.empty_like(q)
        if d:
            assert meta.decode_block_tables is not None and meta.decode_context_lens is not None
            paged_decode(q[:d], self.k_cache, self.v_cache, meta.decode_block_tables,
                         meta.decode_context_lens, self.scale, meta.decode_num_splits,
                         out=out[:d])
        if q.shape[0] > d and meta.dense_prefill:
            out[d:] = dense_causal(q[d:], k[d:], v[d:], self.scale)
        elif q.shape[0] > d:
            assert meta.prefill_block_tables is not None
            assert meta.prefill_context_lens is not None
            assert meta.prefill_query_start_loc is not None
            paged_prefill(q[d:], k[d:], v[d:], self.k_cache, self.v_cache,
                          meta.prefill_block_tables, meta.prefill_context_lens,
                          meta.prefill_query_start_loc, meta.prefill_max_query_len,
                          self.scale, out=out[d:])
        return out
