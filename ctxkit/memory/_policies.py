"""Write policies: what from a session is worth remembering, and when it is written.

Owns ``MemoryWriter``, which watches a session transcript and writes:

* **write-through** of tool results to episodic memory (untrusted, with the call that
  produced them, so an agent can see it already tried that call);
* **write-on-salience**: user or agent text that an explicit mark ("remember: ...") or a
  pluggable classifier flags, as salient episodic records that consolidation promotes;
* **write-on-close**: a session summary, derived from the session's records;
* **write-on-compaction**: turns about to be dropped, through ``store.write_episodes``.

Nothing else is written: storing every turn unconditionally is not a default (it floods
recall with chatter). Knows nothing of prompts; the Recall layer can drive it per call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .._block import Block
from .._types import Session
from ._scope import Scope, check_scope
from ._store import MemoryStore

Salience = Callable[[Block], "bool | float"]

_MARK = re.compile(r"^\s*(?:please\s+)?(?:remember|note|don'?t forget|#remember)\b"
                   r"(?:\s+that)?\s*[:,-]?\s*", re.I)


def explicit_mark(block: Block) -> bool:
    """Salient when a user message starts with "remember", "note", "don't forget"."""
    return block.role == "user" and block.kind == "text" and bool(_MARK.match(block.content))


def _unmarked(text: str) -> str:
    return _MARK.sub("", text, count=1).strip() or text


class MemoryWriter:
    """Writes what a session's policies select, once per block.

    Args:
        store: where to write.
        scope: whose memory (its session stamps the records).
        tool_results: write tool results through to episodic memory.
        salience: classifier of user/assistant text blocks (``explicit_mark`` by default;
            None to disable); a float result counts when >= ``threshold``.
        threshold: the salience score that triggers a write.
        summarizer: ``summarizer(blocks) -> str`` for the on-close summary; default an
            extractive one (what the user asked, which tools ran, which failed).
    """

    def __init__(self, store: MemoryStore, scope: Scope, *, tool_results: bool = True,
                 salience: Salience | None = explicit_mark, threshold: float = 0.5,
                 summarizer: Callable[[Sequence[Block]], str] | None = None) -> None:
        self.store = store
        self.scope = check_scope(scope)
        self.tool_results = tool_results
        self.salience = salience
        self.threshold = threshold
        self.summarizer = summarizer
        self.written: list[str] = []
        self._seen: set[tuple[str, str]] = set()

    def observe(self, session: Session) -> list[str]:
        """Write what the policies select among blocks not seen before; returns new ids."""
        blocks = session.transcript
        calls = {b.call_id: b for b in blocks if b.kind == "tool_use"}
        items: list[dict[str, Any]] = []
        for b in blocks:
            sig = (b.key, b.hash)
            if sig in self._seen:
                continue
            self._seen.add(sig)
            item = self._select(b, calls)
            if item is not None:
                items.append(item)
        ids = [r.id for r in self.store.write_many(self.scope, items)] if items else []
        self.written.extend(i for i in ids if i not in self.written)
        return ids

    def _select(self, b: Block, calls: dict[str | None, Block]) -> dict[str, Any] | None:
        if b.kind == "tool_result":
            if not self.tool_results or not b.content.strip():
                return None
            call = calls.get(b.call_id)
            args = f" {call.content}" if call is not None else ""
            status = "failed" if b.is_error else "returned"
            return dict(content=f"tool {b.name or '?'}{args} {status}:\n{b.content}",
                        tier="episodic", kind="tool_result", source="tool",
                        source_ref=b.name or b.call_id, trust="untrusted",
                        meta={"call_id": b.call_id, "is_error": b.is_error})
        if b.kind != "text" or b.role not in ("user", "assistant") or self.salience is None:
            return None
        score = self.salience(b)
        if score is True or (not isinstance(score, bool) and float(score) >= self.threshold):
            src = "user" if b.role == "user" else "agent"
            return dict(content=_unmarked(b.content), tier="episodic", kind="note",
                        source=src, source_ref=b.key or None, trust=b.trust,
                        meta={"salient": True})
        return None

    def compacted(self, blocks: Sequence[Block], *, ref: str | None = None,
                  refs: Sequence[str | None] | None = None) -> list[str]:
        """Write-on-compaction: store turns about to be dropped (call before removing).

        ``ref`` names the compaction for every record; ``refs`` one reference per block.
        """
        ids = self.store.write_episodes(self.scope, blocks, source="compaction",
                                        source_ref=ref, refs=refs)
        self.written.extend(i for i in ids if i)
        return ids

    def close(self, session: Session) -> str | None:
        """Write-on-close: observe what is left, then store a session summary.

        Returns the summary's record id (None when the session said nothing).
        """
        self.observe(session)
        blocks = list(session.transcript)
        text = (self.summarizer or extractive_summary)(blocks)
        if not text.strip():
            return None
        untrusted = self.summarizer is not None and any(b.trust == "untrusted"
                                                        for b in blocks)
        rec = self.store.write(self.scope, text, tier="episodic", kind="summary",
                               source="agent", source_ref=f"session:{session.id}",
                               trust="untrusted" if untrusted else "trusted",
                               derived_from=list(self.written))
        return rec.id


def extractive_summary(blocks: Sequence[Block], *, max_chars: int = 1200) -> str:
    """What the user asked (first sentence of each message), which tools ran or failed."""
    asks: list[str] = []
    tools: dict[str, int] = {}
    failed: list[str] = []
    for b in blocks:
        if b.role == "user" and b.kind == "text" and b.content.strip():
            first = re.split(r"(?<=[.!?])\s", b.content.strip(), maxsplit=1)[0]
            asks.append(first[:200])
        elif b.kind == "tool_use" and b.name:
            tools[b.name] = tools.get(b.name, 0) + 1
        elif b.kind == "tool_result" and b.is_error:
            failed.append(b.name or "?")
    parts = []
    if asks:
        parts.append("User asked: " + " | ".join(asks))
    if tools:
        parts.append("Tools used: " + ", ".join(f"{n} x{c}" for n, c in sorted(tools.items())))
    if failed:
        parts.append("Failed calls: " + ", ".join(sorted(set(failed))))
    return "\n".join(parts)[:max_chars]
