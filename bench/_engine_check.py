"""Kernel and engine-path checks for ``bench/engine.py --stages check``.

Owns the accuracy checks that need a GPU: the Triton kernels against a float32 PyTorch
reference on bf16 inputs (with kernel timings), and the engine's Triton + CUDA-graph path
against its own reference attention path on one checkpoint.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch


def rel(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.float() - ref.float()).norm() / ref.float().norm())


def check_kernels() -> dict[str, Any]:
    """Triton kernels vs the float32 reference on bf16 inputs; and kernel timings."""
    import triton.testing

    from ctxkit.engine.attention import reference
    from ctxkit.engine.attention.triton_decode import paged_decode
    from ctxkit.engine.attention.triton_prefill import paged_prefill
    from ctxkit.engine.models import fused
    from ctxkit.engine.models.layers import RMSNorm, RotaryEmbedding

    g = torch.Generator(device="cuda").manual_seed(0)
    H, KV, D, BS, NB = 32, 8, 128, 16, 4096
    kc = torch.randn(NB, KV, BS, D, device="cuda", generator=g).bfloat16()
    vc = torch.randn(NB, KV, BS, D, device="cuda", generator=g).bfloat16()
    kf, vf = kc.float(), vc.float()
    perm = torch.randperm(NB, device="cuda", generator=g).tolist()
    out: dict[str, Any] = {}
    ctx = [1, 17, 1000, 3001]
    tables, i = [], 0
    for c in ctx:
        n = -(-c // BS)
        tables.append(perm[i:i + n])
        i += n
    width = max(len(t) for t in tables)
    bt = torch.tensor([t + [0] * (width - len(t)) for t in tables], dtype=torch.int32,
                      device="cuda")
    q = torch.randn(len(ctx), H, D, device="cuda", generator=g).bfloat16()
    for splits in (1, 5, 32):
        o = paged_decode(q, kc, vc, bt, torch.tensor(ctx, dtype=torch.int32, device="cuda"),
                         D ** -0.5, splits)
        ref = torch.cat([reference.attend(q[j:j + 1].float(), kf, vf, tables[j], c, D ** -0.5)
                         for j, c in enumerate(ctx)])
        out[f"decode_rel_err_splits{splits}"] = rel(o, ref)
    # prefill: chunks after cached prefixes, written to the pool first
    prefixes, qlens = [0, 500, 2000], [1000, 300, 1]
    tables, i = [], 0
    for p, n in zip(prefixes, qlens, strict=False):
        k = -(-(p + n) // BS)
        tables.append(perm[i:i + k])
        i += k
    width = max(len(t) for t in tables)
    bt = torch.tensor([t + [0] * (width - len(t)) for t in tables], dtype=torch.int32,
                      device="cuda")
    t_all = sum(qlens)
    qp = torch.randn(t_all, H, D, device="cuda", generator=g).bfloat16()
    kn = torch.randn(t_all, KV, D, device="cuda", generator=g).bfloat16()
    vn = torch.randn(t_all, KV, D, device="cuda", generator=g).bfloat16()
    slots = torch.tensor([tables[s][pos // BS] * BS + pos % BS for s in range(3)
                          for pos in range(prefixes[s], prefixes[s] + qlens[s])], device="cuda")
    reference.store_kv(kn, vn, kc, vc, slots)
    qsl = [0, qlens[0], qlens[0] + qlens[1], t_all]
    ctxs = [p + n for p, n in zip(prefixes, qlens, strict=False)]
    o = paged_prefill(qp, kn, vn, kc, vc, bt, torch.tensor(ctxs, dtype=torch.int32,
                                                           device="cuda"),
                      torch.tensor(qsl, dtype=torch.int32, device="cuda"), max(qlens),
                      D ** -0.5)
    kf, vf = kc.float(), vc.float()
    ref = torch.cat([reference.attend(qp[qsl[s]:qsl[s + 1]].float(), kf, vf, tables[s],
                                      ctxs[s], D ** -0.5) for s in range(3)])
    out["prefill_rel_err"] = rel(o, ref)
    # small fused kernels
    x, r = (torch.randn(64, 4096, device="cuda", generator=g).bfloat16() for _ in range(2))
    norm = RMSNorm(4096, 1e-5).cuda().bfloat16()
    a, b = fused.rms_norm(x, norm.weight, 1e-5, r)  # type: ignore[misc]
    ra, rb = norm(x, r)
    out["rms_norm_rel_err"] = max(rel(a, ra), rel(b, rb))
    rot = RotaryEmbedding(D, 500000.0, 4096, None).cuda()
    qkv = torch.randn(64, (H + 2 * KV) * D, device="cuda", generator=g).bfloat16()
    q3, k3, v3 = qkv.split([H * D, KV * D, KV * D], -1)
    q3, k3, v3 = q3.view(64, H, D), k3.view(64, KV, D), v3.view(64, KV, D)
    pos = torch.randint(0, 4096, (64,), device="cuda", generator=g)
    sl = torch.randperm(NB * BS, device="cuda", generator=g)[:64]
    qo, ko = fused.rope_and_store(q3, k3, v3, rot.cos, rot.sin, pos, kc, vc, sl)
    rq, rk = rot(pos, q3.float(), k3.float())
    out["rope_rel_err"] = max(rel(qo, rq), rel(ko, rk),
                              rel(vc[sl // BS, :, sl % BS], v3))
    # timings: batch-1 decode over 1k / 32k, one 32k causal prefill
    for c in (1024, 32768):
        n = c // BS
        t1 = torch.tensor([perm[:n]], dtype=torch.int32, device="cuda") % NB
        cl1 = torch.tensor([c], dtype=torch.int32, device="cuda")
        ms = triton.testing.do_bench(lambda t1=t1, cl1=cl1: paged_decode(
            q[:1], kc, vc, t1, cl1, D ** -0.5, 32), warmup=25, rep=100)
        out[f"decode_kernel_us_ctx{c}"] = ms * 1e3
    s = 32768
    qb = torch.randn(s, H, D, device="cuda", generator=g).bfloat16()
    kb = torch.randn(s, KV, D, device="cuda", generator=g).bfloat16()
    vb = torch.randn(s, KV, D, device="cuda", generator=g).bfloat16()
    one = torch.zeros(1, 1, dtype=torch.int32, device="cuda")
    cl = torch.tensor([s], dtype=torch.int32, device="cuda")
    ql = torch.tensor([0, s], dtype=torch.int32, device="cuda")
    ms = triton.testing.do_bench(lambda: paged_prefill(qb, kb, vb, kc, vc, one, cl, ql, s,
                                                       D ** -0.5), warmup=50, rep=200)
    flops = 4 * s * s * D * H / 2
    out["prefill_kernel_32k_ms"] = ms
    out["prefill_kernel_tflops"] = flops / ms / 1e9
    qs, ks, vs = (t.transpose(0, 1)[None] for t in (qb, kb.repeat_interleave(4, 1),
                                                    vb.repeat_interleave(4, 1)))
    ms = triton.testing.do_bench(lambda: torch.nn.functional.scaled_dot_product_attention(
        qs, ks, vs, is_causal=True), warmup=50, rep=200)
    out["sdpa_32k_ms"] = ms
    return out


def check_engine(path: Path, engine: Any, cleanup: Any, ids: Any) -> dict[str, Any]:
    """The Triton + CUDA-graph path vs the engine's reference attention, both bf16."""
    from ctxkit.engine import SamplingParams, Sequence
    from ctxkit.engine.scheduler import Batch

    fast = engine(path, max_model_len=4096, max_num_seqs=16, gpu_memory_utilization=0.3)
    slow = engine(path, max_model_len=4096, max_num_seqs=16, num_kv_blocks=2048,
                  attention="reference", enforce_eager=True)
    vocab = fast.config.model_config.vocab_size
    rng = random.Random(5)
    prompts = [ids(n, vocab, rng) for n in (7, 100, 700, 1500)]
    logit_err = []
    for llm in (fast, slow):
        seq = Sequence(prompts[2], SamplingParams(), seed=0)
        llm.block_manager.allocate(seq)
        i, p, meta, _ = llm.runner.prepare(Batch(items=[(seq, len(prompts[2]))]))
        with torch.inference_mode():
            logit_err.append(llm.runner.model.compute_logits(llm.runner.model(i, p, meta)))
        llm.block_manager.free_seq(seq)
    g = SamplingParams(temperature=0, max_tokens=32, ignore_eos=True, detokenize=False)
    a = [o.token_ids for o in fast.generate(prompts, g)]
    b = [o.token_ids for o in slow.generate(prompts, g)]
    same = sum(x == y for u, v in zip(a, b, strict=False) for x, y in zip(u, v, strict=False))
    first_diff = [next((k for k, (x, y) in enumerate(zip(u, v, strict=False)) if x != y), len(u))
                  for u, v in zip(a, b, strict=False)]
    res = {"engine_prefill_logits_rel_err": rel(logit_err[0], logit_err[1]),
           "engine_greedy_token_agreement": same / sum(len(u) for u in a),
           "engine_first_divergence": first_diff}
    del fast, slow
    cleanup()
    return res
