"""Recorded prompts as ctxkit blocks: RecordedCall, RecordedSession and their builder.

Owns how one recorded prompt becomes an ordered list of ``ctxkit.Block`` (so the cache
model and drift diagnosis run on it unchanged) plus one text *serialization* in which
byte offsets are reported. Knows no file format (``_load``/``_formats`` do) and no
analysis (``_analyze``).

Each block contributes one *segment* to the serialization. For text prompts (OpenHands
logs) the segment is the block's text itself, so the serialization is the file's text. For
message lists a segment is a header line naming the block, then its content::

    [user]                                  a user message or content block
    [assistant tool_use grep call_1]        a tool call: role, kind, name, call id
    [tool tool_result grep call_1 error]    a tool result (``error`` when is_error)
    <content>

A block's layer is its *category*, one of ``CATEGORIES``: what the tokens-by-kind table
sums and what drift diagnosis names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .._block import Block
from ._usage import MeasuredUsage

CATEGORIES = ("system", "tools", "user", "assistant", "observation")


def header(b: Block) -> str:
    """The header line of a message-list block's segment (role, kind, name, call id)."""
    parts = [b.role, b.kind if b.kind != "text" else "", b.name or "", b.call_id or "",
             "error" if b.is_error else ""]
    return "[" + " ".join(p for p in parts if p) + "]\n"


@dataclass(slots=True)
class RecordedCall:
    """One recorded prompt (the input of one model call).

    Attributes:
        index: the call's position in its session (0 first).
        blocks: the prompt as ctxkit blocks, in prompt order.
        text: the serialization; byte offsets in reports point into it.
        starts: character offset of each block's segment in ``text``.
        content_starts: character offset where each block's content begins in ``text``.
        where: for each block, the recorded item it came from (``messages[3]``,
            ``tools[1]``, ``system``, ``segment 4``).
        usage: the provider's usage for this call, when the log kept it (measured).
        model: the model the request named, when it named one.
    """

    index: int
    blocks: list[Block] = field(default_factory=list)
    text: str = ""
    starts: list[int] = field(default_factory=list)
    content_starts: list[int] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    usage: MeasuredUsage | None = None
    model: str | None = None

    def block_at(self, offset: int) -> int:
        """Index of the block whose segment holds character ``offset`` (last block at end)."""
        import bisect

        if not self.blocks:
            return -1
        return max(0, bisect.bisect_right(self.starts, offset) - 1)

    def segment(self, i: int) -> str:
        end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[i]:end]


@dataclass(slots=True)
class RecordedSession:
    """Consecutive recorded prompts of one agent run.

    Attributes:
        name: a short label (file or directory name, plus agent when one file holds several).
        source: the path it was read from.
        format: one of ``ctxkit.audit.FORMATS``.
        calls: the prompts in call order.
        has_cache_markers: the recorded requests carry explicit cache markers
            (Anthropic ``cache_control``), so the recorded layout uses exactly those.
        notes: facts the reader should know (e.g. the agent's own token statistics).
        reported_tokens_sent: prompt tokens the agent itself recorded, when it did.
        reported_calls: model calls the agent itself recorded, when it did.
        reconstructed: the log kept only a final transcript, so each call's prompt was
            rebuilt as the conversation before that assistant turn (not the bytes sent).
        model: the model the log names for this session, when it names one.
    """

    name: str
    source: str
    format: str
    calls: list[RecordedCall] = field(default_factory=list)
    has_cache_markers: bool = False
    notes: list[str] = field(default_factory=list)
    reported_tokens_sent: int | None = None
    reported_calls: int | None = None
    reconstructed: bool = False
    model: str | None = None


class CallBuilder:
    """Builds one RecordedCall block by block, keeping the serialization in step.

    Args:
        index: the call's position in its session.
        raw: True for text prompts (segment = content, no header line).
    """

    def __init__(self, index: int, *, raw: bool = False, usage: MeasuredUsage | None = None,
                 model: str | None = None) -> None:
        self.call = RecordedCall(index=index, usage=usage, model=model)
        self.raw = raw
        self._parts: list[str] = []
        self._length = 0

    def add(self, block: Block, where: str) -> None:
        head = "" if self.raw else header(block)
        segment = block.content if self.raw else head + block.content + "\n"
        c = self.call
        c.blocks.append(block)
        c.starts.append(self._length)
        c.content_starts.append(self._length + len(head))
        c.where.append(where)
        self._parts.append(segment)
        self._length += len(segment)

    def build(self) -> RecordedCall:
        self.call.text = "".join(self._parts)
        return self.call


def session_for(item: Path, fmt: str, calls: list[RecordedCall], *, suffix: str = ""
                ) -> RecordedSession:
    """A session named after its file (or ``parent/dir`` for a directory), ``#suffix``."""
    name = item.name if item.is_dir() else item.name.split(".")[0] or item.stem
    if item.is_dir() and item.parent.name:
        name = f"{item.parent.name}/{item.name}"
    return RecordedSession(name=f"{name}#{suffix}" if suffix else name, source=str(item),
                           format=fmt, calls=calls)
