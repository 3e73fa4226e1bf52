"""Where a throughput step's time goes, for ``bench/engine.py --stages profile``.

Owns two views of the 256-request load on the running engine:

* a step-time split: host scheduling, the model call (GPU time by CUDA events, the rest
  host preparation and the sampled-token sync) and postprocessing, per phase (steps with
  prefill chunks vs all-decode steps), and the decode batch sizes seen;
* a ``torch.profiler`` table of the kernels of a few all-decode steps, with CUDA graphs
  switched off for those steps so each kernel shows by name, and one prefill step.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch


def step_split(llm: Any, reqs: list[tuple[list[int], int]]) -> dict[str, Any]:
    """Run ``reqs`` to completion, timing every step's parts."""
    from ctxkit.engine import SamplingParams

    for p, m in reqs:
        llm.add_request(p, SamplingParams(temperature=0, max_tokens=m, ignore_eos=True,
                                          detokenize=False))
    s, r = llm.scheduler, llm.runner
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    sizes: dict[int, int] = defaultdict(int)
    ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    t_start = time.perf_counter()
    while s.num_unfinished:
        t0 = time.perf_counter()
        batch = s.schedule()
        t1 = time.perf_counter()
        ev0.record()
        sampled = r.run(batch)  # returns host ints: synchronised
        ev1.record()
        t2 = time.perf_counter()
        s.postprocess(batch, sampled, llm.eos_token_ids)
        t3 = time.perf_counter()
        torch.cuda.synchronize()
        phase = "decode" if batch.num_decodes == len(batch.items) else "mixed"
        if phase == "decode":
            sizes[len(batch.items)] += 1
        a = acc[phase]
        a["steps"] += 1
        a["schedule_ms"] += (t1 - t0) * 1e3
        a["run_wall_ms"] += (t2 - t1) * 1e3
        a["gpu_ms"] += ev0.elapsed_time(ev1)
        a["postprocess_ms"] += (t3 - t2) * 1e3
        a["tokens"] += batch.num_tokens
    total = time.perf_counter() - t_start
    out: dict[str, Any] = {"total_s": total}
    for phase, a in acc.items():
        n = a["steps"]
        out[phase] = {k: (v / n if k.endswith("_ms") else v) for k, v in a.items()}
        out[phase]["total_s"] = (a["schedule_ms"] + a["run_wall_ms"] + a["postprocess_ms"]) / 1e3
    out["decode_batch_sizes"] = dict(sorted(sizes.items()))
    return out


def kernel_table(llm: Any, reqs: list[tuple[list[int], int]], out_dir: Path | None,
                 steps: int = 8) -> dict[str, Any]:
    """Profile ``steps`` all-decode steps (eager, for per-kernel names) and one prefill."""
    from torch.profiler import ProfilerActivity, profile

    from ctxkit.engine import SamplingParams

    seqs = [llm.add_request(p, SamplingParams(temperature=0, max_tokens=m, ignore_eos=True,
                                              detokenize=False)) for p, m in reqs]
    graphs = llm.runner.graphs
    res: dict[str, Any] = {}
    acts = [ProfilerActivity.CPU, ProfilerActivity.CUDA]
    with profile(activities=acts) as prof:
        llm.step()  # the first step: a prefill chunk at the token budget
        torch.cuda.synchronize()
    res["prefill_step"] = _top(prof, 15)
    _save(prof, out_dir, "profile_prefill.txt")
    while any(not q.is_decode for q in seqs if not q.is_finished):
        llm.step()
    llm.runner.graphs = None
    try:
        llm.step()
        torch.cuda.synchronize()
        with profile(activities=acts) as prof:
            for _ in range(steps):
                llm.step()
            torch.cuda.synchronize()
    finally:
        llm.runner.graphs = graphs
    res["decode_batch"] = sum(1 for q in seqs if not q.is_finished)
    res["decode_steps_eager"] = _top(prof, 20, per=steps)
    _save(prof, out_dir, "profile_decode.txt")
    for q in seqs:
        llm.abort(q)
    return res


def _top(prof: Any, n: int, per: int = 1) -> list[dict[str, Any]]:
    rows = sorted(prof.key_averages(), key=lambda e: -_cuda_us(e))[:n]
    return [{"name": e.key[:80], "cuda_ms_per_step": _cuda_us(e) / 1e3 / per,
             "calls_per_step": e.count / per} for e in rows]


def _cuda_us(e: Any) -> float:
    for attr in ("device_time_total", "cuda_time_total", "self_device_time_total"):
        v = getattr(e, attr, None)
        if v:
            return float(v)
    return 0.0


def _save(prof: Any, out_dir: Path | None, name: str) -> None:
    if out_dir is None:
        return
    try:
        text = prof.key_averages().table(sort_by="device_time_total", row_limit=40)
    except Exception:  # older column name
        text = prof.key_averages().table(sort_by="cuda_time_total", row_limit=40)
    (out_dir / name).write_text(text)
