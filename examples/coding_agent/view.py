"""What the command line prints while the agent works: one line per tool call, and with
``--trace`` the context view of every model call (what it asked for, the layers it was
assembled from, what the cache read and wrote).

Owns the printer the agent's tool hook calls. The renderables themselves are ctxkit's
live views (``ctxkit.report``), shared with ``ctxkit demo``. Knows nothing of how the
agent is built.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from ctxkit.report import calls_table, drift_view, layers_table, tool_line


class Printer:
    """Prints tool calls as they finish and (``trace=True``) each model call's context."""

    def __init__(self, console: Console, *, trace: bool = False) -> None:
        self.console = console
        self.trace = trace
        self.pipe: Any = None
        self._shown: set[str] = set()

    def tool(self, name: str, args: dict[str, Any], result: str, is_error: bool) -> None:
        self.calls()  # the call that asked for this tool comes first
        self.console.print(tool_line(name, args, result, is_error))

    def calls(self) -> None:
        """Print the records not shown yet (their text, and with trace their layers)."""
        if self.pipe is None:
            return
        # a subagent's records join the parent's only when it finishes: look at both
        running = [r for sub in self.pipe.subagents for r in sub.records]
        new = {r.call_id: r for r in [*self.pipe.records, *running]
               if r.call_id not in self._shown}
        records = sorted(new.values(), key=lambda r: r.started_at)
        self._shown.update(new)
        for r in records:
            who = "helper" if r.extras.get("parent") else "agent"
            text = r.response.text.strip() if r.response is not None else ""
            if text:
                self.console.print(f"[bold]{who}[/bold] [dim](call {r.index})[/dim]: "
                                   f"[italic]{escape(text)}[/italic]")
            if self.trace:
                self.console.print(calls_table([r]))
                self.console.print(layers_table(r))
                extra = _extras_line(r)
                if extra:
                    self.console.print(f"[dim]{escape(extra)}[/dim]")
            drift = drift_view([r], self.pipe.records)
            if drift is not None and self.trace:
                self.console.print(drift)


def _extras_line(record: Any) -> str:
    """Retrieval, recall and compaction of one call, in a line."""
    parts = []
    ret = record.extras.get("retrieval") or {}
    for s in ret.get("searches", []):
        packed = [h["ref"] for h in s["hits"] if h.get("packed")]
        parts.append(f"retrieval: {len(packed)} of {len(s['hits'])} hits packed "
                     f"({', '.join(packed[:3])}{' …' if len(packed) > 3 else ''})")
    mem = record.extras.get("memory") or {}
    for read in mem.get("reads", []):
        if read.get("layer") == "recall" and read.get("ids"):
            parts.append(f"recall: {len(read['ids'])} earlier failures")
    comp = record.extras.get("compaction")
    if comp:
        parts.append(f"compaction: {comp['reason']}, {comp['dropped_tokens']:,} tokens out")
    return "; ".join(parts)
