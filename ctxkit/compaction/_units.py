"""Transcript geometry: where turns start, what a turn is called, where a cut is safe.

Owns the rules every rewrite of the history obeys: a turn starts at a user message, a step
of a tool loop at the model's message after tool results; a cut is only ever made at one
of those, and never where a kept tool result would lose its call; blocks a compaction
wrote (marker, summary) or pinned (the task that opens a long tool loop) form the head.
Knows nothing of policies, summaries or sinks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .._block import Block

_TURN_KEY = re.compile(r"^turn:(\d+):(\d+)?")
SOURCE = "compaction"


def is_compaction(b: Block) -> bool:
    return b.provenance is not None and b.provenance.source == SOURCE


def split_head(blocks: Sequence[Block], pinned: frozenset[str] | set[str] = frozenset()
               ) -> tuple[list[Block], list[Block]]:
    """(the leading blocks a compaction wrote or pinned, the rest)."""
    i = 0
    while i < len(blocks) and (is_compaction(blocks[i]) or blocks[i].hash in pinned):
        i += 1
    return list(blocks[:i]), list(blocks[i:])


def opening(body: Sequence[Block], cut: int) -> tuple[int, int]:
    """The user message that opens the turn ``cut`` falls inside: ``(start, end)``."""
    start = max((s for s in turn_starts(body) if s < cut), default=0)
    end = start
    while end < cut and body[end].role == "user" and body[end].kind == "text":
        end += 1
    return start, end


def turn_starts(body: Sequence[Block]) -> list[int]:
    """Indices in ``body`` where a turn starts: the first block, and every user text
    block that follows a non-user block (tool results have role ``tool``)."""
    starts = [0] if body else []
    for i in range(1, len(body)):
        b = body[i]
        if b.role == "user" and b.kind == "text" and body[i - 1].role != "user":
            starts.append(i)
    return starts


def step_starts(body: Sequence[Block]) -> list[int]:
    """Indices where a model step of a tool loop starts: an assistant block right after a
    tool result (the model's next message once its calls were answered)."""
    return [i for i in range(1, len(body))
            if body[i].role == "assistant" and body[i - 1].kind == "tool_result"]


def safe_cut(body: Sequence[Block], keep_turns: int, *, keep_steps: int = 2,
             keep_tokens: int | None = None,
             count: Callable[[Block], int] | None = None) -> tuple[int, int]:
    """Where whole turns (or steps) may be dropped: ``(index in body, units dropped)``;
    ``(0, 0)`` when nothing can be.

    Keeps the last ``keep_turns`` turns. When that leaves nothing to drop — one long tool
    loop is the whole history — the steps of the loop may go instead, keeping the last
    ``keep_steps``. ``keep_tokens`` then drops more (turns, then steps) while what is kept
    exceeds it, always keeping one. A cut never leaves a kept tool result without its call.
    """
    turns = turn_starts(body)
    points = sorted(set(turns) | set(step_starts(body)))
    if len(turns) > keep_turns:
        cut = turns[len(turns) - keep_turns] if keep_turns else len(body)
    elif len(points) > keep_steps:
        cut = points[len(points) - keep_steps] if keep_steps else len(body)
    else:
        cut = 0
    if keep_tokens is not None and count is not None and cut < len(body):
        sizes = [count(b) for b in body]
        later = [p for p in points if p > cut]
        kept = sum(sizes[cut:])
        k = 0  # later[k] is the next cut to try; every one but the last may be taken
        while k < len(later) - 1 and kept > keep_tokens:
            kept -= sum(sizes[cut:later[k]])  # each block leaves the sum once: linear
            cut = later[k]
            k += 1
    while cut > 0:
        uses = {b.call_id for b in body[:cut] if b.kind == "tool_use"}
        if not any(b.kind == "tool_result" and b.call_id in uses for b in body[cut:]):
            return cut, sum(1 for p in points if p < cut)
        cut = max((p for p in points if p < cut), default=0)
    return 0, 0


def label(blocks: Sequence[Block]) -> tuple[int, int] | None:
    """(turn, step) of the first block whose key carries them."""
    for b in blocks:
        m = _TURN_KEY.match(b.key)
        if m:
            return int(m.group(1)), int(m.group(2) or 0)
    return None


def span(dropped: Sequence[Block], *, whole_turns: bool) -> str:
    """How a marker names dropped blocks: ``turns 3–7`` (whole turns), or ``turn 0,
    steps 2–9`` (part of one long tool loop)."""
    first = label(dropped) or (0, 0)
    last = label(list(reversed(dropped))) or first
    if first[0] != last[0]:
        return f"turns {first[0]}–{last[0]}"
    if whole_turns:
        return f"turn {first[0]}"
    if first[1] != last[1]:
        return f"turn {first[0]}, steps {first[1]}–{last[1]}"
    return f"turn {first[0]}"


def turn_age(body: Sequence[Block]) -> list[int]:
    """For each block, how many turns started after it (0: in the latest turn)."""
    starts = turn_starts(body)
    ages = []
    t = -1
    for i in range(len(body)):
        if t + 1 < len(starts) and starts[t + 1] == i:
            t += 1
        ages.append(len(starts) - 1 - t)
    return ages
