# mypy: disable-error-code="untyped-decorator,no-untyped-def"
"""Paged prefill attention in Triton: a chunk of new tokens over cached prefix + itself.

Owns the prefill kernel (flash-attention style online softmax, variable-length batch).
Each program takes ``BLOCK_M`` queries of one sequence and one head and runs two loops:
the cached prefix (prefix-cache hits and earlier chunks), gathered from the paged pool
through the block table and fully visible; then the chunk's own K/V, read contiguously
from the projection output with the causal mask. Cold prefill thus reads K/V the way a
dense kernel does, and a warm prefix costs one pass over its blocks.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _prefill_kernel(q_ptr, k_ptr, v_ptr, kc_ptr, vc_ptr, bt_ptr, ctx_ptr, qsl_ptr, o_ptr,
                    scale, s_qt, s_qh, s_kt, s_kh, s_vt, s_vh, s_cb, s_ch, s_ct, s_bt,
                    s_ot, s_oh, num_m, GROUP: tl.constexpr, D: tl.constexpr,
                    BS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    m_tile = num_m - 1 - tl.program_id(0)  # longest (causal) tiles first
    seq = tl.program_id(1).to(tl.int64)
    head = tl.program_id(2)
    q_start = tl.load(qsl_ptr + seq)
    q_len = tl.load(qsl_ptr + seq + 1) - q_start
    if m_tile * BLOCK_M >= q_len:
        return
    ctx = tl.load(ctx_ptr + seq)
    prefix = ctx - q_len
    kvh = head // GROUP
    rows = m_tile * BLOCK_M + tl.arange(0, BLOCK_M)
    mm = rows < q_len
    d = tl.arange(0, D)
    tok = (q_start + rows).to(tl.int64)
    q = tl.load(q_ptr + tok[:, None] * s_qt + head * s_qh + d[None, :], mask=mm[:, None],
                other=0.0)  # [BLOCK_M, D]
    qk_scale = scale * 1.4426950408889634
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, D], tl.float32)
    # 1. the cached prefix, from the pool: every query sees all of it
    for n0 in range(0, prefix, BLOCK_N):
        n = n0 + tl.arange(0, BLOCK_N)
        mn = n < prefix
        blk = tl.load(bt_ptr + seq * s_bt + n // BS, mask=mn, other=0).to(tl.int64)
        off = blk[:, None] * s_cb + kvh * s_ch + (n % BS)[:, None] * s_ct + d[None, :]
        k = tl.load(kc_ptr + off, mask=mn[:, None], other=0.0)  # [BLOCK_N, D]
        v = tl.load(vc_ptr + off, mask=mn[:, None], other=0.0)
        qk = tl.dot(q, tl.trans(k)) * qk_scale
        qk = tl.where(mn[None, :], qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.exp2(qk - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    # 2. the chunk itself, contiguous, causal
    hi = tl.minimum((m_tile + 1) * BLOCK_M, q_len)
    for n0 in range(0, hi, BLOCK_N):
        n = n0 + tl.arange(0, BLOCK_N)
        mn = n < q_len
        kt = (q_start + n).to(tl.int64)
        k = tl.load(k_ptr + kt[:, None] * s_kt + kvh * s_kh + d[None, :], mask=mn[:, None],
                    other=0.0)
        v = tl.load(v_ptr + kt[:, None] * s_vt + kvh * s_vh + d[None, :], mask=mn[:, None],
                    other=0.0)
        qk = tl.dot(q, tl.trans(k)) * qk_scale
        visible = mn[None, :] & (n[None, :] <= rows[:, None])
        qk = tl.where(visible, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.exp2(qk - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(o_ptr + tok[:, None] * s_ot + head * s_oh + d[None, :],
             out.to(o_ptr.dtype.element_ty), mask=mm[:, None])


def paged_prefill(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor,
                  v_cache: torch.Tensor, block_tables: torch.Tensor,
                  context_lens: torch.Tensor, query_start_loc: torch.Tensor,
                  max_query_len: int, scale: float, out: torch.Tensor | None = None,
                  block_m: int = 128, block_n: int = 64, num_warps: int = 8,
                  num_stages: int = 3) -> torch.Tensor:
    """Prefill attention for a variable-length batch of chunks.

    Args:
        q: [T, H, D] queries of all chunks, concatenated.
        k, v: [T, KV, D] the chunks' own keys/values (unit stride on D).
        k_cache, v_cache: [NB, KV, bs, D] the pool holding each sequence's prefix.
        block_tables: [S, max_blocks] int32.
        context_lens: [S] int32 prefix + chunk length per sequence.
        query_start_loc: [S + 1] int32 offsets of each chunk in q.
        max_query_len: the longest chunk (sizes the grid).

    Returns:
        [T, H, D] in q's dtype (``out`` when given).
    """
    t, h, d = q.shape
    kv, bs = k_cache.shape[1], k_cache.shape[2]
    if out is None:
        out = torch.empty_like(q)
    num_seqs = context_lens.shape[0]
    if max_query_len <= 64:
        block_m, num_warps = 64, 4
    num_m = triton.cdiv(max_query_len, block_m)
    _prefill_kernel[(num_m, num_seqs, h)](
        q, k, v, k_cache, v_cache, block_tables, context_lens, query_start_loc, out, scale,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), v.stride(0), v.stride(1),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2), block_tables.stride(0),
        out.stride(0), out.stride(1), num_m, GROUP=h // kv, D=d, BS=bs,
        BLOCK_M=block_m, BLOCK_N=block_n, num_warps=num_warps, num_stages=num_stages)
    return out
