"""Which decode schedule can pay on the 256-request load: bounds step by step, no GPU.

Counts the load of ``bench/engine.py --stages 8b`` (the same 256 requests, Llama-3-8B
shape) with ``_engine_bounds.schedule_bounds``, at the copy bandwidth and matmul rate a
committed GPU run measured, and sets the step split that run measured (GPU time of the
prefill steps and of the all-decode steps, ``--stages profile``) against them. Then it
replays the load through ctxkit's own ``Scheduler`` and ``BlockManager`` (no model: every
step is costed kernel-serially at the ceilings, matmuls over all the step's tokens) for
several per-step token budgets, to say whether smaller chunked-prefill steps pay. Runs on
a CPU: it reads the ceilings and the measurements from the run's ``results.json``.

    python bench/engine_schedule_bounds.py \\
        --run bench/results/2026-12-04-baseline-profile --out /tmp/bounds

``--run`` defaults to that folder; without ``--out`` the table is only printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _engine_bounds import Shape, load_bound, schedule_bounds  # noqa: E402
from engine import SHAPES, workload  # noqa: E402

BUDGETS = (32768, 8192, 2048, 512)


def replay(reqs: list[tuple[list[int], int]], sh: Shape, budget: int, bw: float,
           fl: float, num_blocks: int) -> dict[str, Any]:
    """Run ``reqs`` through the engine's scheduler, each step costed at the ceilings:
    matmuls max(FLOPs, weight bytes), then attention max(K/V bytes, FLOPs)."""
    from ctxkit.engine import SamplingParams
    from ctxkit.engine.block_manager import BlockManager
    from ctxkit.engine.config import Config
    from ctxkit.engine.scheduler import Scheduler
    from ctxkit.engine.sequence import Sequence

    spec = SHAPES["llama3-8b"]
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "config.json").write_text(json.dumps({
            "model_type": "llama", **{k: spec[k] for k in (
                "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "vocab_size",
                "max_position_embeddings")}}))
        cfg = Config(model=d, max_num_batched_tokens=budget, max_num_seqs=256,
                     max_model_len=4096)
    sched = Scheduler(cfg, BlockManager(num_blocks, cfg.block_size))
    for i, (p, m) in enumerate(reqs):
        sched.add(Sequence(p, SamplingParams(temperature=0, max_tokens=m, ignore_eos=True,
                                             detokenize=False), seed=i, arrival=float(i)))
    seconds, steps = 0.0, 0
    while sched.num_unfinished:
        batch = sched.schedule()
        ctx = pairs = sampled = 0
        for seq, n in batch.items:
            c = seq.num_computed_tokens
            ctx += c + n
            pairs += n * c + n * (n + 1) // 2
            sampled += c + n == seq.num_tokens
        seconds += max(2 * sh.matmul_params * batch.num_tokens / fl,
                       2 * sh.matmul_params / bw) \
            + max(2 * sh.head_params * sampled / fl, 2 * sh.head_params / bw) \
            + max(ctx * sh.kv_bytes_per_token / bw, sh.attn_flops_per_pair * pairs / fl)
        steps += 1
        sched.postprocess(batch, [0] * sampled, frozenset())
    out = sum(m for _, m in reqs)
    return {"budget": budget, "steps": steps, "seconds": seconds, "tok_s": out / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default=str(ROOT / "bench/results/2026-12-04-baseline-profile"),
                    help="a bench/results folder with results.json (default: %(default)s)")
    ap.add_argument("--out", default=None,
                    help="folder for results.json and log.txt (default: print only)")
    args = ap.parse_args()
    run = json.loads((Path(args.run) / "results.json").read_text())
    bw, fl = run["copy_bandwidth_TBps"] * 1e12, run["matmul_TFLOPs"] * 1e12
    shape = "llama3-8b"
    reqs = workload(256, SHAPES[shape]["vocab_size"])
    lens = [(len(p), m) for p, m in reqs]
    sh = Shape.of(SHAPES[shape])
    res: dict[str, object] = {"run": str(args.run), "copy_bandwidth_TBps": bw / 1e12,
                              "matmul_TFLOPs": fl / 1e12, "output_tokens":
                              sum(o for _, o in lens)}
    res["load_bound"] = load_bound(sh, lens, bw, fl)
    assert abs(res["load_bound"]["bound_tok_s"]  # type: ignore[index]
               - run[f"{shape}/load_bound"]["bound_tok_s"]) < 1e-6 * res["load_bound"][
        "bound_tok_s"], "not the run's requests"  # type: ignore[index]
    b = schedule_bounds(sh, lens, bw, fl)
    res["schedule_bounds"] = b
    split = run.get(f"{shape}/step_split")
    lines = [f"ceilings of {args.run}: copy {bw / 1e12:.2f} TB/s, matmul {fl / 1e12:.0f} "
             f"TFLOP/s; {res['output_tokens']} output tokens"]
    rows = [("prefill (all prompts, matrix rate)", b["prefill_s"]),
            ("decode, kernel-serial", b["decode_kernel_serial_s"]),
            ("  of which matmuls", b["decode_matmul_s"]),
            ("  of which attention", b["decode_attention_s"]),
            ("decode, attention under the matmuls", b["decode_overlapped_s"]),
            ("decode, two micro-batches", b["decode_two_micro_batches_s"])]
    lines += [f"{name:<40} {sec:8.3f} s" for name, sec in rows]
    lines += [f"{name:<40} {b[key]:8.0f} tok/s" for name, key in (
        ("load, kernel-serial", "kernel_serial_tok_s"),
        ("load, attention under the matmuls", "overlapped_tok_s"),
        ("load, two micro-batches", "two_micro_batches_tok_s"))]
    lines.append(f"{'load, the run bound (global overlap)':<40} "
                 f"{res['load_bound']['bound_tok_s']:8.0f} tok/s")  # type: ignore[index]
    if split:
        mixed = split["mixed"]["gpu_ms"] * split["mixed"]["steps"] / 1e3
        decode = split["decode"]["gpu_ms"] * split["decode"]["steps"] / 1e3
        res["measured"] = {"mixed_gpu_s": mixed, "decode_gpu_s": decode,
                           "total_s": split["total_s"]}
        lines.append(f"measured GPU time, prefill steps {mixed:.3f} s "
                     f"({b['prefill_s'] / mixed:.0%} of bound), decode steps {decode:.3f} s "
                     f"({b['decode_kernel_serial_s'] / decode:.0%} of the kernel-serial "
                     f"bound), whole load {split['total_s']:.3f} s")
    blocks = run[f"{shape}/config"]["kv_blocks"]
    res["scheduler_replay"] = [replay(reqs, sh, b, bw, fl, blocks) for b in BUDGETS]
    lines.append(f"ctxkit's scheduler replayed, kernel-serial at the ceilings ({blocks} "
                 "KV blocks):")
    lines += [f"  max_num_batched_tokens {r['budget']:>6}: {r['steps']} steps, "
              f"{r['seconds']:.3f} s, {r['tok_s']:.0f} tok/s"
              for r in res["scheduler_replay"]]  # type: ignore[union-attr]
    text = "\n".join(lines)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(res, indent=1))
        (out / "log.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
