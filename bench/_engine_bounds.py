"""Lower bounds on time for ``bench/engine.py``'s rows: bytes over bandwidth, FLOPs over
the matrix rate, both measured in the same run.

Owns the counting. A decode step reads every weight once and each running sequence's K/V
once; a load whose requests all arrive together needs at least as many decode steps as its
longest output. FLOPs are 2 per weight per token plus attention (QK and PV, causal over the
prompt, the whole context for each decoded token). The bound of a row is the larger of the
two times (perfect overlap of memory and arithmetic, which no engine reaches); the
fraction reached is measured rate over bound rate.
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
