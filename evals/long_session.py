"""Long sessions head to head: ctxkit against what users run today, under a context window.

The same long sessions (``evals/_long/sessions.py``: coding sessions of 150-400 model
calls over real recorded tool outputs, and the LoCoMo dev conversations) replay through
every strategy in one run, with the same scripted model moves, tool outputs, extractive
summarizer, window and profiles:

* ``naive`` — a floor only: a timestamp first, tools reordered, no breakpoints;
* ``best_practice_breakpoints`` and ``sliding_window`` (``_long/baselines.py``);
* ``langchain_summarization``, ``langchain_context_editing``, ``langchain_stack`` — the
  real LangChain v1 middleware through ``create_agent`` (``_long/lc.py``; the ``evals``
  extra);
* ``ctxkit`` — Prefix, History with milestone compaction, State, canonical tool output
  (``_long/ctx.py``), tuned on the dev sessions only.

Per strategy: cost at claude-sonnet-4-5 and gpt-5 prices through ctxkit's cache model,
cache-read share, facts in the prompt at the call that needs them, prompt tokens per call,
compactions, invalid tool sequences and overflows (prompts over the window less a 4096
reply reserve). The headline rows are the held-out coding sessions plus the LoCoMo dev
conversations; ``--split dev`` shows the sessions ctxkit was tuned on. A table per
window, then one JSON line for the first window (the contract in issue 14).

    python evals/long_session.py --data ../shared/evaldata --json [--windows 65536,32768,131072]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _long import baselines, ctx, lc, score, sessions  # noqa: E402

STRATEGIES = (*baselines.BASELINES, *lc.LANGCHAIN, "ctxkit")
REPO = Path(__file__).resolve().parents[1]


def run_strategy(name: str, script: sessions.Script, window: int,
                 counter: score.Counter | None = None) -> score.Totals:
    """One session under one strategy at one window: its totals."""
    scorer = score.Scorer(counter or _counter(), window)
    if name in baselines.BASELINES:
        baselines.run_baseline(name, script, scorer)
    elif name in lc.LANGCHAIN:
        lc.run_langchain(name, script, scorer)
    else:
        ctx.run_ctxkit(script, scorer)
    return scorer.t


_COUNTER: score.Counter | None = None


def _counter() -> score.Counter:
    global _COUNTER
    if _COUNTER is None:
        _COUNTER = score.Counter()
    return _COUNTER


_SCRIPTS: dict[str, list[sessions.Script]] = {}


def _scripts(data: Path, opts: dict[str, Any]) -> list[sessions.Script]:
    key = json.dumps(opts, sort_keys=True)
    if key not in _SCRIPTS:
        _SCRIPTS[key] = sessions.build(data, **opts)
    return _SCRIPTS[key]


def _run_one(args: tuple[Path, dict[str, Any], str, int]) -> tuple[str, int, dict[str, Any]]:
    """All sessions under one strategy at one window (a worker process's job)."""
    data, opts, name, window = args
    by_split: dict[str, score.Totals] = {}
    for s in _scripts(data, opts):
        if not fits(s, window):
            by_split.setdefault("skipped", score.Totals()).calls += 1
            continue
        t = run_strategy(name, s, window)
        group = "dev" if s.split == "dev" and s.kind == "coding" else "reported"
        for g in (group, f"{group}:{s.kind}"):
            by_split.setdefault(g, score.Totals()).add(t)
    return name, window, {g: score.summarize(t) for g, t in by_split.items()}


def fits(script: sessions.Script, window: int) -> bool:
    """Whether the session can run at ``window`` at all: its prefix (system prompt and
    tools) must leave a quarter of the budget for the conversation. A 30k-token system
    prompt in a 32k window leaves nothing to compare, so such a session is skipped at that
    window for every strategy (and counted as skipped)."""
    c = _counter()
    prefix = sum(c(seg.text) + 4 for seg in baselines.prefix_segments(script))
    return prefix <= 0.75 * (window - score.REPLY_RESERVE)


def run(data: Path, windows: list[int], *, strategies: tuple[str, ...] = STRATEGIES,
        opts: dict[str, Any] | None = None, workers: int = 2) -> dict[str, Any]:
    opts = opts or {}
    jobs = [(data, opts, n, w) for w in windows for n in strategies]
    results: dict[int, dict[str, dict[str, Any]]] = {w: {} for w in windows}
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for name, w, res in pool.map(_run_one, jobs):
                results[w][name] = res
    else:
        for job in jobs:
            name, w, res = _run_one(job)
            results[w][name] = res
    scripts = _scripts(data, opts)
    return {"windows": windows, "results": results,
            "sessions": {"reported": [s.name for s in scripts if not (
                s.split == "dev" and s.kind == "coding")],
                "dev": [s.name for s in scripts if s.split == "dev" and s.kind == "coding"]},
            "calls_per_session": {s.name: len(s.calls) for s in scripts}}


def table(res: dict[str, Any], window: int, group: str) -> str:
    rows = res["results"][window]
    head = (f"{'strategy':<27} {'$ sonnet':>9} {'$ gpt-5':>8} {'facts':>6} {'cache':>6} "
            f"{'tok/call':>9} {'max':>7} {'calls':>6} {'compact':>7} {'invalid':>7} "
            f"{'overflow':>8}")
    skipped = next((r["skipped"]["calls"] for r in rows.values() if "skipped" in r), 0)
    note = f" ({skipped} sessions skipped: their prefix leaves < 1/4 of the budget)" \
        if skipped else ""
    out = [f"window {window:,} — {group}{note}", head, "-" * len(head)]
    for name in STRATEGIES:
        if name not in rows or group not in rows[name]:
            continue
        r = rows[name][group]
        label = name + (" (floor)" if name == "naive" else "")
        out.append(f"{label:<27} {r['cost_usd']['claude-sonnet-4-5']:>9.2f} "
                   f"{r['cost_usd']['gpt-5']:>8.2f} {r['facts_in_prompt']:>6.3f} "
                   f"{r['cache_read_share']['claude-sonnet-4-5']:>6.3f} "
                   f"{r['prompt_tokens_mean']:>9,.0f} {r['prompt_tokens_max']:>7,} "
                   f"{r['calls']:>6} {r['compactions']:>7} {r['invalid_sequences']:>7} "
                   f"{r['overflows']:>8}")
    return "\n".join(out)


def goals(res: dict[str, Any], window: int) -> list[str]:
    rows = {n: r["reported"] for n, r in res["results"][window].items()}
    if "ctxkit" not in rows:
        return []
    ck = rows["ctxkit"]
    out = []
    best = max(r["facts_in_prompt"] for n, r in rows.items() if n != "ctxkit")
    ok = ck["facts_in_prompt"] >= 0.9 and ck["facts_in_prompt"] >= best - 0.02
    out.append(f"facts_in_prompt {ck['facts_in_prompt']:.3f} (>= 0.9 and >= best other "
               f"{best:.3f} - 0.02): {'met' if ok else 'NOT met'}")
    for base, limit in (("langchain_stack", 0.85), ("sliding_window", 0.4)):
        if base in rows:
            for p in score.PROFILES:
                ratio = ck["cost_usd"][p] / max(1e-9, rows[base]["cost_usd"][p])
                out.append(f"cost vs {base} at {p}: {ratio:.3f}x (<= {limit}x): "
                           f"{'met' if ratio <= limit else 'NOT met'}")
    out.append(f"invalid {ck['invalid_sequences']}, overflows {ck['overflows']}: "
               f"{'met' if ck['invalid_sequences'] == ck['overflows'] == 0 else 'NOT met'}")
    return out


def contract(res: dict[str, Any], window: int) -> dict[str, Any]:
    rows = res["results"][window]
    skipped = next((r["skipped"]["calls"] for r in rows.values() if "skipped" in r), 0)
    return {"sessions": len(res["sessions"]["reported"]) - skipped, "window": window,
            "strategies": {
        n: {"cost_usd": r["reported"]["cost_usd"]["claude-sonnet-4-5"],
            "cost_usd_gpt5": r["reported"]["cost_usd"]["gpt-5"],
            "facts_in_prompt": r["reported"]["facts_in_prompt"],
            "cache_read_share": r["reported"]["cache_read_share"]["claude-sonnet-4-5"],
            "calls": r["reported"]["calls"], "compactions": r["reported"]["compactions"],
            "invalid_sequences": r["reported"]["invalid_sequences"],
            "overflows": r["reported"]["overflows"]}
        for n, r in rows.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "evaldata")
    ap.add_argument("--windows", default="65536,32768,131072",
                    help="comma-separated windows; the first is the headline (default 64k)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--split", choices=("reported", "dev"), default="reported",
                    help="which sessions the tables show (dev: the ones ctxkit was tuned on)")
    ap.add_argument("--heldout", type=int, default=12, help="held-out coding sessions")
    ap.add_argument("--dev", type=int, default=0,
                    help="dev coding sessions (tune with --dev 4 --heldout 0 --split dev)")
    ap.add_argument("--min-calls", type=int, default=150)
    ap.add_argument("--max-calls", type=int, default=400)
    ap.add_argument("--no-locomo", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the full results as JSON "
                    "before the contract line")
    args = ap.parse_args(argv)
    if not (args.data / "sweagent_trajectories").exists():
        print(f"evaluation data not found under {args.data}; pass --data PATH", file=sys.stderr)
        return 2
    names = tuple(n for n in args.strategies.split(",") if n)
    unknown = set(names) - set(STRATEGIES)
    if unknown:
        print(f"unknown strategies {sorted(unknown)}; use {list(STRATEGIES)}", file=sys.stderr)
        return 2
    windows = [int(w) for w in args.windows.split(",") if w]
    opts = {"num_heldout": args.heldout, "num_dev": args.dev,
            "calls": (args.min_calls, args.max_calls), "locomo": not args.no_locomo}
    t0 = time.perf_counter()
    res = run(args.data, windows, strategies=names, opts=opts, workers=args.workers)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(res, indent=1))
    for w in windows:
        for group in (args.split, f"{args.split}:coding", f"{args.split}:locomo"):
            print(table(res, w, group) + "\n")
        if args.split == "reported":
            print("\n".join(goals(res, w)) + "\n")
    print(f"sessions: {', '.join(res['sessions'][args.split])}; {res['seconds']}s")
    print(json.dumps(contract(res, windows[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
