# mypy: disable-error-code="untyped-decorator,no-untyped-def"
"""One-token matrix-vector products with the decoder's small steps fused in (GPU path).

Owns one Triton kernel for ``y = W @ x`` at a single token (x [1, K], W [N, K] row-major,
as ``nn.Linear`` stores it), with optional stages that would otherwise each be a launch:

* ``norm_weight``: RMSNorm of x in the prologue (each program recomputes the row's rms;
  x is 4-16 KB and stays in cache), rounded as ``layers.RMSNorm`` rounds;
* ``silu``: W holds gate rows then up rows ([2I, K]); a program takes the same output
  columns of both and writes SiLU(gate) * up [1, I];
* ``residual``: adds the residual stream in the epilogue (out = residual + W @ x);
* ``bias``: the projection's bias.

No split-K: a program owns ``BN`` whole output rows, so nothing needs a reduction launch.
At batch-1 decode this turns a layer's ten-odd graph nodes into four GEMVs around
attention. Knows nothing of the model's layout beyond those operands.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

# (rows per program, K per step, warps, pipeline stages): the first call of each shape on
# a GPU times these and keeps the fastest (outside graph capture; the default inside it)
DEFAULT_CONFIG = (8, 512, 4, 1)
CANDIDATES = [(4, 512, 4, 1), (8, 512, 4, 1), (8, 1024, 4, 1), (16, 512, 4, 1),
              (16, 256, 4, 2), (32, 256, 4, 2), (16, 1024, 8, 1)]
_chosen: dict[tuple[object, ...], tuple[int, int, int, int]] = {}


@triton.jit
def _gemv_kernel(x_ptr, w_ptr, out_ptr, res_ptr, nw_ptr, b_ptr, N, K, eps,
                 NORM: tl.constexpr, SILU: tl.constexpr, RES: tl.constexpr,
                 BIAS: tl.constexpr, EVEN: tl.constexpr, BN: tl.constexpr,
                 BK: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BN + tl.arange(0, BN)  # output columns of this program
    rmask = rows < N
    rows_w = tl.where(rmask, rows, 0).to(tl.int64)  # clamped: loads need no row mask
    ks = tl.arange(0, BK)
    dt = out_ptr.dtype.element_ty
    if NORM:
        ss = tl.zeros([BK], dtype=tl.float32)
        for k0 in range(0, K, BK):
            if EVEN:
                xv = tl.load(x_ptr + k0 + ks).to(tl.float32)
            else:
                xv = tl.load(x_ptr + k0 + ks, mask=k0 + ks < K, other=0.0).to(tl.float32)
            ss += xv * xv
        rstd = tl.rsqrt(tl.sum(ss, axis=0) / K + eps)
    acc = tl.zeros([BN, BK], dtype=tl.float32)
    acc_up = tl.zeros([BN, BK], dtype=tl.float32)
    for k0 in range(0, K, BK):
        cols = k0 + ks
        if EVEN:
            xv = tl.load(x_ptr + cols)
        else:
            xv = tl.load(x_ptr + cols, mask=cols < K, other=0.0)
        if NORM:  # as layers.RMSNorm: normalise in float32, round, times the weight, round
            if EVEN:
                nw = tl.load(nw_ptr + cols)
            else:
                nw = tl.load(nw_ptr + cols, mask=cols < K, other=0.0)
            xn = (xv.to(tl.float32) * rstd).to(xv.dtype)
            xv = (nw.to(tl.float32) * xn.to(tl.float32)).to(xv.dtype)
        xf = xv.to(tl.float32)[None, :]
        offs = rows_w[:, None] * K + cols[None, :]
        if EVEN:
            w = tl.load(w_ptr + offs)
        else:
            w = tl.load(w_ptr + offs, mask=(cols < K)[None, :], other=0.0)
        acc += w.to(tl.float32) * xf
        if SILU:
            if EVEN:
                u = tl.load(w_ptr + N * K + offs)
            else:
                u = tl.load(w_ptr + N * K + offs, mask=(cols < K)[None, :], other=0.0)
            acc_up += u.to(tl.float32) * xf
    y = tl.sum(acc, axis=1)
    if BIAS:
        y += tl.load(b_ptr + rows_w).to(tl.float32)
    if SILU:  # as fused.silu_and_mul on the rounded gate_up output
        g = y.to(dt).to(tl.float32)
        up = tl.sum(acc_up, axis=1).to(dt).to(tl.float32)
        y = g / (1.0 + tl.exp(-g)) * up
    if RES:  # the projection rounds, then the residual add rounds (two bf16 ops in HF)
        y = y.to(dt).to(tl.float32) + tl.load(res_ptr + rows_w).to(tl.float32)
    tl.store(out_ptr + rows, y.to(dt), mask=rmask)


def gemv(x: torch.Tensor, weight: torch.Tensor, *, norm_weight: torch.Tensor | None = None,
         eps: float = 0.0, silu: bool = False, residual: torch.Tensor | None = None,
         bias: torch.Tensor | None = None,
         config: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """x [1, K] -> [1, N] (N = weight rows, or half of them with ``silu``).

    ``norm_weight``: x is RMS-normalised (eps) and scaled by it first; ``residual``
    [1, N] is added last; ``config`` = (rows per program, K per step, warps, stages).
    """
    assert x.dim() == 2 and x.shape[0] == 1, "gemv takes one token"
    x = x.contiguous()
    n_all, k = weight.shape
    assert x.shape[1] == k and weight.stride(1) == 1 and weight.stride(0) == k
    n = n_all // 2 if silu else n_all
    res = residual.contiguous() if residual is not None else None
    args: tuple[Any, ...] = (x, weight, norm_weight, eps, silu, res, bias, n, k)
    if config is None:
        key = (n_all, k, x.dtype, x.device, silu, norm_weight is not None, res is not None,
               bias is not None)
        config = _chosen.get(key)
        if config is None:
            if x.device.type != "cuda" or torch.cuda.is_current_stream_capturing():
                config = DEFAULT_CONFIG
            else:
                config = _chosen[key] = _fastest(args)
    return _launch(args, config)


def _launch(args: tuple[Any, ...], config: tuple[int, int, int, int]) -> torch.Tensor:
    x, weight, norm_weight, eps, silu, res, bias, n, k = args
    bn, bk, warps, stages = config
    bk = min(bk, triton.next_power_of_2(k))
    out = torch.empty((1, n), dtype=x.dtype, device=x.device)
    _gemv_kernel[(triton.cdiv(n, bn),)](
        x, weight, out, res if res is not None else out,
        norm_weight if norm_weight is not None else x, bias if bias is not None else x,
        n, k, eps, NORM=norm_weight is not None, SILU=silu, RES=res is not None,
        BIAS=bias is not None, EVEN=k % bk == 0, BN=bn, BK=bk, num_warps=warps,
        num_stages=stages)
    return out


def _fastest(args: tuple[Any, ...]) -> tuple[int, int, int, int]:
    """The candidate setting with the lowest median time (L2 flushed between calls, as
    decode reads each weight from memory)."""
    import triton.testing

    times = [triton.testing.do_bench(lambda c=c: _launch(args, c), warmup=5, rep=25,
                                     return_mode="median") for c in CANDIDATES]
    return CANDIDATES[min(range(len(times)), key=times.__getitem__)]
