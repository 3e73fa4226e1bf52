"""Batch-1 decode profile of the 8B shape: the kernels of eight decode steps, eager (each
kernel by name) and replayed from the CUDA graph, with the GPU time per step.

    python bench/engine_profile_b1.py --out DIR   # on the GPU machine, repo root
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

import engine as bench  # noqa: E402
import torch  # noqa: E402
from _engine_profile import _save, _top, kernel_table  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", default="llama3-8b")
    args = ap.parse_args()
    out = Path(args.out)
    root = Path("/dev/shm/ctxkit-bench")
    root.mkdir(parents=True, exist_ok=True)
    path, hf = bench.build(args.shape, root)
    del hf
    bench.cleanup()
    llm = bench.engine(path, max_model_len=8192, max_num_seqs=64)
    vocab = bench.SHAPES[args.shape]["vocab_size"]
    prompt = bench.ids(1024, vocab, random.Random(1))
    res = {"eager": kernel_table(llm, [(prompt, 64)], out)}
    from ctxkit.engine import SamplingParams

    seq = llm.add_request(prompt, SamplingParams(temperature=0, max_tokens=64,
                                                 ignore_eos=True, detokenize=False))
    while seq.num_output_tokens < 4:
        llm.step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(8):
            llm.step()
        torch.cuda.synchronize()
    res["graph_steps"] = _top(prof, 25, per=8)
    _save(prof, out, "profile_decode_graph.txt")
    (out / "results.json").write_text(json.dumps(res, indent=1))
    for name, rows in (("eager", res["eager"]["decode_steps_eager"]),
                       ("graph", res["graph_steps"])):
        print(name)
        for r in rows[:14]:
            print(f"  {r['cuda_ms_per_step']:8.3f} ms  {r['calls_per_step']:6.1f}  {r['name']}")


if __name__ == "__main__":
    main()
