"""The PyTorch reference path for paged attention: plain, slow, obviously right.

Owns writing new K/V into the paged pool and attending over it, one sequence at a time,
in float32. Used on CPU (tests, CI) and as the yardstick the Triton kernels are checked
against. Same interface as the Triton path; knows nothing of scheduling.

Pool layout, shared by every path: ``k_cache``/``v_cache`` are [num_blocks, KV, bs, D];
token slot ``s`` lives in block ``s // bs`` at offset ``s % bs``.
"""

from __future__ import annotations

import torch

from .metadata import AttentionMetadata


def store_kv(k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
             slot_mapping: torch.Tensor) -> None:
    """Write k, v [T, KV, D] into the pool at ``slot_mapping`` [T]."""
    bs = k_cache.shape[2]
    blk, off = slot_mapping // bs, slot_mapping % bs
    k_cache[blk, :, off] = k.to(k_cache.dtype)  # advanced indices first: [T, KV, D]
    v_cache[blk, :, off] = v.to(v_cache.dtype)


def attend(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
           block_table: list[int], context_len: int, scale: float) -> torch.Tensor:
    """Causal attention of the last ``n`` tokens of one sequence over its whole context.

    Args:
        q: [n, H, D] queries of positions [context_len - n, context_len).
        block_table: the sequence's pool blocks.
        context_len: tokens with K/V in the pool, the n new ones included.

    Returns:
        [n, H, D] in q's dtype.
    """
    n, num_heads, _ = q.shape
    kv_heads, bs = k_cache.shape[1], k_cache.shape[2]
    nb = -(-context_len // bs)
    table = torch.tensor(block_table[:nb], dtype=torch.long, device=q.device)
    k = k_cache[table].permute(1, 0, 2, 3).reshape(kv_heads, nb * bs, -1)[:, :context_len]
    v = v_cache[table].permute(1, 0, 2, 3).reshape(kv_heads, nb * bs, -1)[:, :context_len]
    group = num_heads // kv_heads
    k = k.repeat_interleave(group, dim=0).float()  # [H, ctx, D]
    v = v.repeat_interleave(group, dim=0).float()
    scores = torch.einsum("nhd,hcd->hnc", q.float(), k) * scale  # [H, n, ctx]
    qpos = torch.arange(context_len - n, context_len, device=q.device)[:, None]
    kpos = torch.arange(context_len, device=q.device)[None, :]
    scores = scores.masked_fill(kpos > qpos, float("-inf"))
    out = torch.einsum("hnc,hcd->nhd", scores.softmax(dim=-1), v)
    return out.to(q.dtype)


def paged_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                    meta: AttentionMetadata, scale: float) -> torch.Tensor:
    """Attention for every sequence of a batch; q [T, H, D] -> [T, H, D]."""
    out = torch.empty_like(q)
    for i, (start, end) in enumerate(zip(meta.query_start_loc_list[:-1],
                                         meta.query_start_loc_list[1:], strict=False)):
        out[start:end] = attend(q[start:end], k_cache, v_cache, meta.block_table_lists[i],
                                meta.context_lens_list[i], scale)
    return out
