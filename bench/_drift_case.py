"""The drift case of ``bench/assemble.py --drift``: a prefix that breaks on every call.

200 calls over a 100k-character system prompt whose first line is a timestamp that changes
on every call, a realistic tool list (24 schemas, JSON like an agent's), and a growing
history; every 10th call also swaps two tools. This is the scenario ctxkit exists to
diagnose, and the one where diagnosis cost most (issue 11: SequenceMatcher over whole
blocks took 37-42 s per call at 57k characters). The agent builds its prefix itself, as a
hand-written layer would, so every call carries a new system block and sometimes a new tool
order: ctxkit must count it, predict the cache and name the drift.

Timed per call: ``pipe.run`` with a ScriptedBackend, minus the backend's own time.
Baseline, same run: ``tiktoken`` encoding the whole prompt once (what counting it costs).
"""

from __future__ import annotations

import time
from typing import Any

from ctxkit import Block, ContextPipeline, Draft, Response, ToolCall, ToolResult
from ctxkit._block import canonical_json
from ctxkit._types import Turn
from ctxkit.layers import History
from ctxkit.testing import ScriptedBackend

VOCAB = ("the agent must read the file before editing it and run the tests after each change; "
         "prefer small diffs, keep public names stable, never commit secrets, explain the plan "
         "first. Tools return JSON; errors carry a code and a message. When a command fails, "
         "read its output, fix the cause, and try again at most twice.").split()


def prose(n_chars: int, seed: int) -> str:
    words: list[str] = []
    size, i = 0, seed
    while size < n_chars:
        w = VOCAB[(i * 7 + seed) % len(VOCAB)]
        if i % 40 == 39:
            w += f"\n\n## Section {i // 40}\n"
        words.append(w)
        size += len(w) + 1
        i += 1
    return " ".join(words)[:n_chars]


def tool_list(n: int = 24) -> list[dict[str, Any]]:
    names = ["read_file", "write_file", "edit_file", "list_dir", "grep", "glob", "run",
             "run_tests", "git_diff", "git_log", "git_status", "search_docs", "web_fetch",
             "todo_write", "todo_read", "ask_user", "python", "lint", "format", "typecheck",
             "open_pr", "comment", "spawn_agent", "memory_note"]
    return [{"name": names[i % len(names)] + ("" if i < len(names) else f"_{i}"),
             "description": prose(400, i),
             "input_schema": {"type": "object", "properties": {
                 f"arg{j}": {"type": "string", "description": prose(90, i * 5 + j)}
                 for j in range(4)}, "required": ["arg0"]}} for i in range(n)]


class DriftingPrefix:
    """A hand-written prefix layer: timestamp on top, tools in the agent's own order."""

    name = "prefix"

    def __init__(self, system_chars: int) -> None:
        self.body = prose(system_chars, 3)
        self.tools = tool_list()
        self.call = 0

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        self.call += 1
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1_790_000_000 + 61 * self.call))
        order = list(self.tools)
        if self.call % 10 == 0:  # every 10th call the agent swaps two tools
            order[3], order[4] = order[4], order[3]
        blocks = [Block(layer=self.name, role="system", key="system",
                        content=f"Current time: {stamp}\n{self.body}")]
        blocks += [Block(layer=self.name, role="system", kind="tool", name=t["name"],
                         key=f"tool:{t['name']}", content=canonical_json(t)) for t in order]
        blocks[-1] = blocks[-1].replace(cache="1h")
        return draft.extend(blocks)


class TimedScripted(ScriptedBackend):
    """ScriptedBackend that records its own time, to subtract it from ``pipe.run``."""

    def __init__(self, responses: list[Any]) -> None:
        super().__init__(responses)
        self.seconds = 0.0

    def complete(self, draft: Draft) -> Response:
        t0 = time.perf_counter()
        try:
            return super().complete(draft)
        finally:
            self.seconds += time.perf_counter() - t0


def run(calls: int, system_chars: int, trace: Any) -> dict[str, list[float]]:
    """Time ``calls`` model calls; returns per-call overhead, baseline and prompt sizes."""
    from ctxkit._tokens import tiktoken_encoding

    enc = tiktoken_encoding("o200k_base")
    # every other user turn asks for a tool: call, result, answer = 2 model calls
    script: list[Any] = ["ready"]  # the warm-up call's answer
    k = 0
    while len(script) < calls + 2:
        script.append(Response(tool_calls=[ToolCall(id=f"c{k}", name="read_file",
                                                    arguments={"arg0": f"src/m{k}.py"})]))
        script.append(prose(600, k))
        k += 1
    backend = TimedScripted(script)
    prefix = DriftingPrefix(system_chars)
    pipe = ContextPipeline(backend=backend, layers=[prefix, History()], trace=trace)
    out: dict[str, list[float]] = {"overhead": [], "tokenize": [], "chars": [], "tokens": []}
    pipe.run("warm up")  # first call: builds the tokenizer and the layers' state
    turn = 0
    while len(out["overhead"]) < calls:
        turn += 1
        b0, t0 = backend.seconds, time.perf_counter()
        reply = pipe.run(f"turn {turn}: " + prose(300, turn))
        dt = time.perf_counter() - t0 - (backend.seconds - b0)
        _account(pipe, enc, dt, out)
        if reply.tool_calls:
            b0, t0 = backend.seconds, time.perf_counter()
            pipe.run(tool_results=[ToolResult(call_id=c.id, content=prose(3000, turn))
                                   for c in reply.tool_calls])
            dt = time.perf_counter() - t0 - (backend.seconds - b0)
            _account(pipe, enc, dt, out)
    return out


def _account(pipe: ContextPipeline, enc: Any, dt: float, out: dict[str, list[float]]) -> None:
    draft = pipe.backend.drafts[-1]  # type: ignore[attr-defined]
    prompt = "\n".join(b.content for b in draft.blocks)
    t1 = time.perf_counter()
    n = len(enc.encode(prompt, disallowed_special=()))
    out["tokenize"].append(time.perf_counter() - t1)
    out["overhead"].append(dt)
    out["chars"].append(float(len(prompt)))
    out["tokens"].append(float(n))
