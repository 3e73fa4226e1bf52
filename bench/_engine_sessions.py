"""Agent sessions returning to a long prefix, for ``bench/engine.py --stages host``.

Owns the host-tier benchmark: ``sessions`` agent sessions with ``prefix``-token contexts,
three times more than the KV pool holds, take turns round-robin (each turn appends a user
message and generates a short reply, so a session returns every few seconds). A returning
session's prefix has been evicted from the pool by the others: without the host tier it is
recomputed, with it it is copied back. Time to first token is measured for every turn, on
the same engine, host tier off then on (fresh sessions each time, caches reset between).
"""

from __future__ import annotations

import random
import time
from typing import Any

import torch


def _turn(llm: Any, prompt: list[int], session: str, reply: int) -> tuple[float, Any]:
    from ctxkit.engine import SamplingParams

    p = SamplingParams(temperature=0, max_tokens=reply, ignore_eos=True, detokenize=False)
    torch.cuda.synchronize()
    t = time.perf_counter()
    seq = llm.add_request(prompt, p, session_id=session)
    while seq.num_output_tokens < 1:
        llm.step()
    ttft = time.perf_counter() - t
    while not seq.is_finished:
        llm.step()
    return ttft, llm.output(seq)


def run_sessions(llm: Any, *, sessions: int, prefix: int, rounds: int, user: int,
                 reply: int, seed: int) -> dict[str, Any]:
    vocab = llm.config.model_config.vocab_size
    rng = random.Random(seed)
    history = [[rng.randrange(1, vocab) for _ in range(prefix)] for _ in range(sessions)]
    cold, warm, cached_host, cached_pool = [], [], [], []
    t0 = time.perf_counter()
    for r in range(rounds):
        for i in range(sessions):
            prompt = history[i] + [rng.randrange(1, vocab) for _ in range(user)]
            ttft, out = _turn(llm, prompt, f"s{seed}-{i}", reply)
            (cold if r == 0 else warm).append(ttft)
            if r:
                cached_host.append(out.num_host_cached_tokens)
                cached_pool.append(out.num_cached_tokens - out.num_host_cached_tokens)
            history[i] = prompt + out.token_ids
    return {"first_turn_ttft_s": cold, "returning_ttft_s": warm,
            "returning_mean_ttft_s": sum(warm) / len(warm),
            "returning_cached_tokens_host": cached_host,
            "returning_cached_tokens_pool": cached_pool,
            "wall_s": time.perf_counter() - t0}


def stage_host(make_engine: Any, path: Any, kv_bytes_per_token: int, *, sessions: int = 6,
               prefix: int = 32000, rounds: int = 3) -> dict[str, Any]:
    """A pool for ``sessions / 3`` sessions; a host tier for all of them."""
    bs = 16
    per_session = -(-(prefix + rounds * 300) // bs)
    pool = per_session * sessions // 3 + per_session // 8
    block_bytes = bs * kv_bytes_per_token
    host_gib = per_session * sessions * block_bytes / 2**30 * 1.05
    t = time.perf_counter()
    llm = make_engine(path, max_model_len=prefix + rounds * 300 + 1024,
                      max_num_batched_tokens=32768, num_kv_blocks=pool, block_size=bs,
                      host_kv_cache_gib=host_gib)
    res: dict[str, Any] = {
        "sessions": sessions, "prefix_tokens": prefix, "rounds": rounds, "pool_blocks": pool,
        "engine_up_s": time.perf_counter() - t, "host_gib": host_gib,
        "pool_gib": pool * block_bytes / 2**30, "sessions_pool_holds": pool / per_session}
    host = llm.block_manager.host
    # first use (kernel variants for 32k contexts, copies between tiers) outside the timing
    res["warmup"] = run_sessions(llm, sessions=3, prefix=prefix, rounds=2, user=256,
                                 reply=8, seed=0)
    llm.reset_prefix_cache()
    llm.block_manager.host = None  # host tier off: an evicted prefix is recomputed
    res["off"] = run_sessions(llm, sessions=sessions, prefix=prefix, rounds=rounds,
                              user=256, reply=32, seed=1)
    llm.reset_prefix_cache()
    llm.block_manager.host = host
    res["on"] = run_sessions(llm, sessions=sessions, prefix=prefix, rounds=rounds,
                             user=256, reply=32, seed=2)
    res["stats"] = llm.stats()
    res["ratio_returning_ttft_on_over_off"] = (res["on"]["returning_mean_ttft_s"]
                                               / res["off"]["returning_mean_ttft_s"])
    del llm
    return res
