"""Lower bounds on time for ``bench/engine.py``'s rows: bytes over bandwidth, FLOPs over
the matrix rate, both measured in the same run.

Owns the counting. A decode step reads every weight once and each running sequence's K/V
once; a load whose requests all arrive together needs at least as many decode steps as its
longest output. FLOPs are 2 per weight per token plus attention (QK and PV, causal over the
prompt, the whole context for each decoded token). The bound of a row is the larger of the
two times (perfect overlap of memory and arithmetic, which no engine reaches); the
fraction reached is measured rate over bound rate. ``schedule_bounds`` counts the load step
by step instead, for three ways of running a decode step (kernels in order, attention
under the matmuls, two micro-batches on two streams), to say which schedule can pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True, slots=True)
class Shape:
    weight_bytes: int  # all parameters read per step (embedding rows excluded)
    matmul_params: int  # parameters in per-token matmuls (layers, without the LM head)
    head_params: int  # the LM head: needed only for tokens whose logits are sampled
    kv_bytes_per_token: int
    attn_flops_per_pair: int  # 4 * heads * head_dim * layers: QK and PV per (query, key)

    @classmethod
    def of(cls, spec: dict[str, Any], dtype_bytes: int = 2) -> Shape:
        h, inter, layers = spec["hidden_size"], spec["intermediate_size"], \
            spec["num_hidden_layers"]
        heads, kv = spec["num_attention_heads"], spec["num_key_value_heads"]
        d = spec.get("head_dim", h // heads)
        per_layer = h * (heads + 2 * kv) * d + heads * d * h + 3 * h * inter
        matmul = layers * per_layer + h * spec["vocab_size"]
        return cls(weight_bytes=matmul * dtype_bytes, matmul_params=matmul - h * spec[
                       "vocab_size"], head_params=h * spec["vocab_size"],
                   kv_bytes_per_token=2 * layers * kv * d * dtype_bytes,
                   attn_flops_per_pair=4 * heads * d * layers)


def matmul_rate() -> float:
    """bf16 FLOP/s of an 8192^3 product on random data (the compute ceiling)."""
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 2 * n**3 * 10 / (start.elapsed_time(end) / 1e3)


def load_bound(shape: Shape, reqs: list[tuple[int, int]], bw: float, flops: float
               ) -> dict[str, float]:
    """Bound for ``reqs`` (prompt length, output length), all arriving at once."""
    steps = max(o for _, o in reqs)
    kv_reads = sum(o * p + o * (o - 1) // 2 for p, o in reqs)  # context tokens read
    mem = steps * shape.weight_bytes + kv_reads * shape.kv_bytes_per_token
    tokens = sum(p + o for p, o in reqs)
    pairs = sum(p * (p + 1) // 2 for p, _ in reqs) + kv_reads
    fl = 2 * shape.matmul_params * tokens + 2 * shape.head_params * sum(o for _, o in reqs) \
        + shape.attn_flops_per_pair * pairs
    t_mem, t_fl = mem / bw, fl / flops
    out = sum(o for _, o in reqs)
    return {"memory_s": t_mem, "compute_s": t_fl, "bound_s": max(t_mem, t_fl),
            "bound_tok_s": out / max(t_mem, t_fl), "serial_bound_tok_s":
            out / (t_mem + 2 * shape.matmul_params * sum(p for p, _ in reqs) / flops)}


def decode_bound(shape: Shape, ctx: int, bw: float) -> float:
    """Batch-1 decode tok/s roofline at context ``ctx``."""
    return bw / (shape.weight_bytes + ctx * shape.kv_bytes_per_token)


def prefill_bound(shape: Shape, n: int, bw: float, flops: float) -> float:
    """Seconds, at least, to prefill one ``n``-token prompt."""
    fl = 2 * shape.matmul_params * n + 2 * shape.head_params \
        + shape.attn_flops_per_pair * n * (n + 1) // 2
    return max(fl / flops, (shape.weight_bytes + n * shape.kv_bytes_per_token) / bw)


def schedule_bounds(shape: Shape, reqs: list[tuple[int, int]], bw: float, flops: float
                    ) -> dict[str, float]:
    """Bounds for ``reqs`` under three ways of running a decode step, every prompt
    prefilled first (all arrive together) at the matrix rate.

    A decode step ``s`` (1 .. max output - 1) runs the sequences whose output is longer
    than ``s``, each attending over prompt + s tokens. Per step:

    * kernel-serial: the matmuls (the larger of their FLOPs and their weight bytes) and
      then attention (its K/V bytes), each at its own ceiling, one after the other: the
      best an engine reaches that launches its kernels in order on one stream;
    * overlapped: the larger of the step's FLOPs and all its bytes (weights + K/V), as if
      attention ran entirely under the matmuls;
    * two micro-batches: the batch split in two whose kernels overlap on two streams:
      each half reads every weight, so the step moves twice the weight bytes.

    Returns seconds for each and the output tok/s each allows.
    """
    w_layers, w_head = 2 * shape.matmul_params, 2 * shape.head_params
    serial = overlap = micro2 = matmul_s = attn_s = 0.0
    for s in range(1, max(o for _, o in reqs)):
        ctx = [p + s for p, o in reqs if o > s]
        b, kv = len(ctx), sum(ctx) * shape.kv_bytes_per_token
        mm_flops = 2 * (shape.matmul_params + shape.head_params) * b
        fl = mm_flops + shape.attn_flops_per_pair * sum(ctx)
        t_mm = max(2 * shape.matmul_params * b / flops, w_layers / bw) \
            + max(2 * shape.head_params * b / flops, w_head / bw)
        matmul_s += t_mm
        attn_s += kv / bw
        serial += t_mm + kv / bw
        overlap += max(fl / flops, (w_layers + w_head + kv) / bw)
        two = 2 if b > 1 else 1
        micro2 += max(fl / flops, (two * (w_layers + w_head) + kv) / bw)
    prefill = (2 * shape.matmul_params * sum(p for p, _ in reqs)
               + 2 * shape.head_params * len(reqs)
               + shape.attn_flops_per_pair * sum(p * (p + 1) // 2 for p, _ in reqs)) / flops
    out = sum(o for _, o in reqs)
    return {"prefill_s": prefill, "decode_matmul_s": matmul_s, "decode_attention_s": attn_s,
            "decode_kernel_serial_s": serial, "decode_overlapped_s": overlap,
            "decode_two_micro_batches_s": micro2,
            "kernel_serial_tok_s": out / (prefill + serial),
            "overlapped_tok_s": out / (prefill + overlap),
            "two_micro_batches_tok_s": out / (prefill + micro2)}
