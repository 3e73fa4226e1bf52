"""Cache replay: what ctxkit's layout saves over a naive one, per backend profile.

A deterministic 50-turn coding session (a ~2.5k-token system prompt, 12 tool schemas, an
AGENTS.md, and per turn: the user's request, ``read_file``, ``run_tests``, a short answer:
three model calls) is run twice per profile through the real pipeline, in the same run:

* **ctxkit**: ``Prefix`` (system + sorted tools cached 1h, project file 5m) and ``History``
  (a moving 5m breakpoint) — the default layout;
* **best_practice_breakpoints** (the baseline quoted first): the same messages as a careful
  user lays them out by hand — a byte-stable system prompt (with AGENTS.md) and tools,
  breakpoints on the system prompt and the last tool (1h) and one moving breakpoint on
  the last message (5m);
* **naive** (a floor): the system prompt opens with the current time, tools in whatever
  order a dict gives that call, no breakpoints.

Usage is ctxkit's cache model under each profile's rules (``predicted``): Anthropic's
explicit breakpoints, OpenAI's automatic prefix cache, the local engine's paged cache.
With ``--wire`` the same sessions also go through the real SDKs to the loopback test
server (``tests/backends/fakeserver.py``), and the server's reported usage is shown too.

Goal (issue 7): cost per session <= 0.25x of the naive layout on Anthropic's prices; the
ratio that matters is the one against best_practice_breakpoints, printed first.

    python evals/cache_replay.py [--turns 50] [--wire] [--json]
    python evals/cache_replay.py --recorded [--data ../shared/evaldata] [--json]

With ``--recorded`` it replays the recorded SWE-agent trajectories and OpenHands prompts
through ctxkit's layout (``evals/_recorded_replay.py``) beside the recorded layout's own
reuse, under the same cache model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from ctxkit import Block, Budget, ContextPipeline, Response, ToolCall, canonical_json
from ctxkit.layers import History, Prefix
from ctxkit.testing import FunctionBackend

LAYOUTS = ("ctxkit", "best_practice_breakpoints", "naive")
PROFILES = ["claude-sonnet-4-5", "claude-opus-4-5", "gpt-4o", "gpt-5", "local"]
WORDS = ("parse token lexer buffer span node visitor error result config cache index "
         "query plan step state file path module test assert fixture value").split()


def prose(n: int, seed: int) -> str:
    r = random.Random(seed)
    return " ".join(r.choice(WORDS) + ("." if r.random() < 0.08 else "") for _ in range(n))


def code(n_lines: int, seed: int) -> str:
    r = random.Random(seed)
    out = []
    for i in range(n_lines):
        a, b = r.choice(WORDS), r.choice(WORDS)
        out.append(f"    {a}_{i} = {b}.get('{r.choice(WORDS)}', {r.randint(0, 99)})")
    return "def handler(request):\n" + "\n".join(out)


SYSTEM = ("You are a coding agent working in a Python repository. " + prose(1800, 1))
AGENTS_MD = "# AGENTS.md\n" + prose(900, 2)
TOOLS = [{"name": name, "description": prose(40, 10 + i),
          "input_schema": {"type": "object", "properties": {
              "path": {"type": "string", "description": prose(10, 30 + i)},
              "pattern": {"type": "string", "description": prose(8, 50 + i)}},
              "required": ["path"]}}
         for i, name in enumerate(["read_file", "run_tests", "grep", "list_dir", "edit_file",
                                   "write_file", "git_diff", "git_log", "search_docs",
                                   "run_shell", "open_issue", "format_code"])]


def read_file(path: str) -> str:
    """Read a file."""
    return code(40, int(hashlib.sha256(path.encode()).hexdigest()[:8], 16))


def run_tests(path: str) -> str:
    """Run the tests."""
    seed = int(hashlib.sha256(path.encode()).hexdigest()[:8], 16)
    return f"collected 24 items\n{prose(90, seed)}\n1 failed, 23 passed"


FUNCTIONS = {"read_file": read_file, "run_tests": run_tests}


class NaivePrefix:
    """The prefix as a naive agent sends it: a timestamp first, tools in arbitrary order."""

    name = "prefix"

    def __init__(self, clock: Any, seed: int) -> None:
        self.clock = clock
        self.rng = random.Random(seed)

    def __call__(self, draft: Any, turn: Any) -> Any:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.clock()))
        draft.add(Block(layer="prefix", role="system", content=f"Current time: {stamp}\n"
                        + SYSTEM))
        for t in self.rng.sample(TOOLS, len(TOOLS)):  # dict/set order: differs per process
            draft.add_tool(Block(layer="prefix", role="system", kind="tool", name=t["name"],
                                 content=canonical_json(t)), run=FUNCTIONS.get(t["name"]))
        return draft.add(Block(layer="prefix", role="system", content=AGENTS_MD))


class BestPracticePrefix:
    """The prefix as a careful user writes it: stable system prompt (AGENTS.md appended) and
    tools in a fixed order, breakpoints on the system prompt and the last tool."""

    name = "prefix"

    def __init__(self) -> None:
        self.blocks = [Block(layer="prefix", role="system", cache="1h",
                             content=SYSTEM + "\n\n" + AGENTS_MD)]
        self.blocks += [Block(layer="prefix", role="system", kind="tool", name=t["name"],
                              content=canonical_json(t),
                              cache="1h" if i == len(TOOLS) - 1 else None)
                        for i, t in enumerate(TOOLS)]

    def __call__(self, draft: Any, turn: Any) -> Any:
        for b in self.blocks:  # tools through the draft, so the tool loop runs them
            if b.kind == "tool":
                draft.add_tool(b, run=FUNCTIONS.get(str(b.name)))
            else:
                draft.add(b)
        return draft


def naive_history(draft: Any, turn: Any) -> Any:
    return draft.extend(turn.session.transcript)


naive_history.name = "history"  # type: ignore[attr-defined]


class SimClock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


def scripted_model(clock: SimClock) -> Any:
    """The model's side of the session: read a file, run the tests, answer."""
    calls = {"n": 0}

    def model(draft: Any) -> Response:
        n = calls["n"]
        calls["n"] += 1
        clock.now += 20  # model latency
        turn, step = divmod(n, 3)
        path = f"src/module_{turn % 9}.py"
        if step == 0:
            return Response(tool_calls=[ToolCall(id=f"c{turn}a", name="read_file",
                                                 arguments={"path": path})])
        if step == 1:
            return Response(tool_calls=[ToolCall(id=f"c{turn}b", name="run_tests",
                                                 arguments={"path": path})])
        return Response(text=prose(60, 1000 + turn))

    return model


def session(profile: str, layout: str, turns: int, backend: Any = None,
            before_turn: Any = None) -> ContextPipeline:
    """Run the session; ``backend`` defaults to the scripted model under ``profile``."""
    clock = SimClock()
    if backend is None:
        backend = FunctionBackend(scripted_model(clock), model=profile)
    if layout == "ctxkit":
        prefix = Prefix(system=SYSTEM, tools=TOOLS, project=[("AGENTS.md", AGENTS_MD[12:])])
        prefix.functions.update(FUNCTIONS)
        layers: list[Any] = [prefix, History()]
    elif layout == "best_practice_breakpoints":
        layers = [BestPracticePrefix(), History()]  # History: the moving 5m breakpoint
    else:
        layers = [NaivePrefix(clock, seed=3), naive_history]
    # the local engine is configured with a 128k window for this session; others use theirs
    window = 131_072 if profile == "local" else None
    pipe = ContextPipeline(backend, layers, budget=Budget(window=window), clock=clock)
    for t in range(turns):
        clock.now += 60  # the user reads and types
        if before_turn is not None:
            before_turn(t)
        pipe.run(f"Turn {t}: {prose(25, 2000 + t)}")
    return pipe


def wire_totals(profile: str, layout: str, turns: int) -> dict[str, float]:
    """The session through the real SDKs to the loopback test server; reported usage."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ctxkit.backends import Anthropic, OpenAI
    from tests.backends.fakeserver import FakeServer

    paged = profile == "local"
    with FakeServer(openai_min_tokens=0 if paged else 1024,
                    openai_increment=16 if paged else 128) as server:
        if profile.startswith("claude"):
            backend: Any = Anthropic(profile, base_url=server.url, api_key="eval")
        else:
            backend = OpenAI(profile, base_url=server.openai_url, api_key="eval",
                             profile=profile, cache_key=None if paged else "session")

        def script(t: int) -> None:  # the model's three replies of turn t
            path = f"src/module_{t % 9}.py"
            server.reply("", tool_calls=[{"id": f"c{t}a", "name": "read_file",
                                          "arguments": {"path": path}}])
            server.reply("", tool_calls=[{"id": f"c{t}b", "name": "run_tests",
                                          "arguments": {"path": path}}])
            server.reply(prose(60, 1000 + t))

        pipe = session(profile, layout, turns, backend=backend, before_turn=script)
        if server.violations:
            raise SystemExit(f"the server refused requests: {server.violations[:3]}")
        return totals(pipe)


def totals(pipe: ContextPipeline) -> dict[str, float]:
    recs = pipe.records
    inp = sum(r.usage.input_tokens for r in recs)
    read = sum(r.usage.cache_read_tokens for r in recs)
    return {"calls": len(recs), "input": inp, "read": read,
            "write": sum(r.usage.cache_write_tokens for r in recs),
            "hit": read / inp if inp else 0.0, "cost": sum(r.cost_usd for r in recs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--profiles", nargs="*", default=PROFILES)
    ap.add_argument("--wire", action="store_true",
                    help="also replay through the real SDKs to the loopback test server")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--recorded", action="store_true",
                    help="instead: replay the recorded SWE-agent/OpenHands sessions in --data "
                         "through ctxkit's layout beside their own (issue 5's measurement)")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent
                    / "shared" / "evaldata", help="evaluation data directory (--recorded)")
    args = ap.parse_args(argv)
    if args.recorded:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import _recorded_replay

        return int(_recorded_replay.main(["--data", str(args.data)]
                                         + (["--json"] if args.json else [])))
    rows = []
    for profile in args.profiles:
        ours, best, naive = (totals(session(profile, lay, args.turns)) for lay in LAYOUTS)
        row = {"profile": profile, "ctxkit": ours, "best_practice_breakpoints": best,
               "naive": naive,
               "ratio_vs_best_practice": ours["cost"] / best["cost"] if best["cost"] else None,
               "ratio": ours["cost"] / naive["cost"] if naive["cost"] else None}
        if args.wire:
            row["wire"] = {lay: wire_totals(profile, lay, args.turns) for lay in LAYOUTS}
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"cache replay: {args.turns}-turn coding session, "
          f"{rows[0]['ctxkit']['calls']} calls per layout (predicted usage)\n")
    head = (f"{'profile':<18} {'prompt tok':>11} {'hit ctxkit':>10} {'hit best':>9} "
            f"{'$ ctxkit':>9} {'$ best':>9} {'ratio':>6}   {'$ naive':>8} {'vs naive':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        o, b, n = r["ctxkit"], r["best_practice_breakpoints"], r["naive"]
        rb = r["ratio_vs_best_practice"]
        ratio = f"{rb:.3f}" if rb is not None else "  n/a"
        floor = f"{r['ratio']:.3f}" if r["ratio"] is not None else "  n/a"
        print(f"{r['profile']:<18} {o['input']:>11,.0f} {o['hit']:>10.1%} {b['hit']:>9.1%} "
              f"{o['cost']:>9.3f} {b['cost']:>9.3f} {ratio:>6}   {n['cost']:>8.3f} {floor:>8}")
    print("best = best_practice_breakpoints (hand-placed breakpoints, the baseline that "
          "counts); naive (a timestamp first, no breakpoints) is a floor")
    if args.wire:
        print("\nreported by the loopback server (real SDKs over HTTP):")
        for r in rows:
            o, b = r["wire"]["ctxkit"], r["wire"]["best_practice_breakpoints"]
            ratio = f"{o['cost'] / b['cost']:.3f}" if b["cost"] else "  n/a"
            n = r["wire"]["naive"]
            print(f"{r['profile']:<18} {o['input']:>11,.0f} {o['hit']:>10.1%} "
                  f"{b['hit']:>9.1%} {o['cost']:>9.3f} {b['cost']:>9.3f} {ratio:>6}   "
                  f"{n['cost']:>8.3f}")
    print("\nlocal: prices are 0, so only the hit share is meaningful; its window is set "
          "to 128k for this session.")
    anth = [r for r in rows if r["profile"].startswith("claude") and r["ratio"] is not None]
    if anth:
        vs = max(r["ratio_vs_best_practice"] for r in anth)
        print(f"ctxkit cost vs best_practice_breakpoints on Anthropic prices: worst ratio "
              f"{vs:.3f}")
        worst = max(r["ratio"] for r in anth)
        print(f"goal: ctxkit cost <= 0.25x naive on Anthropic prices -> worst ratio "
              f"{worst:.3f}: {'met' if worst <= 0.25 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
