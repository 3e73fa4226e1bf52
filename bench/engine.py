"""Benchmark ctxkit's engine against Hugging Face transformers on one GPU, same run.

Builds random-weight bf16 checkpoints of real shapes (Llama-3-8B, Llama-3.2-1B,
Qwen3-0.6B), measures the two ceilings (device-to-device copy bandwidth, bf16 matmul
rate) and gives every row its bound (``_engine_bounds.py``). Stages:

* check: Triton kernels vs a float32 reference; the engine's Triton + CUDA-graph path vs
  its reference path (``_engine_check.py``);
* hf: HF batch-1 decode, eager and static cache + ``torch.compile``, and a 32k prefill;
* hfcb: HF continuous batching on the same 256 requests as ours (``--hf-cap`` seconds);
* 8b: batch-1 decode at 1k context, cold 32k prefill and warm (31k cached) TTFT, the
  256-request load (prompts and outputs uniform in 100..1024) with the prefix cache off
  and on, alternated after a warm-up;
* profile: where the load's step time goes, and a kernel table (``_engine_profile.py``);
* over: the same load on an engine whose physical KV pool is half its peak demand;
* small: batch-1 decode on Llama-3.2-1B (and Qwen3-0.6B with ``qwen``), HF baselines;
* hd: the GPU path against the reference path at head_dim 128 and 80 (padded to 128).

Writes ``results.json`` (kept current while it runs) and profiles under ``--out``; prints
a table last. Usage (on the GPU machine, repo root):

    python bench/engine.py --stages check,hf,8b,profile,over --out /tmp/bench
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
sys.path.insert(0, str(ROOT / "bench"))
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
    "qwen3-hd80": dict(family="qwen3", hidden_size=1280, intermediate_size=3456,
                       num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=8,
                       head_dim=80, vocab_size=32000, rope_theta=1000000.0,
                       tie_word_embeddings=True, max_position_embeddings=40960),
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

def _shape(name: str) -> Any:
    from _engine_bounds import Shape

    return Shape.of(SHAPES[name])


def _decode_split(llm: Any, shape: str, vocab: int) -> None:
    """Batch-1 decode step: host time vs GPU time (CUDA events) per step."""
    from _engine_profile import step_split

    RESULTS[f"{shape}/decode_step_split"] = step_split(
        llm, [(ids(1024, vocab, random.Random(4)), 129)])
    log(f"[{shape}] batch-1 step split {RESULTS[f'{shape}/decode_step_split'].get('decode')}")


def stage_head_dims(root: Path) -> None:
    """The Triton + CUDA-graph path vs the reference path, with a power-of-two head size
    and with head_dim 80 (the pool pads it to 128)."""
    from _engine_check import check_engine

    for shape in ("qwen3-0.6b", "qwen3-hd80"):
        path, hf = build(shape, root)
        del hf
        cleanup()
        RESULTS[f"{shape}/check_engine"] = check_engine(path, engine, cleanup, ids)
        log(f"[{shape}] {RESULTS[f'{shape}/check_engine']}")
        llm = engine(path, max_model_len=8192, max_num_seqs=64)
        RESULTS[f"{shape}/decode_tok_s"] = our_decode(llm, 1024)
        log(f"[{shape}] batch-1 decode {RESULTS[f'{shape}/decode_tok_s']:.0f} tok/s")
        del llm
        cleanup()


def stage_small(root: Path, bw: float, stages: list[str]) -> None:
    from _engine_bounds import decode_bound
    from _engine_check import check_engine
    from _engine_hf import decode_rate

    shapes = ["llama3.2-1b"] + (["qwen3-0.6b"] if "qwen" in stages else [])
    for shape in shapes:
        path, hf = build(shape, root)
        vocab = SHAPES[shape]["vocab_size"]
        if shape == "qwen3-0.6b":
            RESULTS["check"].update(check_engine(path, engine, cleanup, ids))
        RESULTS[f"{shape}/roofline_tok_s"] = decode_bound(_shape(shape), 1024, bw)
        prompt = ids(1024, vocab, random.Random(1))
        RESULTS[f"{shape}/hf_decode"] = decode_rate(hf, prompt, 64, compiled=False)
        if shape == "llama3.2-1b":
            RESULTS[f"{shape}/hf_decode_compiled"] = decode_rate(hf, prompt, 128, compiled=True)
        del hf
        cleanup()
        llm = engine(path, max_model_len=8192, max_num_seqs=64)
        RESULTS[f"{shape}/decode_tok_s"] = our_decode(llm, 1024, n=256)
        _decode_split(llm, shape, vocab)
        log(f"[{shape}] decode {RESULTS[f'{shape}/decode_tok_s']:.0f} tok/s vs HF "
            f"{RESULTS[f'{shape}/hf_decode']} compiled "
            f"{RESULTS.get(f'{shape}/hf_decode_compiled')}")
        del llm
        cleanup()


def stage_8b(root: Path, bw: float, fl: float, stages: list[str], hf_cap: float) -> None:
    from _engine_bounds import decode_bound, load_bound, prefill_bound, schedule_bounds
    from _engine_hf import continuous_batching, decode_rate, prefill_seconds

    shape = "llama3-8b"
    sh = _shape(shape)
    path, hf = build(shape, root)
    vocab = SHAPES[shape]["vocab_size"]
    reqs = workload(256, vocab)
    lens = [(len(p), m) for p, m in reqs]
    RESULTS[f"{shape}/load_bound"] = load_bound(sh, lens, bw, fl)
    RESULTS[f"{shape}/schedule_bounds"] = schedule_bounds(sh, lens, bw, fl)
    RESULTS[f"{shape}/roofline_tok_s"] = decode_bound(sh, 1024, bw)
    RESULTS[f"{shape}/prefill_32k_bound_s"] = prefill_bound(sh, 32768, bw, fl)
    if "hf" in stages:
        prompt = ids(1024, vocab, random.Random(1))
        RESULTS[f"{shape}/hf_decode"] = decode_rate(hf, prompt, 32, compiled=False)
        RESULTS[f"{shape}/hf_decode_compiled"] = decode_rate(hf, prompt, 64, compiled=True)
        RESULTS[f"{shape}/hf_prefill_32k_s"] = prefill_seconds(
            hf, ids(32768, vocab, random.Random(2)))
        log(f"[{shape}] HF decode {RESULTS[f'{shape}/hf_decode']}, compiled "
            f"{RESULTS[f'{shape}/hf_decode_compiled']}, prefill 32k "
            f"{RESULTS[f'{shape}/hf_prefill_32k_s']:.2f}s")
    if "hfcb" in stages:
        RESULTS[f"{shape}/hf_continuous_256"] = continuous_batching(hf, reqs, hf_cap)
        log(f"[{shape}] HF continuous batching, 256 req: "
            f"{RESULTS[f'{shape}/hf_continuous_256']}")
    del hf
    cleanup()
    if "8b" in stages:
        stage_8b_ours(path, reqs, stages)
    if "host" in stages:
        from _engine_sessions import stage_host

        RESULTS[f"{shape}/host_tier"] = stage_host(engine, path, sh.kv_bytes_per_token)
        log(f"[{shape}] host tier: {json.dumps(RESULTS[f'{shape}/host_tier'])}")
        cleanup()
    if "over" in stages:
        stage_over(path, reqs)


def stage_8b_ours(path: Path, reqs: list[tuple[list[int], int]], stages: list[str]) -> None:
    shape = "llama3-8b"
    vocab = SHAPES[shape]["vocab_size"]
    llm = engine(path, max_model_len=34816, max_num_batched_tokens=32768)
    RESULTS[f"{shape}/config"] = {"max_num_seqs": llm.config.max_num_seqs,
                                  "max_num_batched_tokens": llm.config.max_num_batched_tokens,
                                  "kv_blocks": llm.runner.num_blocks}
    RESULTS[f"{shape}/decode_tok_s"] = our_decode(llm, 1024)
    _decode_split(llm, shape, vocab)
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
    our_throughput(llm, reqs[:64])  # warm-up
    runs = []
    for on in (False, True, False, True):
        llm.block_manager.enable_prefix_caching = on
        llm.reset_prefix_cache()
        r = our_throughput(llm, reqs)
        runs.append({"cache": on, **r})
        log(f"[{shape}] 256 req, prefix cache {'on' if on else 'off'}: {r['tok_s']:.0f} tok/s")
    llm.block_manager.enable_prefix_caching = True
    RESULTS[f"{shape}/throughput_runs"] = runs
    if "profile" in stages:
        from _engine_profile import kernel_table, step_split

        llm.reset_prefix_cache()
        RESULTS[f"{shape}/step_split"] = step_split(llm, reqs)
        log(f"[{shape}] step split {json.dumps(RESULTS[f'{shape}/step_split'])}")
        llm.reset_prefix_cache()
        RESULTS[f"{shape}/kernels"] = kernel_table(llm, reqs, OUT)
        log(f"[{shape}] kernels {json.dumps(RESULTS[f'{shape}/kernels'])}")
    del llm
    cleanup()


def stage_over(path: Path, reqs: list[tuple[list[int], int]]) -> None:
    """A physical KV pool of half the load's peak demand: the engine must preempt."""
    shape = "llama3-8b"
    bs = 16
    demand = sum(-(-(len(p) + m) // bs) for p, m in reqs)
    res: dict[str, Any] = {"demand_blocks": demand, "pool_blocks": demand // 2}
    try:
        llm = engine(path, max_model_len=4096, max_num_batched_tokens=32768,
                     num_kv_blocks=demand // 2, block_size=bs)
        res["pool_bytes"] = llm.runner.num_blocks * llm.runner.block_bytes
        our_throughput(llm, reqs[:8])  # compile the kernels outside the timed run
        r = our_throughput(llm, reqs)
        st = llm.stats()
        res.update(r, recomputed_tokens=st["recomputed_tokens"], oom=None)
        del llm
    except torch.cuda.OutOfMemoryError as exc:
        res["oom"] = str(exc)[:300]
    cleanup()
    RESULTS[f"{shape}/oversubscribed_2x"] = res
    log(f"[{shape}] pool at half the demand: {res}")


def table() -> str:
    r = RESULTS
    rows = [("metric", "ctxkit", "baseline", "ratio", "bound", "of bound")]

    def f(x: Any, fmt: str = ".1f") -> str:
        return "-" if x is None else format(x, fmt)

    def rate(d: Any) -> float | None:
        return d.get("tok_s") if isinstance(d, dict) else None

    for shape in ("llama3-8b", "llama3.2-1b", "qwen3-0.6b"):
        ours, roof = r.get(f"{shape}/decode_tok_s"), r.get(f"{shape}/roofline_tok_s")
        if ours is None:
            continue
        for name, key in (("HF eager", "hf_decode"), ("HF static+compile",
                                                     "hf_decode_compiled")):
            base = rate(r.get(f"{shape}/{key}"))
            if f"{shape}/{key}" in r:
                rows.append((f"{shape} batch-1 tok/s vs {name}", f(ours), f(base),
                             f"{ours / base:.2f}x" if base else "-", f(roof),
                             f"{ours / roof:.0%}" if roof else "-"))
    s = "llama3-8b"
    if f"{s}/prefill_32k_s" in r:
        cold, bound = r[f"{s}/prefill_32k_s"], r[f"{s}/prefill_32k_bound_s"]
        hf = r.get(f"{s}/hf_prefill_32k_s")
        rows.append(("8b cold 32k prefill s", f(cold, ".3f"), f(hf, ".3f"),
                     f"{cold / hf:.2f}x" if hf else "-", f(bound, ".3f"),
                     f"{bound / cold:.0%}"))
        w = r[f"{s}/warm_prefix_ttft_s"]
        rows.append(("8b warm TTFT (31k of 32k cached) s", f(w, ".3f"), f(cold, ".3f"),
                     f"{w / cold:.3f}x", "-", "-"))
    runs = r.get(f"{s}/throughput_runs")
    if runs:
        on = [x["tok_s"] for x in runs if x["cache"]]
        off = [x["tok_s"] for x in runs if not x["cache"]]
        best = max(on)
        lb = r[f"{s}/load_bound"]["bound_tok_s"]
        hf = r.get(f"{s}/hf_continuous_256", {})
        rows.append(("8b 256 req out tok/s (cache on)", f(best, ".0f"), f(hf.get("tok_s"), ".0f"),
                     f"{best / hf['tok_s']:.1f}x" if hf.get("tok_s") else "-", f(lb, ".0f"),
                     f"{best / lb:.0%}"))
        rows.append(("8b prefix cache on / off", f"{sum(on) / len(on):.0f}",
                     f"{sum(off) / len(off):.0f}", f"{sum(on) / sum(off):.3f}x", "-", "-"))
    h = r.get(f"{s}/host_tier")
    if h and "on" in h:
        on_t, off_t = h["on"]["returning_mean_ttft_s"], h["off"]["returning_mean_ttft_s"]
        rows.append((f"8b returning-session TTFT s, host tier ({h['sessions']} x "
                     f"{h['prefix_tokens'] // 1000}k, pool holds {h['sessions_pool_holds']:.1f})",
                     f(on_t, ".3f"), f(off_t, ".3f"), f"{on_t / off_t:.3f}x", "-", "-"))
    hf = r.get(f"{s}/hf_continuous_256")
    if hf and not runs:
        rows.append(("8b HF continuous batching 256 req tok/s", "-", f(hf.get("tok_s"), ".0f"),
                     f"finished {hf.get('finished')}/{hf.get('requests')}", "-", "-"))
    o = r.get(f"{s}/oversubscribed_2x")
    if o:
        rows.append(("8b pool = half the demand, tok/s", f(o.get("tok_s"), ".0f"), "-",
                     f"preempt {o.get('preemptions')}, recomputed {o.get('recomputed_tokens')}",
                     "-", f"OOM: {o.get('oom')}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(6)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default="check,small,hf,8b,over")
    ap.add_argument("--root", default="/dev/shm/ctxkit-bench" if Path("/dev/shm").exists()
                    else "/tmp/ctxkit-bench")
    ap.add_argument("--hf-cap", type=float, default=300.0,
                    help="seconds HF continuous batching may run on the 256 requests")
    ap.add_argument("--out", default=None, help="folder for results.json and profiles")
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
    from _engine_bounds import matmul_rate

    RESULTS["transformers"], RESULTS["triton"] = transformers.__version__, triton.__version__
    RESULTS["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    RESULTS["stages"] = stages
    bw, fl = copy_bandwidth(), matmul_rate()
    RESULTS["copy_bandwidth_TBps"], RESULTS["matmul_TFLOPs"] = bw / 1e12, fl / 1e12
    log(f"device-to-device copy: {bw / 1e12:.2f} TB/s; bf16 matmul {fl / 1e12:.0f} TFLOP/s")
    if "check" in stages:
        from _engine_check import check_kernels

        RESULTS["check"] = check_kernels()
    else:
        RESULTS["check"] = {}
    log(f"kernel check: {json.dumps(RESULTS['check'])}")
    try:
        if any(x in stages for x in ("hf", "hfcb", "8b", "host", "over")):
            stage_8b(root, bw, fl, stages, args.hf_cap)
        if "small" in stages:
            stage_small(root, bw, stages)
        if "hd" in stages:
            stage_head_dims(root)
    finally:
        print(table(), flush=True)
        log("done")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
