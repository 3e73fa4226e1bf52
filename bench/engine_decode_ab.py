"""The decode kernel's launch settings, before and after, on the 8B load: one GPU call.

Builds the Llama-3-8B-shape engine four times, alternating the split kernel's launch
settings of 2026-12-04 (64 keys per tile, 4 warps, 2 stages) with ``launch_settings``'
choice (CUDA graphs capture the settings, so each arm gets its own engine). Each engine
warms up on 32 of the requests, then runs the 256-request load of ``bench/engine.py
--stages 8b`` (cache on) and batch-1 decode at 1k context. Writes ``results.json`` and
prints a table.

    python bench/engine_decode_ab.py --out DIR   # on the GPU machine, repo root
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

import engine as bench  # noqa: E402
import torch  # noqa: E402

from ctxkit.engine.attention import triton_decode  # noqa: E402

TUNED = triton_decode.launch_settings


def previous(num_splits: int, block_size: int) -> tuple[int, int, int]:
    return max(64, block_size), 4, 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from _engine_bounds import matmul_rate

    res: dict[str, Any] = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                           "copy_bandwidth_TBps": bench.copy_bandwidth() / 1e12,
                           "matmul_TFLOPs": matmul_rate() / 1e12, "runs": []}
    root = Path("/dev/shm/ctxkit-bench")
    root.mkdir(parents=True, exist_ok=True)
    path, hf = bench.build("llama3-8b", root)
    del hf
    bench.cleanup()
    reqs = bench.workload(256, bench.SHAPES["llama3-8b"]["vocab_size"])
    for arm in ("previous", "tuned", "previous", "tuned"):
        triton_decode.launch_settings = previous if arm == "previous" else TUNED
        llm = bench.engine(path, max_model_len=4096, max_num_batched_tokens=32768)
        bench.our_throughput(llm, reqs[:32])  # warm-up: kernels of the load's shapes
        load = bench.our_throughput(llm, reqs)
        decode = bench.our_decode(llm, 1024)
        run = {"arm": arm, "load": load, "decode_tok_s": decode}
        res["runs"].append(run)
        bench.log(f"{arm:>8}: load {load['tok_s']:.0f} tok/s, batch-1 {decode:.1f} tok/s")
        (out / "results.json").write_text(json.dumps(res, indent=1))
        del llm
        bench.cleanup()
    for arm in ("previous", "tuned"):
        rows = [r for r in res["runs"] if r["arm"] == arm]
        print(f"{arm:>8}: load tok/s {[round(r['load']['tok_s']) for r in rows]}, "
              f"batch-1 tok/s {[round(r['decode_tok_s'], 1) for r in rows]}")


if __name__ == "__main__":
    main()
