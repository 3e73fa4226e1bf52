# mypy: disable-error-code="untyped-decorator,no-untyped-def"
"""Split-KV paged decode attention in Triton (flash-decoding over the block table).

Owns the decode kernel: one query token per sequence attends over its whole paged context.
At batch 1 one program per (sequence, KV head) would leave most of the GPU idle, so each
context is cut into ``num_splits`` pieces processed in parallel; each writes a partial
output and its log-sum-exp, and a second kernel merges them. With one split (large
batches: from 33 sequences of 8 KV heads on 132 multiprocessors) the kernel writes the
final output itself, in the output's dtype: no float32 partials, no second launch. All
query heads that share a KV head (GQA) are handled by one program, so K/V are read once
per group. The grid does not depend on context lengths (read in the kernel), so CUDA
graphs can capture it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _decode_split_kernel(q_ptr, kc_ptr, vc_ptr, bt_ptr, ctx_ptr, o_ptr, lse_ptr, scale,
                         s_qb, s_qh, s_cb, s_ch, s_ct, s_bt, s_ob, s_oh, s_os,
                         splits, GROUP: tl.constexpr, GP: tl.constexpr, D: tl.constexpr,
                         BS: tl.constexpr, BLOCK_N: tl.constexpr, DIRECT: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    kvh = tl.program_id(1)
    split = tl.program_id(2)
    ctx = tl.load(ctx_ptr + b)
    per_split = tl.cdiv(tl.cdiv(ctx, splits), BLOCK_N) * BLOCK_N
    start = split * per_split
    end = tl.minimum(start + per_split, ctx)
    g = tl.arange(0, GP)
    mg = g < GROUP
    heads = kvh * GROUP + g
    d = tl.arange(0, D)
    q = tl.load(q_ptr + b * s_qb + heads[:, None] * s_qh + d[None, :], mask=mg[:, None],
                other=0.0)  # [GP, D]
    qk_scale = scale * 1.4426950408889634  # exp2 domain
    m_i = tl.full([GP], float("-inf"), tl.float32)
    l_i = tl.zeros([GP], tl.float32)
    acc = tl.zeros([GP, D], tl.float32)
    for n0 in range(start, end, BLOCK_N):
        n = n0 + tl.arange(0, BLOCK_N)
        mn = n < end
        blk = tl.load(bt_ptr + b * s_bt + n // BS, mask=mn, other=0).to(tl.int64)
        off = blk[:, None] * s_cb + kvh * s_ch + (n % BS)[:, None] * s_ct + d[None, :]
        k = tl.load(kc_ptr + off, mask=mn[:, None], other=0.0)  # [BLOCK_N, D]
        v = tl.load(vc_ptr + off, mask=mn[:, None], other=0.0)
        qk = tl.dot(q, tl.trans(k)) * qk_scale  # [GP, BLOCK_N]
        qk = tl.where(mn[None, :], qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.exp2(qk - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    safe_l = tl.where(l_i > 0, l_i, 1.0)
    out = acc / safe_l[:, None]
    o = o_ptr + b * s_ob + heads[:, None] * s_oh + split * s_os + d[None, :]
    if DIRECT:  # one split: o_ptr is the final output (the reduce kernel's only input)
        tl.store(o, out.to(o_ptr.dtype.element_ty), mask=mg[:, None])
    else:
        lse = tl.where(l_i > 0, m_i + tl.log2(safe_l), float("-inf"))  # log2 domain
        tl.store(o, out, mask=mg[:, None])
        tl.store(lse_ptr + (b * s_ob + heads * s_oh) // D + split, lse, mask=mg)


@triton.jit
def _decode_reduce_kernel(o_ptr, lse_ptr, out_ptr, s_ob, s_oh, s_os, s_outb, s_outh,
                          splits, D: tl.constexpr, SP: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    h = tl.program_id(1)
    s = tl.arange(0, SP)
    ms = s < splits
    d = tl.arange(0, D)
    lse = tl.load(lse_ptr + (b * s_ob + h * s_oh) // D + s, mask=ms, other=float("-inf"))
    m = tl.max(lse, 0)
    m = tl.where(m == float("-inf"), 0.0, m)
    w = tl.exp2(lse - m)  # [SP]; empty splits weigh 0
    parts = tl.load(o_ptr + b * s_ob + h * s_oh + s[:, None] * s_os + d[None, :],
                    mask=ms[:, None], other=0.0)  # [SP, D]
    total = tl.sum(w, 0)
    total = tl.where(total > 0, total, 1.0)
    out = tl.sum(parts * w[:, None], 0) / total
    tl.store(out_ptr + b * s_outb + h * s_outh + d, out.to(out_ptr.dtype.element_ty))


def launch_settings(num_splits: int, block_size: int) -> tuple[int, int, int]:
    """(keys per tile, warps, pipeline stages) of the split kernel.

    Measured on the H200 at the 256-request load's contexts
    (``bench/results/2026-12-05-step-probe-1b``): three stages beat two at every batch
    probed (32 sequences, 2 splits: 38 vs 58 us; 128: 97 vs 97; 256: 168 vs 169), and
    128 keys per tile beat 64 once one program takes a whole context (one split; 128
    sequences: 92 vs 97 us; 256: 165 vs 168) but lose with several splits (32
    sequences: 92 vs 38 us). More than two splits (batches under 17, batch 1 among
    them) were not probed and keep the earlier (64, 4 warps, 2 stages).
    """
    if num_splits > 2:
        return max(64, block_size), 4, 2
    block_n = 128 if num_splits == 1 else 64
    return max(block_n, block_size), 4, 3


def paged_decode(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                 block_tables: torch.Tensor, context_lens: torch.Tensor, scale: float,
                 num_splits: int, out: torch.Tensor | None = None, *,
                 block_n: int | None = None, num_warps: int | None = None,
                 num_stages: int | None = None) -> torch.Tensor:
    """Decode attention.

    Args:
        q: [B, H, D] one query per sequence (token at position context_len - 1).
        k_cache, v_cache: [NB, KV, bs, D] the pool, this token's K/V already written.
        block_tables: [B, max_blocks] int32.
        context_lens: [B] int32 (0 gives a zero output: padded CUDA-graph rows).
        num_splits: KV splits per sequence (fixed per captured graph).
        block_n, num_warps, num_stages: the split kernel's launch settings (keys per
            tile: a power of two >= 16); each left None comes from
            ``launch_settings``. ``bench/engine_step_probe.py`` sweeps them.

    Returns:
        [B, H, D] in q's dtype (``out`` when given).
    """
    b, h, d = q.shape
    kv, bs = k_cache.shape[1], k_cache.shape[2]
    group = h // kv
    if out is None:
        out = torch.empty_like(q)
    assert out.stride(2) == 1, "out must be contiguous along D"
    direct = num_splits == 1
    if direct:  # the kernel writes out [B, H, D] itself; lse is not read
        partial, lse = out.unsqueeze(2), out  # [B, H, 1, D] view: same strides per split
    else:
        # partial outputs [B, H, S, D]; lse shares its index math: [B, H, S] = offsets / D
        partial = torch.empty((b, h, num_splits, d), dtype=torch.float32, device=q.device)
        lse = torch.empty((b, h, num_splits), dtype=torch.float32, device=q.device)
    tuned = launch_settings(num_splits, bs)
    block_n = tuned[0] if block_n is None else block_n
    num_warps = tuned[1] if num_warps is None else num_warps
    num_stages = tuned[2] if num_stages is None else num_stages
    _decode_split_kernel[(b, kv, num_splits)](
        q, k_cache, v_cache, block_tables, context_lens, partial, lse, scale,
        q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        block_tables.stride(0), partial.stride(0), partial.stride(1), partial.stride(2),
        num_splits, GROUP=group, GP=max(16, triton.next_power_of_2(group)), D=d, BS=bs,
        BLOCK_N=block_n, DIRECT=direct, num_warps=num_warps, num_stages=num_stages)
    if direct:
        return out
    _decode_reduce_kernel[(b, h)](
        partial, lse, out, partial.stride(0), partial.stride(1), partial.stride(2),
        out.stride(0), out.stride(1), num_splits, D=d,
        SP=max(2, triton.next_power_of_2(num_splits)), num_warps=4)
    return out
