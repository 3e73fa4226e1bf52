"""Hugging Face transformers baselines for ``bench/engine.py``, configured as its docs say.

Owns the three baselines a user would pick instead of ctxkit's engine:

* batch-1 decode, eager ``generate`` and ``generate`` with a static cache, which makes
  ``generate`` compile the forward with ``torch.compile`` (transformers' documented
  default); the rate is read from per-token timestamps, so compile and prefill stay out;
* a cold long-prompt prefill (time to first token);
* continuous batching (``ContinuousBatchingManager``, the engine behind ``generate_batch``)
  on the same requests as ours, each with its own output length, under a time cap: a run
  cut by the cap reports what finished and says so.
"""

from __future__ import annotations

import time
from typing import Any

import torch


def _sync() -> None:
    torch.cuda.synchronize()


class _Stamps:
    """A stopping criterion that never stops and records when each token appeared."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, input_ids: torch.Tensor, scores: Any, **_: Any) -> torch.Tensor:
        _sync()
        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def decode_rate(model: Any, prompt: list[int], n: int, *, compiled: bool) -> dict[str, Any]:
    """Batch-1 greedy decode tokens/s over ``n`` tokens after the first (warm, 2 runs)."""
    from transformers import StoppingCriteriaList

    x = torch.tensor([prompt], device="cuda")
    kw: dict[str, Any] = dict(max_new_tokens=n + 1, min_new_tokens=n + 1, do_sample=False)
    t0 = time.perf_counter()
    if compiled:  # a static cache makes generate compile the forward itself (its default)
        kw["cache_implementation"] = "static"
    rates = []
    try:
        for _ in range(3):  # the first call compiles (static shapes: same lengths each time)
            stamps = _Stamps()
            model.generate(x, stopping_criteria=StoppingCriteriaList([stamps]), **kw)
            rates.append((len(stamps.times) - 1) / (stamps.times[-1] - stamps.times[0]))
    except Exception as exc:  # report, keep the rest of the run
        return {"error": f"{type(exc).__name__}: {exc}"[:400]}
    finally:
        if compiled:
            torch.compiler.reset()  # drop the compiled graphs and their memory pools
    return {"tok_s": max(rates[1:]), "runs_tok_s": rates, "setup_and_runs_s":
            time.perf_counter() - t0}


def prefill_seconds(model: Any, prompt: list[int]) -> float:
    x = torch.tensor([prompt], device="cuda")
    times = []
    for _ in range(2):
        _sync()
        t = time.perf_counter()
        model.generate(x, max_new_tokens=1, do_sample=False)
        _sync()
        times.append(time.perf_counter() - t)
    return min(times)


def continuous_batching(model: Any, reqs: list[tuple[list[int], int]], cap_s: float
                        ) -> dict[str, Any]:
    """All ``reqs`` (prompt ids, output length) through HF's continuous batching manager,
    submitted at once; output tok/s over finished requests, stopped at ``cap_s``."""
    from transformers import GenerationConfig

    model.config.eos_token_id = None
    model.generation_config.eos_token_id = None
    gen = GenerationConfig(max_new_tokens=max(m for _, m in reqs), do_sample=False,
                           eos_token_id=None)
    res: dict[str, Any] = {"requests": len(reqs), "cap_s": cap_s}
    try:
        manager = model.init_continuous_batching(generation_config=gen)
        manager.start()
        t = time.perf_counter()
        want: dict[str, int] = {}
        for i, (p, m) in enumerate(reqs):
            rid = f"r{i}"
            manager.add_request(p, request_id=rid, max_new_tokens=m)
            want[rid] = m
        done: dict[str, int] = {}
        while len(done) < len(reqs) and time.perf_counter() - t < cap_s:
            out = manager.get_result(timeout=1)
            if out is not None and out.is_finished():
                done[out.request_id] = len(out.generated_tokens)
        secs = time.perf_counter() - t
        manager.stop(block=True, timeout=30)
    except Exception as exc:
        res["error"] = f"{type(exc).__name__}: {exc}"[:400]
        return res
    tokens = sum(done.values())
    res.update(finished=len(done), tokens=tokens, seconds=secs, tok_s=tokens / secs,
               complete=len(done) == len(reqs),
               lengths_match=all(done[r] == want[r] for r in done),
               attn_implementation=str(getattr(model.config, "_attn_implementation", "")))
    return res
