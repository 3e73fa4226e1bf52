"""Per-session analysis of recorded prompts: prefix reuse, cache-killers, duplicate tool
outputs, tokens by kind.

Owns the comparisons between calls. A call is compared with the immediately previous call
for *prefix reuse*; for *cache-killers* it is compared with the earlier call (of the last
``LOOKBACK_CALLS``) it shares the longest start with, so an agent that hands over to a
sub-agent and back is compared with its own previous prompt, not the sub-agent's. A call
that shares less than ``NEW_PROMPT_BYTES`` with every earlier call and fewer than half of
any earlier call's tokens is a *new prompt* (another agent, a new task), not a cache-killer.
Causes come from ``ctxkit._drift.diagnose``. Knows nothing of cache pricing (``_estimate``)
or rendering.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .._drift import diagnose, short_diff
from ._causes import classify, diff_from
from ._model import CacheKiller
from ._prompt import RecordedCall

LOOKBACK_CALLS = 16
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
NEW_PROMPT_BYTES = 128

Count = Callable[[str], int]


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def prefix_tokens(call: RecordedCall, seg_tokens: list[int], chars: int, count: Count) -> int:
    """Tokens of ``call.text[:chars]``: whole segments from their cached counts, plus the
    partial segment counted on its own."""
    if chars >= len(call.text):
        return sum(seg_tokens)
    i = call.block_at(chars)
    if i < 0:
        return 0
    partial = call.text[call.starts[i]:chars]
    return sum(seg_tokens[:i]) + (count(partial) if partial else 0)


def common_prefix(a: RecordedCall, b: RecordedCall) -> int:
    """Characters ``a.text`` and ``b.text`` share at their start: whole equal blocks are
    skipped by hash (equal hashes serialize equally), the rest compared as text."""
    i = 0
    n = min(len(a.blocks), len(b.blocks))
    while i < n and a.blocks[i].hash == b.blocks[i].hash and a.starts[i] == b.starts[i]:
        i += 1
    start = a.starts[i] if i < len(a.starts) else len(a.text)
    if i < len(b.starts) and b.starts[i] != start:
        start = a.starts[i - 1] if i else 0
    return diff_from(a.text, b.text, start)


def choose_parent(k: int, calls: list[RecordedCall], seg_tokens: list[list[int]]
                  ) -> tuple[int, int] | None:
    """The earlier call this one continues and their common prefix in characters, or None
    when it starts a new prompt."""
    cur = calls[k]
    best, best_lcp = -1, -1
    for j in range(k - 1, max(-1, k - 1 - LOOKBACK_CALLS), -1):
        lcp = common_prefix(calls[j], cur)
        if lcp > best_lcp:
            best, best_lcp = j, lcp
    if best >= 0 and nbytes(cur.text[:best_lcp]) >= NEW_PROMPT_BYTES:
        return best, best_lcp
    hashes = {b.hash for b in cur.blocks}
    best_share, best = 0.0, -1
    for j in range(k - 1, max(-1, k - 1 - LOOKBACK_CALLS), -1):
        total = sum(seg_tokens[j]) or 1
        kept = sum(t for b, t in zip(calls[j].blocks, seg_tokens[j], strict=True)
                   if b.hash in hashes)
        if kept / total > best_share:
            best_share, best = kept / total, j
    if best >= 0 and best_share >= 0.5:
        return best, common_prefix(calls[best], cur)
    return None


def find_killer(session: str, k: int, j: int, lcp: int, prev: RecordedCall,
                cur: RecordedCall, prev_tokens: list[int], count: Count) -> CacheKiller:
    """Describe where call ``k`` breaks call ``j``'s prompt (``lcp`` < len(prev.text)).

    Structural causes (tools reordered, added or removed, blocks inserted) come from
    ``ctxkit._drift.diagnose``; a change inside one item is classified by ``_causes`` on
    the changed window only (linear in the item's size).
    """
    old_blocks, new_blocks = prev.blocks, cur.blocks
    i = 0
    while i < len(old_blocks) and i < len(new_blocks) and old_blocks[i].hash == \
            new_blocks[i].hash:
        i += 1
    i = min(i, len(old_blocks) - 1)
    text_change = i < len(new_blocks) and old_blocks[i].key == new_blocks[i].key \
        and old_blocks[i].role == new_blocks[i].role and old_blocks[i].kind == \
        new_blocks[i].kind
    diff = short_diff(prev.text, cur.text)
    if text_change:
        old_c, new_c = old_blocks[i].content, new_blocks[i].content
        cause, detail = classify(old_c, new_c)
        if cause == "content changed" and old_blocks[i].kind == "tool":
            cause, detail = "tool schema changed", "the schema of the tool changed"
        elif cause == "content changed" and diff_from(old_c, new_c) == len(old_c):
            detail = "text was appended to this item"
        elif cause == "content changed" and _only_inserts(old_c, new_c):
            detail = ("text was inserted before the end of the previous prompt, so the "
                      "prompt grows in the middle rather than at the end (history or "
                      "state kept inside a template?)")
        detail = f"{old_blocks[i].key or old_blocks[i].layer}: {detail}"
    else:
        event = diagnose(old_blocks, new_blocks, prev_tokens)
        i = event.index if event is not None else prev.block_at(lcp)
        cause = event.cause if event is not None else "content changed"
        detail = event.detail if event is not None else "the text was edited"
        if event is not None and "tool" in cause and event.diff:
            diff = event.diff
        if cause == "added block" and i == len(prev.blocks) - 1:
            detail = (f"new messages come before {prev.blocks[i].key!r}, which ended the "
                      "previous prompt: text at the end of every prompt that changes each call "
                      "(a reminder, a turn counter) keeps one prompt from being the prefix "
                      "of the next")
    if not prev.starts[i] <= lcp <= (prev.starts[i + 1] if i + 1 < len(prev.starts)
                                     else len(prev.text)):
        i = prev.block_at(lcp)  # the hash and the text disagree only on odd headers
    old = prev.blocks[i]
    content_start = prev.content_starts[i]
    lost = sum(prev_tokens) - prefix_tokens(prev, prev_tokens, lcp, count)
    return CacheKiller(
        session=session, call=k, compared_to=j, offset=nbytes(prev.text[:lcp]),
        content_offset=nbytes(prev.text[content_start:lcp]) if lcp > content_start else 0,
        line=prev.text.count("\n", 0, lcp) + 1, where=prev.where[i], role=old.role,
        category=old.layer, region="system+tools" if old.layer in ("system", "tools")
        else "history", key=old.key, cause=cause, detail=detail, diff=diff,
        tokens_lost=lost)


def _only_inserts(old: str, new: str) -> bool:
    """``new`` is ``old`` with text inserted at one place (old's tail reappears intact)."""
    d = diff_from(old, new)
    tail = old[d:]
    return len(new) > len(old) and new.endswith(tail)


def observation_items(call: RecordedCall) -> list[tuple[str, str]]:
    """(where, content) of each tool output / observation item in a prompt: the content
    alone, without role headers or call ids."""
    items: dict[str, list[str]] = {}
    for b, where in zip(call.blocks, call.where, strict=True):
        if b.layer == "observation":
            items.setdefault(where, []).append(b.content)
    return [(w, "\n".join(p)) for w, p in items.items()]


def preview(text: str) -> str:
    """The start of a tool output on one line, without terminal escapes."""
    return " ".join(_CONTROL.sub("", text).lstrip("\n-").split())[:80]
