"""Head-size probe: greedy tokens of the CUDA-graph path, the eager Triton path, the
reference path and HF, at head_dim 80 (the pool pads it to 128) and at 128; prints the
first divergence of each pair (32 = none in 32 tokens). Random bf16 weights have near-tied
logits, so the reference path and HF diverge too; the point is graphs == eager and the
Triton path tracking HF as closely as the reference does.

    python bench/engine_hd_probe.py   # on the GPU machine, repo root
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

import engine as bench  # noqa: E402
import torch  # noqa: E402

from ctxkit.engine import LLM, SamplingParams  # noqa: E402


def first_divergence(a: list[list[int]], b: list[list[int]]) -> list[int]:
    return [next((k for k, (x, y) in enumerate(zip(u, v, strict=False)) if x != y), len(u))
            for u, v in zip(a, b, strict=True)]


def main() -> None:
    root = Path("/dev/shm/ctxkit-bench")
    root.mkdir(parents=True, exist_ok=True)
    for shape in ("qwen3-hd80", "qwen3-0.6b"):
        path, hf = bench.build(shape, root)
        vocab = bench.SHAPES[shape]["vocab_size"]
        rng = random.Random(5)
        prompts = [bench.ids(n, vocab, rng) for n in (7, 100, 700, 1500)]
        greedy = SamplingParams(temperature=0, max_tokens=32, ignore_eos=True,
                                detokenize=False)
        res: dict[str, Any] = {}
        for name, kw in (("graphs", {}), ("eager", {"enforce_eager": True}),
                         ("ref", {"attention": "reference", "enforce_eager": True,
                                  "num_kv_blocks": 2048})):
            llm = LLM(str(path), max_model_len=4096, max_num_seqs=16,
                      gpu_memory_utilization=0.3, **kw)
            res[name] = [o.token_ids for o in llm.generate(prompts, greedy)]
            del llm
            bench.cleanup()
        res["hf"] = [hf.generate(torch.tensor([p], device="cuda"), max_new_tokens=32,
                                 do_sample=False)[0, len(p):].tolist() for p in prompts]
        for a, b in (("graphs", "eager"), ("eager", "ref"), ("ref", "hf"), ("graphs", "hf")):
            print(shape, a, "vs", b, "first divergence", first_divergence(res[a], res[b]),
                  flush=True)
        del hf
        bench.cleanup()


if __name__ == "__main__":
    main()
