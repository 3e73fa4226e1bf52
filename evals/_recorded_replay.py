"""Recorded replay: real agents' prompts re-assembled by ctxkit, and what the cache serves.

Reads the recorded SWE-agent trajectories and OpenHands prompt logs in
../shared/evaldata (through ``ctxkit.audit``'s loaders) and, for every recorded session,
replays the same messages through a real ContextPipeline — Prefix (the recorded system
prompt and tools), History (append-only; with or without Threshold compaction), the
blocks the agent re-renders at the end of every prompt (reminders) in a per-turn layer,
the recorded observation as the turn's message after ctxkit's canonicalization, and the
recorded reply as the backend's answer. Each call's draft then goes through ctxkit's
cache model beside the recorded prompts (breakpoints where a careful client would put
them: after the system prompt and on the last block), under the same profile.

Two cache situations are reported: ``cold`` (every session starts with an empty cache)
and ``warm`` (sessions run one after another in one deployment, so a system prompt or
demonstration shared with an earlier session may already be cached) — for both layouts.
Sessions whose calls do not extend one another as message lists (agents that re-render
one monolithic prompt per call) replay as one-shot prompts: the text all their calls
share goes first (the prefix), the rest after it.

    python evals/_recorded_replay.py --json [--data ../shared/evaldata]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ctxkit import Block, ContextPipeline, Draft, Turn, profile_for  # noqa: E402
from ctxkit._cache import CacheModel, place_breakpoints  # noqa: E402
from ctxkit.compaction import Compactor, InMemorySink, Threshold  # noqa: E402
from ctxkit.layers import History, Prefix  # noqa: E402
from ctxkit.testing import FunctionBackend, capture_calls  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("sweagent_trajectories", "openhands_mock_prompts")
PROFILES = ("claude-sonnet-4-5", "gpt-5")
COMPACT_AT = 8000          # Threshold tokens for the "with compaction" replay
CALL_INTERVAL_S = 30.0
LAYOUTS = ("recorded", "ctxkit", "ctxkit_compaction", "ctxkit_turn_breakpoint")


class _Volatile:
    """The blocks the recorded agent re-renders at the end of every prompt (a reminder,
    a turn counter): ctxkit sends them after the history, where they cost no cache."""

    name = "volatile"

    def __init__(self) -> None:
        self.blocks: list[Block] = []

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        return draft.extend(b.replace(layer=self.name, cache=None) for b in self.blocks)


def _head(blocks: list[Block]) -> int:
    n = 0
    while n < len(blocks) and (blocks[n].role == "system" or blocks[n].kind == "tool"):
        n += 1
    return n


def _lcp(a: list[Block], b: list[Block]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n].hash == b[n].hash:
        n += 1
    return n


def _text(b: Block) -> str:
    if b.kind == "tool_use":
        return f"[{b.name}] {b.content}"
    return b.content


def conversation(calls: list[list[Block]], max_tail: int = 2) -> dict[str, Any] | None:
    """Per call: the new user-side text, the volatile tail, and the reply (the assistant
    blocks the next call adds) — or None when the calls do not extend one another.

    The part of call k that call k+1 keeps is the longest common block prefix; what call
    k+1 drops from the end of call k (at most ``max_tail`` blocks) is volatile per-turn
    text. The last call's tail is as long as the one before it.
    """
    bodies = [c[_head(c):] for c in calls]
    keeps = [_lcp(a, b) for a, b in zip(bodies, bodies[1:], strict=False)]
    tails = [len(b) - k for b, k in zip(bodies, keeps, strict=False)]
    if any(k == 0 or t > max_tail for k, t in zip(keeps, tails, strict=True)):
        return None  # the agent re-renders or rewrites its prompt: not an append-only chat
    tails.append(tails[-1] if tails else 0)
    messages, volatile, replies = [], [], []
    for k, body in enumerate(bodies):
        start = keeps[k - 1] if k else 0
        end = len(body) - tails[k]
        if end < start:
            return None
        new = body[start:end]
        if k:
            assistant = [b for b in new if b.role == "assistant"]
            replies.append("\n".join(_text(b) for b in assistant) or "(no reply text)")
            new = [b for b in new if b.role != "assistant"]
        messages.append("\n\n".join(_text(b) for b in new))
        volatile.append(body[end:])
    replies.append("(final reply not recorded)")
    return {"messages": messages, "volatile": volatile, "replies": replies}


def _tools(head: list[Block]) -> list[dict[str, Any]]:
    out = []
    for b in head:
        if b.kind == "tool":
            try:
                out.append(json.loads(b.content))
            except ValueError:
                out.append({"name": b.name or b.key, "description": b.content})
    return out


def replay_ctxkit(calls: list[list[Block]], model: str, compact: bool) -> list[Draft] | None:
    """The drafts ctxkit's pipeline sends for the recorded session (None: not a chat).

    The agent's actions run as ctxkit tool calls (one ``env`` tool): the recorded reply is
    the assistant text with a call to ``env``, the recorded observation is the tool's
    result — canonicalized by the pipeline's tool loop like any tool output — and the
    history's moving breakpoint sits on it, as an agent built on ctxkit would run.
    """
    conv = conversation(calls)
    if conv is None:
        return None
    head = calls[0][:_head(calls[0])]
    system = "\n\n".join(b.content for b in head if b.kind != "tool")
    num = len(conv["messages"])
    volatile = _Volatile()
    volatile.blocks = conv["volatile"][0]
    steps = itertools.count(1)
    replies = iter(enumerate(conv["replies"]))

    def env() -> str:
        """Run the action of your last message in the environment; returns its output."""
        k = next(steps)
        volatile.blocks = conv["volatile"][k]
        return str(conv["messages"][k]) or "(no output)"

    def agent(draft: Draft) -> Any:
        k, text = next(replies)
        if k + 1 < num:
            return {"text": text, "tool_calls": [{"id": f"env_{k}", "name": "env",
                                                   "arguments": {}}]}
        return text

    compactor = Compactor(Threshold(tokens=COMPACT_AT), sink=InMemorySink(), keep_turns=2,
                          keep_tokens=COMPACT_AT // 4, max_summary_tokens=800) \
        if compact else None
    pipe = ContextPipeline(FunctionBackend(agent, model=model),
                           [Prefix(system=system, tools=[*_tools(head), env]),
                            History(compactor=compactor), volatile], max_steps=num)
    with capture_calls() as cap:
        pipe.run(conv["messages"][0] or "(start)")
    assert len(cap.drafts) == num, (len(cap.drafts), num)
    return cap.drafts


def oneshot_ctxkit(calls: list[list[Block]]) -> list[list[Block]]:
    """Prompts that are re-rendered whole each call: the stable part first — the recorded
    system/tools blocks, or (for one monolithic text) the text every call starts with —
    cached, and the rest after it as the turn."""
    texts = ["".join(b.content for b in c[_head(c):]) for c in calls]
    common = texts[0]
    for t in texts[1:]:
        n = 0
        while n < min(len(common), len(t)) and common[n] == t[n]:
            n += 1
        common = common[:n]
    common = common[:common.rfind("\n") + 1]
    out = []
    for c, t in zip(calls, texts, strict=True):
        blocks = [b.replace(cache=None) for b in c[:_head(c)]]
        if common:
            blocks.append(Block(layer="prefix", role="system", content=common, key="shared"))
        if blocks:
            blocks[-1] = blocks[-1].replace(cache="1h")
        blocks.append(Block(layer="turn", role="user", content=t[len(common):], key="prompt"))
        out.append(blocks)
    return out


def recorded(calls: list[list[Block]]) -> list[list[Block]]:
    """The recorded prompts with a careful client's breakpoints: after the system prompt
    (1h, like ctxkit's prefix) and on the last block (5m)."""
    out = []
    for c in calls:
        blocks = [b.replace(cache=None) for b in c]
        n = _head(blocks)
        if n:
            blocks[n - 1] = blocks[n - 1].replace(cache="1h")
        if blocks and len(blocks) - 1 != n - 1:
            blocks[-1] = blocks[-1].replace(cache="5m")
        out.append(blocks)
    return out


def with_turn_breakpoint(drafts: list[Draft]) -> list[list[Block]]:
    """What-if: ctxkit's drafts with a 5m cache mark on the user's turn message too (the
    pipeline leaves it unmarked, so a long first message is cached one call late)."""
    out = []
    for d in drafts:
        blocks = list(d.blocks)
        if blocks and blocks[-1].layer == "turn":
            blocks[-1] = blocks[-1].replace(cache="5m")
        out.append(blocks)
    return out


def ceiling(sequence: list[list[Block]], model: str) -> tuple[int, int]:
    """(prompt tokens, tokens shared with the previous prompt as a block prefix): what a
    perfect prefix cache with no minimum size and no breakpoints could serve."""
    counter = FunctionBackend(lambda d: "", model=model).counter()
    total = shared = 0
    prev: list[Block] = []
    for blocks in sequence:
        total += sum(counter.count(b) for b in blocks)
        n = _lcp(prev, blocks)
        shared += sum(counter.count(b) for b in blocks[:n])
        prev = blocks
    return total, shared


def simulate(sequence: list[list[Block]], model: str, cache: CacheModel, t0: float
             ) -> tuple[int, int, float]:
    """(prompt tokens, tokens read from cache, end time) of the prompts in order."""
    profile = profile_for(model)
    counter = FunctionBackend(lambda d: "", model=model).counter()
    total = read = 0
    now = t0
    for blocks in sequence:
        draft = Draft(profile=profile, counter=counter, budget=profile_budget()).extend(blocks)
        cumulative = list(itertools.accumulate(draft.tokens(b) for b in blocks))
        bps = place_breakpoints(blocks, cumulative, profile.cache)
        chain = draft.chain()
        pred = cache.predict(chain, cumulative, bps, now)
        cache.commit(chain, cumulative, bps, pred.read, now)
        total += pred.total
        read += pred.read
        now += CALL_INTERVAL_S
    return total, read, now


def profile_budget() -> Any:
    from ctxkit import Budget

    return Budget()


def _session_calls(data_dir: Path) -> list[tuple[str, str, list[list[Block]]]]:
    from ctxkit.audit import discover, load

    out = []
    for src in SOURCES:
        root = data_dir / src
        if not root.exists():
            continue
        for item in discover([root]):
            for sess in load(item):
                calls = [list(c.blocks) for c in sess.calls]
                if calls:
                    out.append((sess.name, sess.format, calls))
    return out


def run(data_dir: Path, as_json: bool = True) -> dict[str, Any]:
    """Replay every recorded session under each profile; per-session and total figures."""
    sessions = _session_calls(data_dir)
    if not sessions:
        raise SystemExit(f"no recorded sessions under {data_dir} ({', '.join(SOURCES)})")
    result: dict[str, Any] = {"eval": "recorded_replay", "compact_at_tokens": COMPACT_AT,
                              "call_interval_s": CALL_INTERVAL_S, "profiles": {}}
    for model in PROFILES:
        warm = {name: CacheModel(profile_for(model).cache) for name in LAYOUTS}
        clock = dict.fromkeys(LAYOUTS, 0.0)
        totals = {m: {n: [0, 0] for n in LAYOUTS} for m in ("cold", "warm", "ceiling")}
        rows = []
        for name, fmt, calls in sessions:
            drafts = replay_ctxkit(calls, model, compact=False)
            mode = "chat" if drafts is not None else "one-shot"
            seqs = {"recorded": recorded(calls)}
            if drafts is None:
                seqs["ctxkit"] = seqs["ctxkit_compaction"] = oneshot_ctxkit(calls)
                seqs["ctxkit_turn_breakpoint"] = seqs["ctxkit"]
                compactions = 0
            else:
                seqs["ctxkit"] = [d.blocks for d in drafts]
                seqs["ctxkit_turn_breakpoint"] = with_turn_breakpoint(drafts)
                with_c = replay_ctxkit(calls, model, compact=True) or []
                seqs["ctxkit_compaction"] = [d.blocks for d in with_c]
                compactions = sum(1 for d in with_c if d.declared_rewrite)
            row: dict[str, Any] = {"session": name, "format": fmt, "calls": len(calls),
                                   "mode": mode, "compactions": compactions}
            for layout, seq in seqs.items():
                tok, rd, _ = simulate(seq, model, CacheModel(profile_for(model).cache), 0.0)
                wtok, wrd, clock[layout] = simulate(seq, model, warm[layout], clock[layout])
                ctok, cshared = ceiling(seq, model)
                totals["ceiling"][layout][0] += ctok
                totals["ceiling"][layout][1] += cshared
                totals["cold"][layout][0] += tok
                totals["cold"][layout][1] += rd
                totals["warm"][layout][0] += wtok
                totals["warm"][layout][1] += wrd
                row[layout] = {"prompt_tokens": tok, "cold_hit_rate": round(rd / tok, 4),
                               "warm_hit_rate": round(wrd / wtok, 4)}
            rows.append(row)
        summary = {m: {n: {"prompt_tokens": t, "cache_read_tokens": r,
                           "uncached_or_written_tokens": t - r,
                           "hit_rate": round(r / t, 4) if t else 0.0}
                       for n, (t, r) in v.items()} for m, v in totals.items()}
        result["profiles"][model] = {"total": summary, "sessions": rows,
                                     "compactions": sum(r["compactions"] for r in rows)}
    return result


def _table(res: dict[str, Any]) -> str:
    lines = []
    for model, r in res["profiles"].items():
        lines.append(f"{model}: hit rate of prompt tokens (cold | warm | prefix ceiling)")
        for layout in LAYOUTS:
            c, w = r["total"]["cold"][layout], r["total"]["warm"][layout]
            x = r["total"]["ceiling"][layout]
            lines.append(f"  {layout:22} {c['hit_rate']:.3f} | {w['hit_rate']:.3f} | "
                         f"{x['hit_rate']:.3f}   ({c['prompt_tokens']:,} prompt tokens, "
                         f"{c['uncached_or_written_tokens']:,} not read from cache)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "evaldata")
    args = ap.parse_args(argv)
    res = run(args.data, args.json)
    print(json.dumps(res, indent=1) if args.json else _table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
