"""Exact cache predictions through ``ctxkit serve``: what they cost per call and what they
buy, beside the block-level estimate on the same server, in the same run.

A tiny random Llama (CPU, built offline as in the tests) behind ``ctxkit serve``'s app on
loopback; the ``OpenAI`` backend drives a ``--n``-call session with tools, tool results
and one drift of the system prompt, twice, each on a fresh engine:
  * exact: profile ``ctxkit-serve`` (``/tokenize`` before each call, reply ids back);
  * estimate: the same profile without ``renders_ids_via`` (block counts, the server's
    own tokenizer: the strongest estimate a user could configure).
Printed per mode: calls whose prediction disagrees with the server's report (input or
cache read), total absolute cache-read error, and the wall time of a turn (``pipe.run``,
one or two calls) p50/p95 over ``--rounds`` sessions per mode, run in alternating order;
then the p50 of the ``/tokenize`` request alone.

    python bench/serve_exact.py [--n 50] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def session(path: Path, exact: bool, n: int) -> dict[str, Any]:
    from ctxkit import ContextPipeline, profile_for
    from ctxkit.engine import LLM
    from ctxkit.engine.serve.server import build_app
    from ctxkit.layers import History, Prefix
    from tests.engine.serve_helpers import serving
    from tests.engine.test_exact_predictions_serve import SYSTEM, ToolCallingOpenAI, add, lookup

    base_profile = profile_for("ctxkit-serve")
    cache = base_profile.cache if exact else dataclasses.replace(base_profile.cache,
                                                                 renders_ids_via=None)
    profile = base_profile.replace(name="tiny", context_window=8192, tokenizer=f"hf:{path}",
                                   cache=cache)
    llm = LLM(str(path), num_kv_blocks=2048, block_size=16, max_model_len=8192)
    with serving(build_app(llm, served_name="tiny")) as url:
        b = ToolCallingOpenAI("tiny", base_url=url + "/v1", profile=profile, max_tokens=6,
                              params={"temperature": 0})
        pipe = ContextPipeline(b, [Prefix(system=SYSTEM, tools=[lookup, add]), History()],
                               max_steps=3)
        walls: list[float] = []  # per turn
        turn = 0
        while len(pipe.records) < n:
            turn += 1
            if len(pipe.records) >= n // 2 and pipe.layers[0].system == SYSTEM:
                pipe.layers[0] = Prefix(system=SYSTEM.replace("11-28", "11-29"),
                                        tools=[lookup, add])
            t0 = time.perf_counter()
            pipe.run(f"turn {turn}: hello world, how are you today?")
            walls.append(time.perf_counter() - t0)
        tokenize: list[float] = []
        if exact:
            draft = pipe.assemble("one more")
            for _ in range(50):
                t0 = time.perf_counter()
                b.render_ids(draft)
                tokenize.append(time.perf_counter() - t0)
        b.close()
    recs = [r for r in pipe.records[:n] if r.reported is not None]
    return {
        "mode": "exact" if exact else "estimate", "calls": len(recs),
        "disagreements": sum(1 for r in recs if r.disagreement),
        "differ": sum(1 for r in recs if (r.predicted.input_tokens, r.predicted.cache_read_tokens)
                      != (r.reported.input_tokens, r.reported.cache_read_tokens)),
        "cache_read_abs_error": sum(abs(r.predicted.cache_read_tokens
                                        - r.reported.cache_read_tokens) for r in recs),
        "reported_cache_read": sum(r.reported.cache_read_tokens for r in recs),
        "walls": walls, "tokenize": tokenize,
    }


def _pool(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per mode: counts summed over its sessions, times pooled."""
    walls = [w for r in runs for w in r.pop("walls")]
    tokenize = [t for r in runs for t in r.pop("tokenize")]
    row = {"mode": runs[0]["mode"], "sessions": len(runs)}
    for k in ("calls", "disagreements", "differ", "cache_read_abs_error",
              "reported_cache_read"):
        row[k] = sum(r[k] for r in runs)
    row["turn_p50_ms"] = 1000 * statistics.median(walls)
    row["turn_p95_ms"] = 1000 * statistics.quantiles(walls, n=20)[18]
    row["tokenize_p50_ms"] = 1000 * statistics.median(tokenize) if tokenize else None
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="calls per session")
    ap.add_argument("--rounds", type=int, default=2, help="sessions per mode")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    import torch

    from tests.engine.conftest import build_checkpoint

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        path = build_checkpoint(Path(tmp) / "llama", "llama", max_positions=8192)
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for i in range(args.rounds):  # alternate which mode goes first
            for exact in ((False, True) if i % 2 == 0 else (True, False)):
                runs[exact].append(session(path, exact, args.n))
        rows = [_pool(runs[False]), _pool(runs[True])]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'mode':<9} {'calls':>5} {'differ':>6} {'flagged':>7} {'read err':>9} "
          f"{'of read':>8} {'turn p50':>9} {'turn p95':>9}")
    for r in rows:
        print(f"{r['mode']:<9} {r['calls']:>5} {r['differ']:>6} {r['disagreements']:>7} "
              f"{r['cache_read_abs_error']:>9,} {r['reported_cache_read']:>8,} "
              f"{r['turn_p50_ms']:>7.1f}ms {r['turn_p95_ms']:>7.1f}ms")
    est, ex = rows
    print(f"/tokenize alone: p50 {ex['tokenize_p50_ms']:.2f} ms; turn p50 exact - estimate: "
          f"{ex['turn_p50_ms'] - est['turn_p50_ms']:+.1f} ms "
          f"({ex['turn_p50_ms'] / est['turn_p50_ms']:.2f}x)")


if __name__ == "__main__":
    main()
