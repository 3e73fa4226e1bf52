"""Batch-1 decode with and without the fused one-token GEMVs (``models/gemv.py``): one GPU
call.

For the Llama-3-8B and Llama-3.2-1B shapes (``bench/engine.py``'s random-weight
checkpoints), in the same run: the roofline at 1k context from the measured copy
bandwidth; HF static cache + ``torch.compile`` (``--hf``); then the engine four times,
alternating ``GEMV_MAX_TOKENS`` 0 (cuBLAS and the small fused kernels, as before) and 1
(four GEMVs a layer), each arm its own engine since CUDA graphs capture the path. Each arm
measures batch-1 decode at 1k context (``our_decode``, 256 tokens), the GPU time per step
(CUDA events), and greedy tokens of three prompts run one at a time, 64 tokens each; the
GEMV arms' tokens are compared with the cuBLAS arms' (first divergence).

    python bench/engine_gemv_ab.py --out DIR [--hf]   # on the GPU machine, repo root
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

import engine as bench  # noqa: E402
import torch  # noqa: E402

from ctxkit.engine.models import llama  # noqa: E402


def greedy_one_at_a_time(llm: Any, vocab: int) -> list[list[int]]:
    from ctxkit.engine import SamplingParams

    p = SamplingParams(temperature=0, max_tokens=64, ignore_eos=True, detokenize=False)
    rng = random.Random(11)
    return [llm.generate([bench.ids(n, vocab, rng)], p)[0].token_ids for n in (9, 300, 1500)]


def first_divergence(a: list[list[int]], b: list[list[int]]) -> list[int]:
    return [next((k for k, (x, y) in enumerate(zip(u, v, strict=True)) if x != y), len(u))
            for u, v in zip(a, b, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--hf", action="store_true", help="HF static cache + compile baseline")
    ap.add_argument("--shapes", default="llama3-8b,llama3.2-1b")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from _engine_bounds import decode_bound
    from _engine_hf import decode_rate
    from _engine_profile import step_split

    bw = bench.copy_bandwidth()
    res: dict[str, Any] = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                           "copy_bandwidth_TBps": bw / 1e12, "shapes": {}}
    bench.log(f"copy bandwidth {bw / 1e12:.2f} TB/s")
    root = Path("/dev/shm/ctxkit-bench")
    root.mkdir(parents=True, exist_ok=True)
    for shape in args.shapes.split(","):
        vocab = bench.SHAPES[shape]["vocab_size"]
        row: dict[str, Any] = {"roofline_tok_s": decode_bound(bench._shape(shape), 1024, bw),
                               "runs": []}
        res["shapes"][shape] = row
        path, hf = bench.build(shape, root)
        if args.hf:
            prompt = bench.ids(1024, vocab, random.Random(1))
            row["hf_static_compile"] = decode_rate(hf, prompt, 128, compiled=True)
            bench.log(f"[{shape}] HF static + compile {row['hf_static_compile']}")
            (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
        del hf
        bench.cleanup()
        tokens: dict[int, list[list[int]]] = {}
        for gemv in (0, 1, 0, 1):
            llama.GEMV_MAX_TOKENS = gemv
            llm = bench.engine(path, max_model_len=8192, max_num_seqs=64)
            assert llm.runner.model.gemv_max_tokens == gemv
            decode = bench.our_decode(llm, 1024, n=256)
            split = step_split(llm, [(bench.ids(1024, vocab, random.Random(4)), 129)])
            toks = greedy_one_at_a_time(llm, vocab)
            tokens.setdefault(gemv, toks)
            run = {"gemv_max_tokens": gemv, "decode_tok_s": decode,
                   "decode_gpu_ms_per_step": split["decode"]["gpu_ms"], "step_split": split,
                   "first_divergence_vs_cublas_arm": first_divergence(toks, tokens[0])}
            row["runs"].append(run)
            bench.log(f"[{shape}] gemv_max_tokens={gemv}: {decode:.1f} tok/s, GPU "
                      f"{run['decode_gpu_ms_per_step']:.3f} ms/step, first divergence vs "
                      f"cuBLAS arm {run['first_divergence_vs_cublas_arm']}")
            (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
            del llm
            bench.cleanup()
    print("\nshape          roofline  HF static+compile   cuBLAS arms        GEMV arms")
    for shape, row in res["shapes"].items():
        a = [round(r["decode_tok_s"], 1) for r in row["runs"] if not r["gemv_max_tokens"]]
        b = [round(r["decode_tok_s"], 1) for r in row["runs"] if r["gemv_max_tokens"]]
        print(f"{shape:<14} {row['roofline_tok_s']:8.1f}  {row.get('hf_static_compile')!s:>17}"
              f"   {a!s:<18} {b}")


if __name__ == "__main__":
    main()
