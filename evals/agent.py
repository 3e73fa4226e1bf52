"""Eval: the example coding agent on every sample repository, with ctxkit's layout beside a
hand-placed best-practice layout and a naive one of the same agent, in the same run.

For each sample in ``examples/repos`` (a small Python project with a real bug, failing
tests and a known fix) and each backend, the agent works on a fresh copy three times:

* ``ctxkit``: the agent as built (cached prefix with tool search, session memory,
  milestone compaction, retrieval, recall, state; cache breakpoints placed by ctxkit);
* ``best_practice_breakpoints`` (the baseline quoted first): the same agent, tools and
  moves with the breakpoints a careful user places by hand — system prompt and last tool
  (1h), one moving breakpoint on the last message (5m) — the full history, no compaction;
* ``naive`` (a floor): the same with no cache breakpoints at all.

Backends: ``scripted`` (the offline stand-in, which knows each sample's fix and plays it
through the real tools: everything but the model's judgement), ``replay`` (the traces
the scripted ctxkit runs of this same run recorded, answered call by call by
Replay, with the tools re-run on a fresh copy), and ``anthropic`` / ``openai`` when
their API key is set (a live model). A task is solved when the agent answered and the
repository's whole test suite passes afterwards (checked here, not taken from the agent).

Per backend and layout: solve rate, model calls, prompt tokens, cache-read share of
prompt tokens and cost per task and per solved task, under the backend's profile (offline:
``--profile``, default ``scripted`` — Anthropic-like explicit caching at Sonnet prices,
o200k token counts; the cache figures are ctxkit's cache model, not a provider's report).
A table, then one JSON object on the last line.

    python evals/agent.py [--repos pages,ledger] [--backends scripted,replay,anthropic]
        [--profile scripted] [--compact-min-tokens N] [--workdir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ctxkit import Backend  # noqa: E402
from ctxkit.backends import Replay  # noqa: E402
from ctxkit.testing import FunctionBackend  # noqa: E402
from examples.coding_agent import Agent, AgentConfig  # noqa: E402
from examples.coding_agent.samples import SampleTask, copy_repo, samples  # noqa: E402
from examples.coding_agent.standin import StandIn  # noqa: E402

LAYOUTS = ("ctxkit", "best_practice_breakpoints", "naive")
LIVE = {"anthropic": ("ANTHROPIC_API_KEY", "claude-sonnet-4-5"),
        "openai": ("OPENAI_API_KEY", "gpt-4o")}


def suite_passes(repo: Path) -> bool:
    env = {k: v for k, v in os.environ.items() if "API_KEY" not in k}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode == 0


def run_task(src: Path, layout: str, make: Callable[[SampleTask], Backend], root: Path,
             label: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """One agent session on a fresh copy of ``src``; its figures."""
    task = SampleTask.load(src)
    work = root / f"{label}-{layout}-{src.name}"
    repo = copy_repo(src, work / "repo")
    config = AgentConfig(repo=repo, home=work / "home", layout=layout, **overrides)
    agent = Agent.start(make(task), config, task.task)
    error = None
    try:
        outcome = agent.run()
        status = outcome.status
    except Exception as exc:  # a live model may fail; the row says how
        status, error = "error", f"{type(exc).__name__}: {exc}"[:300]
    finally:
        agent.close()
    records = [r for r in agent.pipe.records if r.ok]
    u = [r.usage for r in records]
    compactions = sum(1 for r in records if r.extras.get("compaction"))
    return {
        "repo": src.name, "layout": layout, "backend": label, "status": status,
        "error": error, "solved": status == "done" and suite_passes(repo),
        "calls": len(records),
        "subagent_calls": sum(1 for r in records if r.extras.get("parent")),
        "prompt_tokens": sum(x.input_tokens for x in u),
        "cache_read_tokens": sum(x.cache_read_tokens for x in u),
        "cache_write_tokens": sum(x.cache_write_tokens for x in u),
        "output_tokens": sum(x.output_tokens for x in u),
        "cost_usd": sum(r.cost_usd for r in records),
        "compactions": compactions,
        "undeclared_drift": sum(1 for r in records for e in r.drift if not e.declared),
        "tools_loaded": list(agent.tool_search.loaded) if agent.tool_search else [],
        "index_refreshes": agent.num_refreshes,
        "trace": str(agent.session.trace_file),
        "model": records[0].model if records else None,
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    solved = sum(r["solved"] for r in rows)
    prompt = sum(r["prompt_tokens"] for r in rows)
    cost = sum(r["cost_usd"] for r in rows)
    return {"tasks": n, "solved": solved, "solve_rate": solved / n if n else 0.0,
            "calls_per_task": sum(r["calls"] for r in rows) / n if n else 0.0,
            "prompt_tokens_per_task": prompt / n if n else 0.0,
            "cache_read_share": sum(r["cache_read_tokens"] for r in rows) / prompt
            if prompt else 0.0,
            "cost_per_task": cost / n if n else 0.0,
            "cost_per_solved_task": cost / solved if solved else None,
            "compactions": sum(r["compactions"] for r in rows),
            "undeclared_drift": sum(r["undeclared_drift"] for r in rows)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", help="comma-separated sample names (default: all)")
    ap.add_argument("--backends", default="scripted,replay,anthropic,openai",
                    help="comma-separated: scripted, replay, anthropic, openai; live ones "
                         "run only when their key is set (default: %(default)s)")
    ap.add_argument("--profile", default="scripted",
                    help="profile of the offline backends (prices, cache rules)")
    ap.add_argument("--compact-min-tokens", type=int, default=None,
                    help="override AgentConfig.compact_min_tokens")
    ap.add_argument("--workdir", help="keep the copies, homes and traces here")
    ap.add_argument("--json", action="store_true", help="(the JSON line is always printed)")
    args = ap.parse_args(argv)
    names = args.repos.split(",") if args.repos else None
    srcs = [p for p in samples() if names is None or p.name in names]
    if names and len(srcs) != len(names):
        known = ", ".join(p.name for p in samples())
        ap.error(f"unknown sample in --repos; the samples are: {known}")
    wanted = args.backends.split(",")
    root = Path(args.workdir or tempfile.mkdtemp(prefix="ctxkit-agent-eval-"))
    overrides: dict[str, Any] = {"embedding_cache": root / "embeddings.sqlite"}
    if args.compact_min_tokens is not None:
        overrides["compact_min_tokens"] = args.compact_min_tokens
    rows: list[dict[str, Any]] = []
    traces: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for label in wanted:
        for src in srcs:
            for layout in LAYOUTS:
                if label == "scripted":
                    def make(t: SampleTask) -> Backend:
                        return FunctionBackend(StandIn(t), model=args.profile)
                elif label == "replay":
                    trace = traces.get(src.name)
                    if trace is None:
                        skipped[label] = "replay needs the scripted backend first in --backends"
                        continue

                    def make(t: SampleTask, trace: str = trace) -> Backend:
                        return Replay(trace, model=args.profile)
                elif label in LIVE:
                    key, model = LIVE[label]
                    if not os.environ.get(key):
                        skipped[label] = f"set {key} to run a live model"
                        continue

                    def make(t: SampleTask, label: str = label, model: str = model) -> Backend:
                        from ctxkit import backends

                        cls = backends.Anthropic if label == "anthropic" else backends.OpenAI
                        return cls(model)  # type: ignore[no-any-return]
                else:
                    ap.error(f"unknown backend {label!r}")
                row = run_task(src, layout, make, root, label, overrides)
                rows.append(row)
                if label == "scripted" and layout == "ctxkit":
                    traces[src.name] = row["trace"]
    groups: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r["backend"] for r in rows):
        per = {lay: summarize([r for r in rows if r["backend"] == label and r["layout"] == lay])
               for lay in LAYOUTS}
        a = per["ctxkit"]["cost_per_solved_task"]
        for base in ("best_practice_breakpoints", "naive"):
            b = per[base]["cost_per_solved_task"]
            per[f"cost_ratio_ctxkit_vs_{base}"] = a / b if a is not None and b else None
        groups[label] = per
    _table(groups)
    for label, why in skipped.items():
        print(f"{label}: not run ({why})")
    print(json.dumps({"profile": args.profile, "repos": [p.name for p in srcs],
                      "results": groups, "not_run": skipped,
                      "rows": [{k: v for k, v in r.items() if k != "trace"} for r in rows]}))
    return 0


def _table(groups: dict[str, dict[str, Any]]) -> None:
    head = (f"{'backend':<10}{'layout':<27}{'solved':>8}{'calls':>7}{'prompt tok':>12}"
            f"{'cache read':>11}{'$/task':>10}{'$/solved':>10}")
    print(head)
    print("-" * len(head))
    for label, per in groups.items():
        for lay in LAYOUTS:
            s = per[lay]
            cps = s["cost_per_solved_task"]
            print(f"{label:<10}{lay:<27}{s['solved']:>4}/{s['tasks']:<3}"
                  f"{s['calls_per_task']:>7.1f}{s['prompt_tokens_per_task']:>12,.0f}"
                  f"{s['cache_read_share']:>11.1%}{s['cost_per_task']:>10.4f}"
                  f"{cps if cps is None else format(cps, '.4f'):>10}")
        ratio = per["cost_ratio_ctxkit_vs_best_practice_breakpoints"]
        if ratio is not None:
            print(f"{label:<10}cost per solved task, ctxkit / best_practice_breakpoints: "
                  f"{ratio:.2f}x")
        floor = per["cost_ratio_ctxkit_vs_naive"]
        if floor is not None:
            print(f"{label:<10}  (floor: ctxkit / naive, no breakpoints at all: {floor:.2f}x)")
    print()


if __name__ == "__main__":
    raise SystemExit(main())
