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

import hashlib
import re
from collections.abc import Callable

from .._block import Block
from .._drift import diagnose, first_difference, short_diff
from ._model import CacheKiller, CallFigures, Duplicate
from ._prompt import RecordedCall, RecordedSession

LOOKBACK_CALLS = 16
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
NEW_PROMPT_BYTES = 128
MIN_DUPLICATE_TOKENS = 8

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


def choose_parent(k: int, calls: list[RecordedCall], seg_tokens: list[list[int]]
                  ) -> tuple[int, int] | None:
    """The earlier call this one continues and their common prefix in characters, or None
    when it starts a new prompt."""
    cur = calls[k]
    best, best_lcp = -1, -1
    for j in range(k - 1, max(-1, k - 1 - LOOKBACK_CALLS), -1):
        lcp = first_difference(calls[j].text, cur.text)
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
        return best, first_difference(calls[best].text, cur.text)
    return None


def _resync(a: str, b: str, d: int, anchor: int, reach: int) -> tuple[int, int] | None:
    """The first ``anchor``-character stretch of ``a`` after ``d`` found again in ``b``:
    (its start in ``a``, its start in ``b``)."""
    for i in range(0, min(len(a) - d, reach), 4):
        piece = a[d + i:d + i + anchor]
        if len(piece) < anchor:
            break
        j = b.find(piece, d, d + i + reach)
        if j >= 0:
            return d + i, j
    return None


def localize(old: str, new: str, *, anchor: int = 24, reach: int = 4000
             ) -> tuple[str, str, bool]:
    """The lines around the first change from ``old`` to ``new``, and whether that change
    only inserts text.

    The change ends where the two texts agree again: the shorter of resuming ``old``
    inside ``new`` and ``new`` inside ``old`` (an insertion ends at once on one side).
    Classifying this region, rather than the whole item, names the cause of *this* break:
    a prompt that also grew elsewhere does not read as a timestamp change because its new
    history mentions a date.
    """
    d = first_difference(old, new)
    ends = [(len(old), len(new))]
    if (fwd := _resync(old, new, d, anchor, reach)) is not None:
        ends.append(fwd)
    if (back := _resync(new, old, d, anchor, reach)) is not None:
        ends.append((back[1], back[0]))
    end_old, end_new = min(ends, key=lambda e: e[0] + e[1])
    start = old.rfind("\n", 0, d) + 1

    def line_end(s: str, i: int) -> int:
        e = s.find("\n", i)
        return min(len(s) if e < 0 else e, i + reach)

    return old[start:line_end(old, end_old)], new[start:line_end(new, end_new)], end_old == d


def _localized(blocks: list[Block], i: int, content: str) -> list[Block]:
    out = list(blocks)
    out[i] = out[i].replace(content=content)
    return out


def find_killer(session: str, k: int, j: int, lcp: int, prev: RecordedCall,
                cur: RecordedCall, prev_tokens: list[int], count: Count) -> CacheKiller:
    """Describe where call ``k`` breaks call ``j``'s prompt (``lcp`` < len(prev.text))."""
    at = prev.block_at(lcp)
    old_blocks, new_blocks = prev.blocks, cur.blocks
    inserted = False
    if at < len(new_blocks) and old_blocks[at].key == new_blocks[at].key \
            and old_blocks[at].kind != "tool" and old_blocks[at].hash != new_blocks[at].hash \
            and old_blocks[at].content.split() != new_blocks[at].content.split():
        # diagnose the region of the first change, not the whole (possibly huge) item
        o, n, inserted = localize(old_blocks[at].content, new_blocks[at].content)
        if o != n:
            old_blocks = _localized(old_blocks, at, o)
            new_blocks = _localized(new_blocks, at, n)
    event = diagnose(old_blocks, new_blocks, prev_tokens)
    i = event.index if event is not None else prev.block_at(lcp)
    if not prev.starts[i] <= lcp <= (prev.starts[i + 1] if i + 1 < len(prev.starts)
                                     else len(prev.text)):
        i = prev.block_at(lcp)  # the hash and the text disagree only on odd headers
    old = prev.blocks[i]
    cause = event.cause if event is not None else "content changed"
    detail = event.detail if event is not None else "the text was edited"
    if inserted and cause != "whitespace":
        # text that only grows (history kept inside a template) is not a date or an id
        cause = "content changed"
        detail = (f"{old.key or old.layer}: text was inserted before the end of the previous "
                  "prompt, so the prompt grows in the middle rather than at the end (history "
                  "or state kept inside a template?)")
    elif cause == "added block" and i == len(prev.blocks) - 1:
        detail = (f"new messages come before {old.key!r}, which ended the previous prompt: "
                  "text at the end of every prompt that changes each call (a reminder, a turn "
                  "counter) keeps one prompt from being the prefix of the next")
    content_start = prev.content_starts[i]
    lost = sum(prev_tokens) - prefix_tokens(prev, prev_tokens, lcp, count)
    return CacheKiller(
        session=session, call=k, compared_to=j, offset=nbytes(prev.text[:lcp]),
        content_offset=nbytes(prev.text[content_start:lcp]) if lcp > content_start else 0,
        line=prev.text.count("\n", 0, lcp) + 1, where=prev.where[i], role=old.role,
        category=old.layer, region="system+tools" if old.layer in ("system", "tools")
        else "history", key=old.key, cause=cause, detail=detail,
        diff=event.diff if event is not None and "tool" in cause and event.diff
        else short_diff(prev.text, cur.text), tokens_lost=lost)


def compare_calls(session: RecordedSession, seg_tokens: list[list[int]], count: Count
                  ) -> tuple[list[CallFigures], list[CacheKiller], list[int | None]]:
    """Per-call figures, the cache-killers, and each call's parent (None: new prompt)."""
    calls = session.calls
    figures: list[CallFigures] = []
    killers: list[CacheKiller] = []
    parents: list[int | None] = []
    for k, cur in enumerate(calls):
        total = sum(seg_tokens[k])
        fig = CallFigures(index=k, tokens=total)
        figures.append(fig)
        if k == 0:
            parents.append(None)
            continue
        lcp = first_difference(calls[k - 1].text, cur.text)
        fig.common_prefix_bytes = nbytes(cur.text[:lcp])
        fig.common_prefix_tokens = prefix_tokens(cur, seg_tokens[k], lcp, count)
        fig.reuse = fig.common_prefix_tokens / total if total else 0.0
        found = choose_parent(k, calls, seg_tokens)
        parents.append(found[0] if found else None)
        if found is None:
            fig.new_prompt = True
            continue
        j, plcp = found
        fig.compared_to = j
        if plcp < len(calls[j].text):
            killers.append(find_killer(session.name, k, j, plcp, calls[j], cur,
                                       seg_tokens[j], count))
    return figures, killers, parents


def observation_items(call: RecordedCall, seg_tokens: list[int]
                      ) -> list[tuple[str, str, int]]:
    """(where, content, tokens) of each tool output / observation item in a prompt."""
    items: dict[str, tuple[list[str], int]] = {}
    for b, where, t in zip(call.blocks, call.where, seg_tokens, strict=True):
        if b.layer == "observation":
            parts, n = items.get(where, ([], 0))
            parts.append(b.content)
            items[where] = (parts, n + t)
    return [(w, "\n".join(p), n) for w, (p, n) in items.items()]


def _preview(text: str) -> str:
    """The start of a tool output on one line, without terminal escapes."""
    return " ".join(_CONTROL.sub("", text).lstrip("\n-").split())[:80]


def find_duplicates(session: RecordedSession, seg_tokens: list[list[int]]) -> list[Duplicate]:
    """Identical tool outputs received more than once in the session, with the tokens the
    extra copies cost summed over every prompt that carried them."""
    places: dict[str, list[str]] = {}  # content hash -> where, first seen first
    info: dict[str, tuple[int, str, int]] = {}  # hash -> (tokens, preview, first call)
    wasted: dict[str, int] = {}
    for k, call in enumerate(session.calls):
        for where, content, tokens in observation_items(call, seg_tokens[k]):
            if tokens < MIN_DUPLICATE_TOKENS:
                continue
            h = hashlib.sha256(content.encode()).hexdigest()
            seen = places.setdefault(h, [])
            if where not in seen:
                seen.append(where)
                info.setdefault(h, (tokens, _preview(content), k))
            if seen[0] != where:
                wasted[h] = wasted.get(h, 0) + tokens
    out = []
    for h, wheres in places.items():
        if len(wheres) > 1:
            tokens, preview, k = info[h]
            out.append(Duplicate(session=session.name, tokens=tokens, copies=len(wheres),
                                 first=f"call {k}, {wheres[0]}", repeats=wheres[1:],
                                 tokens_wasted=wasted.get(h, 0), preview=preview))
    return sorted(out, key=lambda d: -d.tokens_wasted)


def tokens_by_kind(session: RecordedSession, seg_tokens: list[list[int]]) -> dict[str, int]:
    """Prompt tokens summed over the session's calls, by category (system, tools, ...)."""
    out: dict[str, int] = {}
    for call, toks in zip(session.calls, seg_tokens, strict=True):
        for b, t in zip(call.blocks, toks, strict=True):
            out[b.layer] = out.get(b.layer, 0) + t
    return out
