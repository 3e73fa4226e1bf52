"""The OpenAI Agents SDK on ctxkit: an input filter that applies ctxkit's layout and records
every model call, and a ``Session`` kept in ctxkit's memory store.

``ContextFilter`` is a ``RunConfig.call_model_input_filter``. Before each model call it
keeps the instructions byte-stable (date- and id-like text that changes between calls is
moved out of them, to the end of the input: a prompt cache keeps serving the head), and
puts every tool output in canonical form (``ctxkit.canonical``: no ANSI, timestamps or
request ids, stable order). Its ``hooks`` (pass them as ``Runner.run(hooks=...)``) take
the usage the model reported. Each call then leaves a CallRecord made by the same recorder
as ``ctxkit proxy`` (sessions, drift naming the item that broke the prefix, prediction,
cost, redaction), in ``records`` and, with ``trace=``, a JSONL trace for ``ctxkit report``.

``MemorySession`` implements the SDK's ``Session`` protocol on ``ctxkit.memory``: items
are episodic records of the scope's session (redacted on write, audited on read, revocable),
tool outputs stored as untrusted.

    flt = ContextFilter(model="gpt-4.1", trace="agent.jsonl")
    result = await Runner.run(agent, "fix the test", hooks=flt.hooks,
                              run_config=RunConfig(call_model_input_filter=flt),
                              session=MemorySession(store, Scope("acme", "u1", "s42")))
    print(Report.from_records(flt.records))

Needs ``pip install 'ctxkit[openai-agents]'`` (and ``ctxkit[memory]`` for the session).
"""

from __future__ import annotations

import json
import re
import time
import warnings
import weakref
from collections import defaultdict, deque
from typing import Any

from .._drift import _DATE_LIKE, _ID_LIKE
from .._errors import require
from .._record import CallRecord
from ..canonical import canonicalize
from ..memory import Scope
from ..memory._redact import redact_value

agents: Any = require("agents", "openai-agents")

_VOLATILE = re.compile(f"(?:{_DATE_LIKE.pattern})|(?:{_ID_LIKE.pattern})", re.IGNORECASE)


class ContextFilter:
    """A ``call_model_input_filter`` that lays out and records each model call.

    Args:
        model: the model name for records when the agent names none (its profile prices
            the calls).
        trace: JSONL file the CallRecords are appended to.
        session: the records' session id (default: inferred by prefix, as the proxy does).
        move_volatile: move date/id-like text out of the instructions.
        canonical_tool_output: canonicalize function call outputs.
    """

    def __init__(self, *, model: str = "gpt-4.1", trace: str | None = None,
                 session: str | None = None, move_volatile: bool = True,
                 canonical_tool_output: bool = True) -> None:
        from ..proxy._config import ProxyConfig
        from ..proxy._recorder import Recorder

        self.model = model
        self.session = session
        self.move_volatile = move_volatile
        self.canonical_tool_output = canonical_tool_output
        self.recorder = Recorder(ProxyConfig(upstream="openai", trace=trace))
        # filtered, not yet started (per agent), then started: by the run's context, as
        # one run calls its model one call at a time and a call that raised ends its run
        self._filtered: dict[str, deque[tuple[int, float]]] = defaultdict(deque)
        self._open: dict[int, tuple[int, float]] = {}
        self._num_started = 0
        self.hooks = _UsageHooks(self)

    @property
    def records(self) -> list[CallRecord]:
        if not self._num_started and any(self._filtered.values()):
            # no call ever started: the hooks, which carry each reply, were not passed
            warnings.warn("ContextFilter saw model calls but none of their replies: pass "
                          "hooks=flt.hooks to Runner.run as well as the filter", UserWarning,
                          stacklevel=2)
            for queue in self._filtered.values():
                while queue:
                    self._fail(queue.popleft(), "no reply recorded: pass hooks=flt.hooks "
                               "to Runner.run (its on_llm_end carries the reply)")
        self.recorder.wait_idle()
        return self.recorder.snapshot()[0]

    def close(self) -> None:
        self.recorder.close()

    def __call__(self, data: Any) -> Any:
        md = data.model_data
        instructions, moved = md.instructions, []
        if self.move_volatile and instructions:
            moved = [m.group(0) for m in _VOLATILE.finditer(instructions)]
            instructions = _VOLATILE.sub("", instructions) if moved else instructions
        items = [self._item(i) for i in md.input]
        if moved:
            items.append({"role": "user", "content": "(current values: " + ", ".join(moved)
                          + ")"})
        model = data.agent.model if isinstance(data.agent.model, str) else self.model
        tools = [{"type": "function", "name": t.name, "parameters": t.params_json_schema}
                 for t in getattr(data.agent, "tools", []) if hasattr(t, "params_json_schema")]
        body = json.dumps({"model": model, "instructions": instructions, "tools": tools,
                           "input": items}, default=str).encode()
        call = self.recorder.begin("responses", body, self.session, time.time(), None)
        self._filtered[data.agent.name].append((call, time.perf_counter()))
        from agents.run_config import ModelInputData

        return ModelInputData(input=items, instructions=instructions)

    def _item(self, item: Any) -> Any:
        if self.canonical_tool_output and isinstance(item, dict) and \
                item.get("type") == "function_call_output" and isinstance(item.get("output"),
                                                                           str):
            return {**item, "output": canonicalize(item["output"])}
        return item

    def _start(self, context: Any, agent: Any) -> None:
        queue = self._filtered.get(agent.name)
        if not queue:
            return
        key = id(context)
        stale = self._open.pop(key, None)
        if stale is not None:  # the run called its model again without a reply to the last
            self._fail(stale, "no reply: the run called the model again")
        self._open[key] = entry = queue.popleft()
        self._num_started += 1
        # a model call that raised ends its run with no on_llm_end: close it with the run
        weakref.finalize(context, self._abandon, key, entry)

    def _abandon(self, key: int, entry: tuple[int, float]) -> None:
        if self._open.get(key) is entry:
            del self._open[key]
            self._fail(entry, "no reply: the model call raised or its run was cancelled")

    def _fail(self, entry: tuple[int, float], error: str) -> None:
        call, t0 = entry
        self.recorder.finish(call, 0, {}, [], error, time.perf_counter() - t0, None)

    def _finish(self, context: Any, response: Any) -> None:
        entry = self._open.pop(id(context), None)
        if entry is None:
            return
        call, t0 = entry
        u = response.usage
        details = getattr(u, "input_tokens_details", None)
        reply = {"object": "response", "status": "completed", "model": self.model,
                 "output": [o.model_dump() if hasattr(o, "model_dump") else o
                            for o in response.output],
                 "usage": {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                           "input_tokens_details": {"cached_tokens":
                                                    getattr(details, "cached_tokens", 0) or 0}}}
        self.recorder.finish(call, 200, {"content-type": "application/json"},
                             [json.dumps(reply, default=str).encode()], None,
                             time.perf_counter() - t0, None)


class _UsageHooks(agents.RunHooks):  # type: ignore[misc]
    def __init__(self, owner: ContextFilter) -> None:
        self.owner = owner

    async def on_llm_start(self, context: Any, agent: Any, *args: Any) -> None:
        self.owner._start(context, agent)

    async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
        self.owner._finish(context, response)


class MemorySession:
    """The Agents SDK ``Session`` protocol on a ctxkit ``MemoryStore``.

    Items are episodic records of ``scope`` (its ``session`` is the session id), in order;
    ``pop_item`` and ``clear_session`` revoke, with the reason kept in the audit log.
    """

    session_settings: Any = None

    def __init__(self, store: Any, scope: Scope) -> None:
        if not scope.session:
            raise ValueError("MemorySession needs a Scope with a session id")
        self.store = store
        self.scope = scope
        self.session_id = str(scope.session)

    def _records(self) -> list[Any]:
        recs = self.store.list(self.scope, tier="episodic", session=self.session_id,
                               kinds=["agents_item"])
        return sorted(recs, key=lambda r: int((r.meta or {}).get("seq", 0)))

    async def get_items(self, limit: int | None = None) -> list[Any]:
        recs = self._records()
        if limit is not None:
            recs = recs[-limit:] if limit > 0 else []
        return [json.loads(r.content.split("\n", 1)[1]) for r in recs]

    async def add_items(self, items: list[Any]) -> None:
        recs = self._records()
        seq = int((recs[-1].meta or {}).get("seq", 0)) + 1 if recs else 1
        batch = []
        for n, item in enumerate(items, start=seq):
            tool = isinstance(item, dict) and item.get("type") == "function_call_output"
            role = item.get("role") if isinstance(item, dict) else None
            # redacted before it is JSON: the store's redactor reads text as written, and in
            # JSON a quoted secret ("password": "...") reads \"password\": \"...\"
            safe = redact_value(item, secrets=self.store.redact_secrets,
                                pii=self.store.redact_pii)
            # the sequence number keeps two equal items (two "ok"s) from being one memory
            batch.append(dict(content=f"#{n}\n" + self._encode(safe), tier="episodic",
                              kind="agents_item", meta={"seq": n},
                              source="tool" if tool else "user" if role == "user" else "agent",
                              source_ref=item.get("call_id") if tool else None))
        if batch:
            self.store.write_many(self.scope, batch)

    def _encode(self, item: Any) -> str:
        """``item`` as JSON (UTF-8 text, not escapes) within the store's ``max_content``:
        a tool output over it keeps its head and tail with a marker between, as the
        canonical form of long tool outputs does; the model has already read it whole."""
        text = _dumps(item)
        room = int(self.store.max_content) - 64  # the "#<seq>" line
        if len(text) <= room or not isinstance(item, dict) or \
                item.get("type") != "function_call_output" or \
                not isinstance(output := item.get("output"), str):
            return text  # the store refuses what is still too long, saying why
        keep = max(0, len(output) - (len(text) - room) - 200)  # JSON escapes: see below
        while True:
            cut = len(output) - keep
            short = (output[:keep // 2] + f"\n[... {cut:,} characters of this tool output "
                     "omitted: over the memory store's max_content ...]\n"
                     + output[len(output) - keep // 2:])
            text = _dumps({**item, "output": short})
            if len(text) <= room or keep == 0:
                return text
            keep = max(0, keep - (len(text) - room) - 200)  # escapes took more room

    async def pop_item(self) -> Any:
        recs = self._records()
        if not recs:
            return None
        last = recs[-1]
        self.store.revoke(self.scope, [last.id], reason="agents session pop_item")
        return json.loads(last.content.split("\n", 1)[1])

    async def clear_session(self) -> None:
        ids = [r.id for r in self._records()]
        if ids:
            self.store.revoke(self.scope, ids, reason="agents session cleared")


def _dumps(value: Any) -> str:
    """JSON as UTF-8 text; with escapes only where a string holds a lone surrogate (a
    tool's bytes decoded with surrogateescape), which has no UTF-8 form to store."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, default=str)
    return text
