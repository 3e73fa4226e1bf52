"""Benchmark ctxkit's engine against Hugging Face transformers on one GPU, same run.

Builds random-weight bf16 checkpoints of real shapes (Llama-3-8B, Llama-3.2-1B,
Qwen3-0.6B), measures the HBM roofline with a device-to-device copy, then:

* check: Triton kernels vs the PyTorch reference (relative error, bf16 inputs), and the
  engine's Triton + CUDA-graph path vs its reference path (logits, greedy tokens);
* decode: batch-1 tokens/s at a 1k context (ours vs HF ``generate``; roofline = copy
  bandwidth / bytes read per token);
* prefill (8B): cold 32k-token prompt time to first token (ours vs HF SDPA ``generate``);
  warm: the same 32k prompt with its first 31k tokens cached;
* throughput (8B): 256 requests, prompt and output lengths uniform in 100..1024, output
  tok/s, prefix cache on and off; HF ``generate_batch`` (continuous batching) on a subset;
* oversubscription (8B): the same kind of load with a pool half the demand: preemptions.

Prints a table and, last, one JSON line. Usage (on the GPU machine, repo root):

    python bench/engine.py --stages check,small,8b --out /tmp/bench
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
try:
    import pydantic  # noqa: F401  (ctxkit's core needs it; the engine does not)
except ImportError:  # a bare GPU image: load ctxkit.engine without ctxkit/__init__.py
    import types

    _pkg = types.ModuleType("ctxkit")
    _pkg.__path__ = [str(ROOT / "ctxkit")]
    sys.modules["ctxkit"] = _pkg

import torch  # noqa: E402

RESULTS: dict[str, Any] = {}

SHAPES: dict[str, dict[str, Any]] = {
    "llama3-8b": dict(family="llama", hidden_size=4096, intermediate_size=14336,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                      vocab_size=128256, rope_theta=500000.0, tie_word_embeddings=False,
                      max_position_embeddings=131072,
                      rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 8192}),
    "llama3.2-1b": dict(family="llama", hidden_size=2048, intermediate_size=8192,
                        num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                        head_dim=64, vocab_size=128256, rope_theta=500000.0,
                        tie_word_embeddings=True, max_position_embeddings=131072,
                        rope_scaling={"rope_type": "llama3", "factor": 32.0,
                                      "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 8192}),
    "qwen3-0.6b": dict(family="qwen3", hidden_size=1024, intermediate_size=3072,
                       num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                       head_dim=128, vocab_size=151936, rope_theta=1000000.0,
                       tie_word_embeddings=True, max_position_embeddings=40960),
}


OUT: Path | None = None


def log(msg: str) -> None:
    """Print, and keep results.json current (a run cut short still leaves its numbers)."""
    print(msg, flush=True)
    if OUT is not None:
        (OUT / "results.json").write_text(json.dumps(RESULTS, indent=1, default=str))


def sync() -> None:
    torch.cuda.synchronize()


def copy_bandwidth() -> float:
    """Bytes/s of a device-to-device copy, counting bytes read plus written."""
    n = 4 * 2**30
    src = torch.empty(n, dtype=torch.uint8, device="cuda").random_()
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        dst.copy_(src)
    end.record()
    sync()
    secs = start.elapsed_time(end) / 1e3 / 10
    del src, dst
    return 2 * n / secs


def tokenizer_into(directory: Path) -> None:
    """A small byte-level BPE with a chat template: the engine needs a tokenizer; the
    benchmark sends token ids, so its vocabulary need not match the model's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(["hello world"] * 4, trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>").save_pretrained(directory)


def build(shape: str, root: Path) -> tuple[Path, Any]:
    """Random bf16 weights of ``shape`` on the GPU, saved as safetensors; returns the
    directory and the HF model (still on the GPU, for the baselines)."""
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3Config

    spec = dict(SHAPES[shape])
    family = spec.pop("family")
    cls = LlamaConfig if family == "llama" else Qwen3Config
    cfg = cls(**spec, initializer_range=0.02, eos_token_id=0, bos_token_id=None,
              pad_token_id=None)
    torch.manual_seed(0)
    t = time.perf_counter()
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16,
                                                 attn_implementation="sdpa")
    model.eval()
    model.generation_config.eos_token_id = None
    directory = root / shape
    model.save_pretrained(directory)
    tokenizer_into(directory)
    log(f"[{shape}] built and saved in {time.perf_counter() - t:.1f}s")
    return directory, model


def cleanup() -> None:
    """Return memory of objects the caller has just dropped (engines hold cycles)."""
    gc.collect()
    torch.cuda.empty_cache()


def ids(n: int, vocab: int, rng: random.Random) -> list[int]:
    return [rng.randrange(1, vocab) for _ in range(n)]


# -- HF baselines -------------------------------------------------------------------------

def hf_decode(model: Any, ctx: int, vocab: int, n: int = 64) -> float:
    rng = random.Random(1)
    x = torch.tensor([ids(ctx, vocab, rng)], device="cuda")

    def run(new: int) -> float:
        sync()
        t = time.perf_counter()
        model.generate(x, max_new_tokens=new, min_new_tokens=new, do_sample=False)
        sync()
        return time.perf_counter() - t

    run(2)
    one, many = run(1), run(n + 1)
    return n / (many - one)


def hf_prefill(model: Any, n: int, vocab: int) -> float:
    x = torch.tensor([ids(n, vocab, random.Random(2))], device="cuda")
    times = []
    for _ in range(2):
        sync()
        t = time.perf_counter()
        model.generate(x, max_new_tokens=1, do_sample=False)
        sync()
        times.append(time.perf_counter() - t)
    return min(times)


def hf_generate_batch(model: Any, prompts: list[list[int]], new: int) -> dict[str, Any]:
    from transformers import GenerationConfig

    gen = GenerationConfig(max_new_tokens=new, do_sample=False, eos_token_id=None)
    try:
        warm = GenerationConfig(max_new_tokens=16, do_sample=False, eos_token_id=None)
        model.generate_batch(inputs=prompts[:4], generation_config=warm)  # warm-up
        sync()
        t = time.perf_counter()
        out = model.generate_batch(inputs=prompts, generation_config=gen)
        sync()
        secs = time.perf_counter() - t
    except Exception as exc:  # report, keep the rest of the run
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    tokens = sum(len(o.generated_tokens) for o in out.values())
    return {"requests": len(prompts), "tokens": tokens, "seconds": secs,
            "tok_s": tokens / secs}


# -- ours ---------------------------------------------------------------------------------

def engine(path: Path, **kw: Any) -> Any:
    from ctxkit.engine import LLM

    t = time.perf_counter()
    llm = LLM(str(path), **kw)
    log(f"  engine up in {time.perf_counter() - t:.1f}s: {llm.runner.num_blocks} KV blocks, "
        f"graphs={llm.runner.graphs is not None}")
    return llm


def our_decode(llm: Any, ctx: int, n: int = 128) -> float:
    from ctxkit.engine import SamplingParams

    vocab = llm.config.model_config.vocab_size
    p = SamplingParams(temperature=0, max_tokens=n + 1, ignore_eos=True, detokenize=False)
    llm.generate([ids(ctx, vocab, random.Random(3))], p)  # warm
    seq = llm.add_request(ids(ctx, vocab, random.Random(1)), p)
    while seq.num_output_tokens < 1:
        llm.step()
    t = time.perf_counter()
    while not seq.is_finished:
        llm.step()
    return n / (time.perf_counter() - t)


def our_ttft(llm: Any, prompt: list[int]) -> float:
    from ctxkit.engine import SamplingParams

    p = SamplingParams(temperature=0, max_tokens=1, ignore_eos=True, detokenize=False)
    sync()
    t = time.perf_counter()
    out = llm.generate([prompt], p)
    sync()
    RESULTS.setdefault("ttft_cached_tokens", []).append(out[0].num_cached_tokens)
    return time.perf_counter() - t


def workload(n: int, vocab: int, seed: int = 0) -> list[tuple[list[int], int]]:
    rng = random.Random(seed)
    return [(ids(rng.randint(100, 1024), vocab, rng), rng.randint(100, 1024))
            for _ in range(n)]


def our_throughput(llm: Any, reqs: list[tuple[list[int], int]]) -> dict[str, Any]:
    from ctxkit.engine import SamplingParams

    params = [SamplingParams(temperature=0, max_tokens=m, ignore_eos=True, detokenize=False)
              for _, m in reqs]
    before = llm.stats()["preemptions"]
    sync()
    t = time.perf_counter()
    outs = llm.generate([p for p, _ in reqs], params)
    sync()
    secs = time.perf_counter() - t
    tokens = sum(len(o.token_ids) for o in outs)
    assert all(len(o.token_ids) == m for o, (_, m) in zip(outs, reqs, strict=True)), \
        "short outputs"
    return {"requests": len(reqs), "tokens": tokens, "seconds": secs, "tok_s": tokens / secs,
            "preemptions": llm.stats()["preemptions"] - before}


# -- stages -------------------------------------------------------------------------------

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


def check_engine(path: Path) -> dict[str, Any]:
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


def stage_small(root: Path, bw: float) -> None:
    for shape in ("llama3.2-1b", "qwen3-0.6b"):
        path, hf = build(shape, root)
        vocab = SHAPES[shape]["vocab_size"]
        if shape == "qwen3-0.6b":
            RESULTS["check"].update(check_engine(path))
        weight_bytes = sum(p.numel() * p.element_size() for p in hf.parameters())
        RESULTS[f"{shape}/roofline_tok_s"] = bw / (weight_bytes + 1024 * _kv_bytes(shape))
        RESULTS[f"{shape}/hf_decode_tok_s"] = hf_decode(hf, 1024, vocab)
        del hf
        cleanup()
        llm = engine(path, max_model_len=8192, max_num_seqs=64)
        RESULTS[f"{shape}/decode_tok_s"] = our_decode(llm, 1024)
        log(f"[{shape}] decode {RESULTS[f'{shape}/decode_tok_s']:.0f} tok/s vs HF "
            f"{RESULTS[f'{shape}/hf_decode_tok_s']:.0f}")
        del llm
        cleanup()


def _kv_bytes(shape: str) -> int:
    s = SHAPES[shape]
    head_dim = s.get("head_dim", s["hidden_size"] // s["num_attention_heads"])
    return 2 * s["num_hidden_layers"] * s["num_key_value_heads"] * head_dim * 2


def stage_8b(root: Path, bw: float, hf_requests: int) -> None:
    shape = "llama3-8b"
    path, hf = build(shape, root)
    vocab = SHAPES[shape]["vocab_size"]
    weight_bytes = sum(p.numel() * p.element_size() for p in hf.parameters())
    RESULTS[f"{shape}/roofline_tok_s"] = bw / (weight_bytes + 1024 * _kv_bytes(shape))
    RESULTS[f"{shape}/hf_decode_tok_s"] = hf_decode(hf, 1024, vocab, n=32)
    RESULTS[f"{shape}/hf_prefill_32k_s"] = hf_prefill(hf, 32768, vocab)
    log(f"[{shape}] HF decode {RESULTS[f'{shape}/hf_decode_tok_s']:.1f} tok/s, prefill 32k "
        f"{RESULTS[f'{shape}/hf_prefill_32k_s']:.2f}s")
    reqs = workload(256, vocab)
    hf_prompts = [p for p, _ in reqs[:hf_requests]]
    RESULTS[f"{shape}/hf_generate_batch"] = hf_generate_batch(hf, hf_prompts, 512)
    log(f"[{shape}] HF generate_batch {RESULTS[f'{shape}/hf_generate_batch']}")
    del hf
    cleanup()
    llm = engine(path, max_model_len=34816, max_num_batched_tokens=32768)
    RESULTS[f"{shape}/decode_tok_s"] = our_decode(llm, 1024)
    log(f"[{shape}] decode {RESULTS[f'{shape}/decode_tok_s']:.1f} tok/s")
    rng = random.Random(9)
    long = ids(32768, vocab, rng)
    our_ttft(llm, ids(32768, vocab, random.Random(8)))  # warm the kernels at this size
    llm.reset_prefix_cache()
    RESULTS[f"{shape}/prefill_32k_s"] = our_ttft(llm, long)
    our_ttft(llm, long[:31744] + ids(1024, vocab, rng))  # a first hit: warm the kernels
    warm = long[:31744] + ids(1024, vocab, rng)
    RESULTS[f"{shape}/warm_prefix_ttft_s"] = our_ttft(llm, warm)
    log(f"[{shape}] cold 32k {RESULTS[f'{shape}/prefill_32k_s']:.3f}s, warm "
        f"{RESULTS[f'{shape}/warm_prefix_ttft_s']:.3f}s")
    llm.reset_prefix_cache()
    same = [(p, 512) for p in hf_prompts]
    RESULTS[f"{shape}/hf_subset_ours"] = our_throughput(llm, same)
    llm.reset_prefix_cache()
    RESULTS[f"{shape}/throughput_cache_on"] = our_throughput(llm, reqs)
    llm.block_manager.enable_prefix_caching = False
    llm.reset_prefix_cache()
    RESULTS[f"{shape}/throughput_cache_off"] = our_throughput(llm, reqs)
    log(f"[{shape}] throughput on {RESULTS[f'{shape}/throughput_cache_on']}, off "
        f"{RESULTS[f'{shape}/throughput_cache_off']}")
    # oversubscription: a pool half of what the requests need at once
    from ctxkit.engine import BlockManager, Scheduler

    over = workload(128, vocab, seed=3)
    bs = llm.config.block_size
    demand = sum(-(-(len(p) + m) // bs) for p, m in over)
    llm.block_manager = BlockManager(demand // 2, bs)
    llm.scheduler = Scheduler(llm.config, llm.block_manager)
    try:
        res = our_throughput(llm, over)
        res["pool_blocks"], res["demand_blocks"], res["oom"] = demand // 2, demand, 0
    except torch.cuda.OutOfMemoryError as exc:
        res = {"oom": 1, "error": str(exc)[:200]}
    RESULTS[f"{shape}/oversubscribed_2x"] = res
    log(f"[{shape}] 2x oversubscribed {res}")
    del llm
    cleanup()


def stage_onoff(root: Path) -> None:
    """Prefix cache on vs off with no shared prefixes, alternated after a warm-up pass, so
    order and first-use compilation cannot pass for a difference."""
    shape = "llama3-8b"
    path, hf = build(shape, root)
    del hf
    cleanup()
    llm = engine(path, max_model_len=34816, max_num_batched_tokens=32768)
    reqs = workload(256, SHAPES[shape]["vocab_size"])
    our_throughput(llm, reqs[:64])  # warm-up
    runs = []
    for on in (False, True, False, True):
        llm.block_manager.enable_prefix_caching = on
        llm.reset_prefix_cache()
        r = our_throughput(llm, reqs)
        runs.append({"cache": on, "tok_s": r["tok_s"]})
        log(f"[{shape}] prefix cache {'on' if on else 'off'}: {r['tok_s']:.0f} tok/s")
    RESULTS[f"{shape}/onoff_runs"] = runs
    on_mean = sum(r["tok_s"] for r in runs if r["cache"]) / 2
    off_mean = sum(r["tok_s"] for r in runs if not r["cache"]) / 2
    RESULTS[f"{shape}/onoff_ratio"] = on_mean / off_mean
    log(f"[{shape}] on/off = {on_mean / off_mean:.3f}")


def table() -> str:
    r = RESULTS
    rows = [("metric", "ctxkit", "HF transformers", "ratio / goal")]

    def add(name: str, ours: float | None, hf: float | None, goal: str, fmt: str = ".1f"
            ) -> None:
        ratio = f"{ours / hf:.2f}x" if ours and hf else "-"
        rows.append((name, "-" if ours is None else format(ours, fmt),
                     "-" if hf is None else format(hf, fmt), f"{ratio}  ({goal})"))

    for shape, goal in (("llama3-8b", ">= 200"), ("llama3.2-1b", ">= 700"),
                        ("qwen3-0.6b", "-")):
        if f"{shape}/decode_tok_s" in r:
            add(f"{shape} batch-1 decode tok/s (1k ctx)", r[f"{shape}/decode_tok_s"],
                r.get(f"{shape}/hf_decode_tok_s"),
                f"{goal}; roofline {r[f'{shape}/roofline_tok_s']:.0f}")
    s = "llama3-8b"
    if f"{s}/prefill_32k_s" in r:
        add("8b cold prefill 32k, s (lower is better)", r[f"{s}/prefill_32k_s"],
            r[f"{s}/hf_prefill_32k_s"], "<= 1.0x", ".3f")
        rows.append(("8b warm prefix TTFT (31k of 32k cached), s",
                     f"{r[f'{s}/warm_prefix_ttft_s']:.3f}", "-",
                     f"{r[f'{s}/warm_prefix_ttft_s'] / r[f'{s}/prefill_32k_s']:.3f}x of cold "
                     "(<= 0.1x)"))
        hf = r[f"{s}/hf_generate_batch"].get("tok_s")
        add("8b throughput, HF's subset (512 new each), out tok/s",
            r[f"{s}/hf_subset_ours"]["tok_s"], hf, ">= 15x")
        on, off = r[f"{s}/throughput_cache_on"]["tok_s"], r[f"{s}/throughput_cache_off"]["tok_s"]
        add("8b throughput 256 req, out tok/s", on, hf, ">= 15x")
        rows.append(("8b throughput, prefix cache on / off", f"{on:.0f}", f"{off:.0f}",
                     f"{on / off:.3f}x (>= 0.98x)"))
        o = r[f"{s}/oversubscribed_2x"]
        rows.append(("8b 2x KV oversubscription", f"{o.get('tok_s', 0):.0f} tok/s",
                     "-", f"preemptions {o.get('preemptions')}, OOM {o.get('oom')}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default="check,small,8b")
    ap.add_argument("--root", default="/dev/shm/ctxkit-bench" if Path("/dev/shm").exists()
                    else "/tmp/ctxkit-bench")
    ap.add_argument("--hf-requests", type=int, default=48,
                    help="requests for HF generate_batch (it runs ~500 tok/s on 8B)")
    ap.add_argument("--out", default=None, help="folder for results.json")
    args = ap.parse_args()
    global OUT
    if args.out:
        OUT = Path(args.out)
        OUT.mkdir(parents=True, exist_ok=True)
    stages = args.stages.split(",")
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    RESULTS["gpu"] = torch.cuda.get_device_name()
    RESULTS["torch"] = torch.__version__
    import transformers
    import triton

    RESULTS["transformers"], RESULTS["triton"] = transformers.__version__, triton.__version__
    RESULTS["date"] = time.strftime("%Y-%m-%d")
    bw = copy_bandwidth()
    RESULTS["copy_bandwidth_TBps"] = bw / 1e12
    log(f"device-to-device copy: {bw / 1e12:.2f} TB/s")
    RESULTS["check"] = check_kernels() if "check" in stages else {}
    log(f"kernel check: {json.dumps(RESULTS['check'])}")
    try:
        if "small" in stages:
            stage_small(root, bw)
        if "8b" in stages:
            stage_8b(root, bw, args.hf_requests)
        if "onoff" in stages:
            stage_onoff(root)
    finally:
        print(table(), flush=True)
        log("done")
        print(json.dumps(RESULTS, separators=(",", ":"), default=str), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
