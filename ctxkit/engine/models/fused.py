# mypy: disable-error-code="untyped-decorator,no-untyped-def"
"""Fused Triton kernels for the decoder's small steps (GPU path).

Owns three kernels, each one launch where PyTorch would issue several: RMSNorm with the
residual add, RoPE on q and k with the K/V write into the paged pool, and SiLU-and-mul.
At batch-1 decode these small launches, not the matmuls, are what a step can shave.
Math in float32, rounded once; the PyTorch versions in ``layers.py`` are the reference.
Knows nothing of scheduling. Imported only when the fused path is switched on.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _rms_norm_kernel(x_ptr, res_ptr, out_ptr, res_out_ptr, w_ptr, eps, n_cols,
                     HAS_RES: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=0.0)
    if HAS_RES:
        x = x + tl.load(res_ptr + row * n_cols + cols, mask=mask, other=0.0)
        tl.store(res_out_ptr + row * n_cols + cols, x, mask=mask)
    xf = x.to(tl.float32)  # the residual stream rounds to the model dtype first, as in HF
    var = tl.sum(xf * xf, axis=0) / n_cols
    y = xf * tl.rsqrt(var + eps)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * n_cols + cols, (y * w).to(out_ptr.dtype.element_ty), mask=mask)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float,
             residual: torch.Tensor | None = None
             ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """RMSNorm over the last dim of x [..., N]; with ``residual``, of x + residual, and
    also returns that sum (the new residual stream)."""
    n = x.shape[-1]
    x2 = x.reshape(-1, n)
    out = torch.empty_like(x2)
    block = triton.next_power_of_2(n)
    warps = min(max(block // 256, 1), 8)
    if residual is None:
        _rms_norm_kernel[(x2.shape[0],)](x2, x2, out, out, weight, eps, n, HAS_RES=False,
                                         BLOCK=block, num_warps=warps)
        return out.view_as(x)
    res_out = torch.empty_like(x2)
    _rms_norm_kernel[(x2.shape[0],)](x2, residual.reshape(-1, n), out, res_out, weight, eps,
                                     n, HAS_RES=True, BLOCK=block, num_warps=warps)
    return out.view_as(x), res_out.view_as(x)


@triton.jit
def _silu_mul_kernel(x_ptr, out_ptr, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    g = tl.load(x_ptr + row * 2 * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(x_ptr + row * 2 * n_cols + n_cols + cols, mask=mask, other=0.0).to(tl.float32)
    y = g / (1.0 + tl.exp(-g)) * u
    tl.store(out_ptr + row * n_cols + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def silu_and_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """SiLU(gate) * up for gate_up [T, 2I] (contiguous) -> [T, I]."""
    t, two_i = gate_up.shape
    i = two_i // 2
    out = torch.empty((t, i), dtype=gate_up.dtype, device=gate_up.device)
    block = 1024
    _silu_mul_kernel[(t, triton.cdiv(i, block))](gate_up, out, i, BLOCK=block, num_warps=4)
    return out


@triton.jit
def _rope_store_kernel(q_ptr, k_ptr, v_ptr, cos_ptr, sin_ptr, pos_ptr, slot_ptr,
                       kc_ptr, vc_ptr, q_out_ptr, k_out_ptr,
                       s_qt, s_qh, s_kt, s_kh, s_vt, s_vh, s_cb, s_ch, s_ct,
                       H: tl.constexpr, KV: tl.constexpr, HP: tl.constexpr, KVP: tl.constexpr,
                       HALF: tl.constexpr, BS: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    pos = tl.load(pos_ptr + t)
    d = tl.arange(0, HALF)
    cos = tl.load(cos_ptr + pos * HALF + d)[None, :]  # [1, D/2] float32
    sin = tl.load(sin_ptr + pos * HALF + d)[None, :]
    # q: [HP, D/2] halves, rotated, written contiguous
    h = tl.arange(0, HP)[:, None]
    mh = h < H
    q1 = tl.load(q_ptr + t * s_qt + h * s_qh + d[None, :], mask=mh, other=0.0).to(tl.float32)
    q2 = tl.load(q_ptr + t * s_qt + h * s_qh + HALF + d[None, :], mask=mh,
                 other=0.0).to(tl.float32)
    qo = q_out_ptr + t * H * 2 * HALF + h * 2 * HALF + d[None, :]
    tl.store(qo, (q1 * cos - q2 * sin).to(q_out_ptr.dtype.element_ty), mask=mh)
    tl.store(qo + HALF, (q2 * cos + q1 * sin).to(q_out_ptr.dtype.element_ty), mask=mh)
    # k: rotated, written contiguous and into the pool with v
    g = tl.arange(0, KVP)[:, None]
    mg = g < KV
    k1 = tl.load(k_ptr + t * s_kt + g * s_kh + d[None, :], mask=mg, other=0.0).to(tl.float32)
    k2 = tl.load(k_ptr + t * s_kt + g * s_kh + HALF + d[None, :], mask=mg,
                 other=0.0).to(tl.float32)
    r1 = (k1 * cos - k2 * sin).to(k_out_ptr.dtype.element_ty)
    r2 = (k2 * cos + k1 * sin).to(k_out_ptr.dtype.element_ty)
    ko = k_out_ptr + t * KV * 2 * HALF + g * 2 * HALF + d[None, :]
    tl.store(ko, r1, mask=mg)
    tl.store(ko + HALF, r2, mask=mg)
    slot = tl.load(slot_ptr + t)
    if slot >= 0:  # padded rows of a CUDA graph carry slot -1
        blk = slot // BS
        off = slot % BS
        dst = blk * s_cb + g * s_ch + off * s_ct + d[None, :]
        tl.store(kc_ptr + dst, r1.to(kc_ptr.dtype.element_ty), mask=mg)
        tl.store(kc_ptr + dst + HALF, r2.to(kc_ptr.dtype.element_ty), mask=mg)
        v1 = tl.load(v_ptr + t * s_vt + g * s_vh + d[None, :], mask=mg, other=0.0)
        v2 = tl.load(v_ptr + t * s_vt + g * s_vh + HALF + d[None, :], mask=mg, other=0.0)
        tl.store(vc_ptr + dst, v1.to(vc_ptr.dtype.element_ty), mask=mg)
        tl.store(vc_ptr + dst + HALF, v2.to(vc_ptr.dtype.element_ty), mask=mg)


def rope_and_store(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
                   sin: torch.Tensor, positions: torch.Tensor, k_cache: torch.Tensor,
                   v_cache: torch.Tensor, slot_mapping: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q [T, H, D] and k [T, KV, D]; write rotated k and v [T, KV, D] to the pool.

    q, k, v may be strided views of one qkv projection (unit stride on D). Returns
    contiguous rotated q and k.
    """
    t, h, dim = q.shape
    kv = k.shape[1]
    q_out = torch.empty((t, h, dim), dtype=q.dtype, device=q.device)
    k_out = torch.empty((t, kv, dim), dtype=k.dtype, device=k.device)
    _rope_store_kernel[(t,)](
        q, k, v, cos, sin, positions, slot_mapping, k_cache, v_cache, q_out, k_out,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), v.stride(0), v.stride(1),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        H=h, KV=kv, HP=triton.next_power_of_2(h), KVP=triton.next_power_of_2(kv),
        HALF=dim // 2, BS=k_cache.shape[2], num_warps=4)
    return q_out, k_out
