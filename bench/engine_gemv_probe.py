"""Does a fused one-token GEMV (``ctxkit/engine/models/gemv.py``) beat cuBLAS at batch-1
decode? One GPU call.

For the Llama-3-8B and Llama-3.2-1B shapes, with the copy bandwidth measured in the same
run, each layer projection at m = 1 (qkv with RMSNorm in the prologue, o with the
residual add, gate_up with RMSNorm and SiLU-and-mul, down with the residual add):

* every Triton launch setting (rows per program, K per step, warps, stages) against
  ``F.linear`` (cuBLAS) on the bare projection, timed three ways: replayed from a CUDA
  graph over enough weight copies that the L2 cache holds none between calls (the real
  case: graph replay, weights from HBM); ``do_bench`` with the L2 flushed between calls;
  ``do_bench`` on one weight, not flushed;
* outputs checked against the float32 PyTorch reference of the same math on fresh random
  inputs (output poisoned first);
* the whole stack of layers without attention, captured in one CUDA graph: the engine's
  current small-kernel path (fused RMSNorm+residual, cuBLAS, fused SiLU-and-mul) against
  four fused GEMVs per layer with each projection's best setting; distinct weights per
  layer, so each step reads every weight from HBM as decode does.

``--smoke`` runs the same code on the CPU at toy sizes through Triton's interpreter
(timings meaningless): a check of the script, not a measurement.

    python bench/engine_gemv_probe.py --out DIR   # on the GPU machine, repo root
"""

from __future__ import annotations

import argparse
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

import engine as _bench  # noqa: E402,F401  (loads ctxkit.engine on a GPU image without pydantic)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ctxkit.engine.models import fused, gemv  # noqa: E402

DEV = "cpu" if SMOKE else "cuda"
DT = torch.float32 if SMOKE else torch.bfloat16
EPS = 1e-5
SHAPES = {  # hidden, q size, kv size, intermediate, layers
    "llama3-8b": (4096, 4096, 1024, 14336, 32),
    "llama3.2-1b": (2048, 2048, 512, 8192, 16),
}
CONFIGS = [(4, 512, 4, 1), (8, 512, 4, 1), (8, 1024, 4, 1), (16, 512, 4, 1),
           (32, 256, 4, 2), (16, 1024, 8, 1)]
if SMOKE:
    SHAPES = {"toy": (64, 64, 32, 96, 2)}
    CONFIGS = [(4, 32, 4, 1), (8, 64, 4, 1)]


def log(msg: str) -> None:
    print(msg, flush=True)


def rel(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double() - ref.double()).norm() / ref.double().norm())


def projections(name: str) -> dict[str, dict[str, Any]]:
    hid, q, kv, inter, _ = SHAPES[name]
    return {"qkv": dict(n=q + 2 * kv, k=hid, norm=True, silu=False, res=False),
            "o": dict(n=hid, k=q, norm=False, silu=False, res=True),
            "gate_up": dict(n=2 * inter, k=hid, norm=True, silu=True, res=False),
            "down": dict(n=hid, k=inter, norm=False, silu=False, res=True)}


def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape, device=DEV) * scale).to(DT)


def reference(p: dict[str, Any], x: torch.Tensor, w: torch.Tensor, nw: torch.Tensor,
              res: torch.Tensor) -> torch.Tensor:
    """The same math in float64 (layers.RMSNorm's roundings kept in the model dtype)."""
    if p["norm"]:
        xf = x.double()
        h = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)).to(DT)
        x = (nw.double() * h.double()).to(DT)
    y = x.double() @ w.double().T
    if p["silu"]:
        g, u = y.chunk(2, dim=-1)
        y = F.silu(g.to(DT).double()) * u.to(DT).double()
    if p["res"]:
        y = y.to(DT).double() + res.double()
    return y


def today(p: dict[str, Any], x: torch.Tensor, w: torch.Tensor, nw: torch.Tensor,
          res: torch.Tensor) -> torch.Tensor:
    """The engine's path without the GEMVs: RMSNorm in the model dtype, cuBLAS, SiLU-and-mul
    and the residual add each rounded to the model dtype (for the error baseline)."""
    if p["norm"]:
        xf = x.float()
        h = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)).to(DT)
        x = nw * h
    y = F.linear(x, w)
    if p["silu"]:
        g, u = y.chunk(2, dim=-1)
        y = F.silu(g) * u
    if p["res"]:
        y = y + res
    return y


def call(p: dict[str, Any], x: torch.Tensor, w: torch.Tensor, nw: torch.Tensor,
         res: torch.Tensor, cfg: tuple[int, int, int, int]) -> torch.Tensor:
    return gemv.gemv(x, w, norm_weight=nw if p["norm"] else None, eps=EPS, silu=p["silu"],
                     residual=res if p["res"] else None, config=cfg)


def graph_time(fns: list[Callable[[], Any]], reps: int) -> float:
    """Seconds per call of fns (each on its own weight copy), replayed from one graph."""
    if SMOKE:
        t = time.perf_counter()
        for f in fns:
            f()
        return (time.perf_counter() - t) / len(fns)
    for f in fns:
        f()
    torch.cuda.synchronize()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for f in fns:
            f()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(reps):
            for f in fns:
                f()
    g.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1e3 / (reps * len(fns)))
    del g
    return sorted(times)[len(times) // 2]


def bench_time(f: Callable[[], Any], flush: bool) -> float:
    if SMOKE:
        return graph_time([f], 1)
    import triton.testing

    if flush:
        return float(triton.testing.do_bench(f, warmup=25, rep=100,
                                             return_mode="median")) / 1e3
    return graph_time([f], 50)  # unflushed: many calls in a graph, no cache writes between


def probe_projection(name: str, pname: str, p: dict[str, Any], bw: float
                     ) -> dict[str, Any]:
    n, k = p["n"], p["k"]
    wbytes = n * k * 2
    copies = 1 if SMOKE else max(2, -(-(1 << 30) // wbytes))  # >= 1 GiB of weights
    ws = [rand(n, k, scale=k ** -0.5) for _ in range(copies)]
    x = rand(1, k)
    nw = rand(k, scale=0.2) + 1
    nout = n // 2 if p["silu"] else n
    res = rand(1, nout)
    xin = [x] * copies
    row: dict[str, Any] = {"n": n, "k": k, "weight_MB": wbytes / 1e6, "copies": copies,
                           "bound_us": wbytes / bw * 1e6}
    # correctness of every setting first, on fresh inputs, output poisoned
    errs = {}
    for cfg in CONFIGS:
        xc, wc, nwc, rc = rand(1, k), rand(n, k, scale=k ** -0.5), rand(k, scale=0.2) + 1, \
            rand(1, nout)
        out = call(p, xc, wc, nwc, rc, cfg)
        ref = reference(p, xc, wc, nwc, rc)
        errs[str(cfg)] = rel(out, ref)
        row.setdefault("cublas_rel_err", []).append(rel(today(p, xc, wc, nwc, rc), ref))
    row["rel_err"] = errs
    bad = {c: e for c, e in errs.items() if not e < 2e-2}
    assert not bad, f"{name}/{pname}: settings off the reference: {bad}"
    # cuBLAS on the bare projection (what the engine runs today for this node)
    cub = graph_time([lambda w=w, x=x: F.linear(x, w) for w, x in zip(ws, xin,
                                                                       strict=True)], 4)
    row["cublas_graph_us"] = cub * 1e6
    row["cublas_flushed_us"] = bench_time(lambda: F.linear(x, ws[0]), True) * 1e6
    row["cublas_hot_us"] = bench_time(lambda: F.linear(x, ws[0]), False) * 1e6
    row["triton"] = {}
    for cfg in CONFIGS:
        t = graph_time([lambda w=w, cfg=cfg: call(p, x, w, nw, res, cfg) for w in ws], 4)
        row["triton"][str(cfg)] = {"graph_us": t * 1e6}
    best = min(row["triton"], key=lambda c: row["triton"][c]["graph_us"])
    bcfg = tuple(int(v) for v in best.strip("()").split(","))
    row["best"] = best
    row["best_flushed_us"] = bench_time(lambda: call(p, x, ws[0], nw, res, bcfg), True) * 1e6
    row["best_hot_us"] = bench_time(lambda: call(p, x, ws[0], nw, res, bcfg), False) * 1e6
    bt = row["triton"][best]["graph_us"]
    log(f"[{name}] {pname:>7} {n}x{k}: bound {row['bound_us']:.1f} us; cuBLAS graph "
        f"{row['cublas_graph_us']:.1f} ({row['bound_us'] / row['cublas_graph_us']:.0%}) "
        f"flushed {row['cublas_flushed_us']:.1f}; best Triton {best} graph {bt:.1f} "
        f"({row['bound_us'] / bt:.0%}) flushed {row['best_flushed_us']:.1f}; "
        f"max rel err {max(errs.values()):.1e} (cuBLAS path {max(row['cublas_rel_err']):.1e})")
    return row


def chain(name: str, best: dict[str, tuple[int, int, int, int]], bw: float
          ) -> dict[str, Any]:
    """All layers' projections and small kernels, no attention: today's path vs GEMVs."""
    hid, q, kv, inter, layers = SHAPES[name]
    layer_w = []
    for _ in range(layers):
        layer_w.append({"qkv": rand(q + 2 * kv, hid, scale=hid ** -0.5),
                        "o": rand(hid, q, scale=q ** -0.5),
                        "gate_up": rand(2 * inter, hid, scale=hid ** -0.5),
                        "down": rand(hid, inter, scale=inter ** -0.5),
                        "ln1": rand(hid, scale=0.2) + 1, "ln2": rand(hid, scale=0.2) + 1})
    x0 = rand(1, hid)
    attn = rand(1, q)  # stands for attention's output: the same for both paths

    def today() -> tuple[torch.Tensor, torch.Tensor]:
        x, res = x0, x0
        for lw in layer_w:
            if x is x0:
                h, res = fused.rms_norm(x, lw["ln1"], EPS), x
            else:
                h, res = fused.rms_norm(x, lw["ln1"], EPS, res)
            F.linear(h, lw["qkv"])
            o = F.linear(attn, lw["o"])
            h, res = fused.rms_norm(o, lw["ln2"], EPS, res)
            x = F.linear(fused.silu_and_mul(F.linear(h, lw["gate_up"])), lw["down"])
        return x, res

    def gemvs() -> torch.Tensor:
        h = x0
        for lw in layer_w:
            gemv.gemv(h, lw["qkv"], norm_weight=lw["ln1"], eps=EPS, config=best["qkv"])
            h2 = gemv.gemv(attn, lw["o"], residual=h, config=best["o"])
            a = gemv.gemv(h2, lw["gate_up"], norm_weight=lw["ln2"], eps=EPS, silu=True,
                          config=best["gate_up"])
            h = gemv.gemv(a, lw["down"], residual=h2, config=best["down"])
        return h

    x, r = today()
    ref, got = x + r, gemvs()
    out = {"layers": layers, "rel_err_vs_today": rel(got, ref)}
    wbytes = sum(w.numel() * 2 for lw in layer_w for w in lw.values())
    out["bound_us"] = wbytes / bw * 1e6
    times: dict[str, list[float]] = {"today": [], "gemv": []}
    for _ in range(3):  # alternate, so drift hits both
        times["today"].append(graph_time([today], 2) * 1e6)
        times["gemv"].append(graph_time([gemvs], 2) * 1e6)
    out["today_us"], out["gemv_us"] = times["today"], times["gemv"]
    t0, t1 = sorted(times["today"])[1], sorted(times["gemv"])[1]
    log(f"[{name}] {layers} layers, no attention: bound {out['bound_us']:.0f} us; today "
        f"{t0:.0f} us, GEMVs {t1:.0f} us ({t0 - t1:+.0f} us per step, "
        f"{(t0 - t1) / t0:+.1%}); rel err {out['rel_err_vs_today']:.1e}")
    layer_w.clear()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if SMOKE:
        bw = 1e11
        res: dict[str, Any] = {"gpu": "cpu (smoke)"}
    else:
        import engine as bench
        import triton

        bw = bench.copy_bandwidth()
        res = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
               "triton": triton.__version__}
    res.update({"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "copy_bandwidth_TBps": bw / 1e12, "configs": [str(c) for c in CONFIGS],
                "shapes": {}})
    log(f"copy bandwidth {bw / 1e12:.2f} TB/s")
    torch.manual_seed(0)
    for name in SHAPES:
        rows = {pn: probe_projection(name, pn, p, bw) for pn, p in projections(name).items()}
        res["shapes"][name] = {"projections": rows}
        (out / "results.json").write_text(json.dumps(res, indent=1))
        if not SMOKE:
            torch.cuda.empty_cache()
        best = {pn: tuple(int(v) for v in r["best"].strip("()").split(","))
                for pn, r in rows.items()}
        res["shapes"][name]["chain"] = chain(name, best, bw)  # type: ignore[arg-type]
        (out / "results.json").write_text(json.dumps(res, indent=1))
        if not SMOKE:
            torch.cuda.empty_cache()
    print("\nshape        proj     bound  cuBLAS(graph)  best Triton(graph)  setting")
    for name, s in res["shapes"].items():
        for pn, r in s["projections"].items():
            bt = r["triton"][r["best"]]["graph_us"]
            print(f"{name:<12} {pn:<7} {r['bound_us']:7.1f}  {r['cublas_graph_us']:9.1f}"
                  f"      {bt:9.1f}           {r['best']}")
        c = s["chain"]
        print(f"{name:<12} chain   {c['bound_us']:7.0f}  today {sorted(c['today_us'])[1]:.0f}"
              f"  GEMVs {sorted(c['gemv_us'])[1]:.0f} us")


if __name__ == "__main__":
    main()
