"""Where a decode step of the 256-request load loses to its bound, kernel by kernel, and
which decode-attention launch settings pay: one GPU call.

For the Llama-3-8B shape, with both ceilings measured in the same run:

* each matmul of a decode step (qkv, o, gate_up, down, LM head) at batch sizes 1..256
  against max(FLOPs / matmul rate, bytes / copy bandwidth), and up to batch 16 also as
  W @ x^T (cuBLAS's other orientation); weights rotate among enough copies that the L2
  cache holds none of them between calls;
* the paged decode attention at the load's contexts (the first 32, 128 and 256 prompts of
  the 256-request workload, scattered blocks) for a grid of (BLOCK_N, num_warps,
  num_stages), against its K/V bytes over copy bandwidth; each setting's output is
  checked against the default's (``launch_settings``), and that against the PyTorch
  reference; the summary line sets the best against (64, 4, 2), the settings before
  ``launch_settings``.

``--smoke`` runs the same code on the CPU at toy sizes through Triton's interpreter
(timings meaningless): a check of the script, not a measurement.

    python bench/engine_step_probe.py --out DIR   # on the GPU machine, repo root
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SMOKE = "--smoke" in sys.argv
if SMOKE:
    os.environ["TRITON_INTERPRET"] = "1"  # before triton compiles anything
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

import engine as bench  # noqa: E402
import torch  # noqa: E402
import triton  # noqa: E402

BATCHES = (1, 16, 32, 64, 96, 128, 160, 192, 224, 256)
ATTN_BATCHES = (32, 128, 256)
BLOCK_NS, WARPS, STAGES = (32, 64, 128), (4, 8), (2, 3, 4)


def timer(fn: Callable[[], Any]) -> float:
    """Median seconds of ``fn`` (CUDA events via do_bench; one host-timed call in smoke)."""
    if SMOKE:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    return float(triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")) / 1e3


def matmuls(spec: dict[str, Any], dev: str, bw: float, fl: float,
            batches: tuple[int, ...]) -> list[dict[str, Any]]:
    h, inter, v = spec["hidden_size"], spec["intermediate_size"], spec["vocab_size"]
    heads, kv = spec["num_attention_heads"], spec["num_key_value_heads"]
    d = spec.get("head_dim", h // heads)
    shapes = {"qkv": ((heads + 2 * kv) * d, h), "o": (h, heads * d),
              "gate_up": (2 * inter, h), "down": (h, inter), "lm_head": (v, h)}
    rows = []
    for name, (n, k) in shapes.items():
        copies = 1 if SMOKE else max(2, -(-(512 * 2**20) // (2 * n * k)))  # > 8x the L2
        ws = [torch.randn(n, k, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
        it = itertools.cycle(ws)
        for m in batches:
            x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
            sec = timer(lambda x=x, it=it: torch.nn.functional.linear(x, next(it)))
            flops, nbytes = 2 * m * n * k, 2 * (n * k + m * k + m * n)
            bound = max(flops / fl, nbytes / bw)
            rows.append({"matmul": name, "m": m, "us": sec * 1e6, "bound_us": bound * 1e6,
                         "of_bound": bound / sec, "tflops": flops / sec / 1e12})
            if m <= 16:  # W @ x^T: cuBLAS's other orientation (its GEMV kernels at m = 1)
                sec = timer(lambda x=x, it=it: torch.matmul(next(it), x.t()))
                rows.append({"matmul": name + " (W@x^T)", "m": m, "us": sec * 1e6,
                             "bound_us": bound * 1e6, "of_bound": bound / sec,
                             "tflops": flops / sec / 1e12})
        del ws
    return rows


def attention(spec: dict[str, Any], dev: str, bw: float, num_sms: int,
              batches: tuple[int, ...], prompts: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for b in batches:
        rows += attention_batch(spec, dev, bw, num_sms, [p + 1 for p in prompts[:b]])
    return rows


def attention_batch(spec: dict[str, Any], dev: str, bw: float, num_sms: int,
                    ctx: list[int], block_size: int = 16) -> list[dict[str, Any]]:
    """Every launch setting of the decode kernel on one batch of contexts ``ctx``."""
    from ctxkit.engine.attention import num_decode_splits, reference
    from ctxkit.engine.attention.triton_decode import paged_decode

    h, kv = spec["num_attention_heads"], spec["num_key_value_heads"]
    d = spec.get("head_dim", spec["hidden_size"] // h)
    g = torch.Generator(device=dev).manual_seed(len(ctx))
    b = len(ctx)
    nblocks = [-(-c // block_size) for c in ctx]
    nb = sum(nblocks)
    dt = torch.float32 if SMOKE else torch.bfloat16
    kc = torch.randn(nb, kv, block_size, d, device=dev, generator=g).to(dt)
    vc = torch.randn(nb, kv, block_size, d, device=dev, generator=g).to(dt)
    perm = torch.randperm(nb, device=dev, generator=g).tolist()  # scattered blocks
    tables, i = [], 0
    for n in nblocks:
        tables.append(perm[i:i + n])
        i += n
    width = max(nblocks)
    bt = torch.tensor([t + [0] * (width - len(t)) for t in tables], dtype=torch.int32,
                      device=dev)
    cl = torch.tensor(ctx, dtype=torch.int32, device=dev)
    q = torch.randn(b, h, d, device=dev, generator=g).to(dt)
    splits = num_decode_splits(b, kv, num_sms)
    scale = d ** -0.5
    base = paged_decode(q, kc, vc, bt, cl, scale, splits)
    ref_err = 0.0
    for r in (0, b - 1):
        ref = reference.attend(q[r:r + 1].float(), kc.float(), vc.float(), tables[r],
                               ctx[r], scale)[0]
        ref_err = max(ref_err, float((base[r].float() - ref).norm() / ref.norm()))
    nbytes = 2 * sum(ctx) * kv * d * kc.element_size() + 2 * q.numel() * q.element_size()
    rows = []
    for bn, w, st in itertools.product(BLOCK_NS, WARPS, STAGES):
        def run(bn: int = bn, w: int = w, st: int = st) -> torch.Tensor:
            return paged_decode(q, kc, vc, bt, cl, scale, splits, block_n=bn, num_warps=w,
                                num_stages=st)
        row: dict[str, Any] = {"batch": b, "splits": splits, "block_n": bn, "num_warps": w,
                               "num_stages": st, "kv_gb": nbytes / 1e9,
                               "default_rel_err_vs_reference": ref_err}
        try:  # a setting may not fit (shared memory): recorded, not fatal
            out = run()
            row["rel_err_vs_default"] = float((out.float() - base.float()).norm()
                                              / base.float().norm())
            sec = timer(run)
        except Exception as e:  # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
        else:
            row.update(us=sec * 1e6, of_copy_bw=nbytes / sec / bw)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="folder for results.json and log.txt")
    ap.add_argument("--smoke", action="store_true", help="CPU, toy sizes, interpreter")
    args = ap.parse_args()
    spec = dict(bench.SHAPES["llama3-8b"])
    prompts = [len(p) for p, _ in bench.workload(256, spec["vocab_size"])]
    res: dict[str, Any] = {"smoke": SMOKE}
    if SMOKE:
        spec.update(hidden_size=64, intermediate_size=128, num_attention_heads=4,
                    num_key_value_heads=2, vocab_size=256)
        dev, bw, fl, sms = "cpu", 1e11, 1e12, 8
        batches, attn_batches, prompts = (1, 16), (2, 4), [p // 16 for p in prompts]
    else:
        from _engine_bounds import matmul_rate

        dev, batches, attn_batches = "cuda", BATCHES, ATTN_BATCHES
        bw, fl = bench.copy_bandwidth(), matmul_rate()
        sms = torch.cuda.get_device_properties(0).multi_processor_count
        res.update(gpu=torch.cuda.get_device_name(), torch=torch.__version__,
                   triton=triton.__version__)
    res.update(copy_bandwidth_TBps=bw / 1e12, matmul_TFLOPs=fl / 1e12)
    res["matmuls"] = matmuls(spec, dev, bw, fl, batches)
    res["attention"] = attention(spec, dev, bw, sms, attn_batches, prompts)
    lines = [f"copy {bw / 1e12:.2f} TB/s, matmul {fl / 1e12:.0f} TFLOP/s"
             + (" (smoke: placeholders, timings meaningless)" if SMOKE else "")]
    lines += [f"{r['matmul']:>16} m={r['m']:<4} {r['us']:9.1f} us  bound {r['bound_us']:8.1f} us"
              f"  {r['of_bound']:5.0%}" for r in res["matmuls"]]
    for b in attn_batches:
        rows = sorted((r for r in res["attention"] if r["batch"] == b and "us" in r),
                      key=lambda r: r["us"])
        failed = sum(1 for r in res["attention"] if r["batch"] == b and "error" in r)
        default = next(r for r in rows if (r["block_n"], r["num_warps"], r["num_stages"])
                       == (64, 4, 2))
        best = rows[0]
        lines.append(
            f"attention b={b} splits={best['splits']} {best['kv_gb']:.3f} GB: (64, 4, 2) "
            f"{default['us']:.1f} us ({default['of_copy_bw']:.0%} of copy bw); best "
            f"(BLOCK_N {best['block_n']}, warps {best['num_warps']}, stages "
            f"{best['num_stages']}) {best['us']:.1f} us ({best['of_copy_bw']:.0%}); worst "
            f"rel err vs default {max(r['rel_err_vs_default'] for r in rows):.1e}, default "
            f"vs reference {default['default_rel_err_vs_reference']:.1e}; "
            f"{failed} settings failed to launch")
    text = "\n".join(lines)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(res, indent=1))
        (out / "log.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
