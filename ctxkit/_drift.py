"""Prefix drift diagnosis: which block broke the cache between two calls, and why.

Owns the comparison of fingerprint chains and the classification of a change into a
likely cause (timestamp, reordered keys or tools, added/removed tool, whitespace, id-like
text, edited content). Works on plain text too, so ``ctxkit audit`` reuses it on other
agents' logs. Knows nothing of backends or reports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from difflib import SequenceMatcher

from pydantic import BaseModel

from ._block import Block

_DATE_LIKE = re.compile(
    r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}(:\d{2})?|\b\d{10}(\.\d+)?\b|\b\d{13}\b"
    r"|\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\b"
    r"|\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}\b"
    r"|\d{1,2}/\d{1,2}/\d{2,4}|\b(today|yesterday|now)\b",
    re.IGNORECASE,
)
_ID_LIKE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{12,}\b"
    r"|\b(req|msg|call|run|id)[_-][A-Za-z0-9]{6,}\b",
    re.IGNORECASE,
)

CAUSES = (
    "timestamp or date-like text",
    "id-like text (uuid, request id)",
    "reordered keys",
    "reordered tools",
    "reordered blocks",
    "added tool",
    "removed tool",
    "added block",
    "removed block",
    "whitespace",
    "tool schema changed",
    "content changed",
)


class DriftEvent(BaseModel):
    """One break of the cached prefix between consecutive calls.

    Attributes:
        index: position of the first changed block in the previous call's stable region.
        layer: the layer that owns that block.
        key: the block's identity within its layer (e.g. ``tool:grep``).
        cause: the likely cause, one of ``CAUSES``.
        detail: a sentence naming what changed.
        diff: a short before/after excerpt around the first differing character.
        offset: character offset of the first difference within the block's content.
        tokens_invalidated: tokens of the previous stable region from this block on.
        declared: True when a layer declared the rewrite (e.g. compaction).
        layer_replaced: True when the layer object itself was replaced between calls.
    """

    index: int
    layer: str
    key: str
    cause: str
    detail: str
    diff: str = ""
    offset: int = 0
    tokens_invalidated: int = 0
    declared: bool = False
    layer_replaced: bool = False


def first_difference(a: str, b: str, start: int = 0) -> int:
    """Index of the first differing character at or after ``start`` (len of the shorter when
    one prefixes the other from there)."""
    n = min(len(a), len(b))
    if start >= n or a[start:n] == b[start:n]:
        return n
    # gallop over equal stretches, then halve: O(n) character comparisons in a few slices
    lo, step = start, 256
    while lo + step <= n and a[lo : lo + step] == b[lo : lo + step]:
        lo += step
        step *= 2
    hi = min(n, lo + step)  # a[lo:hi] != b[lo:hi]
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    while lo < hi and a[lo] == b[lo]:
        lo += 1
    return lo


def short_diff(old: str, new: str, width: int = 48) -> str:
    """A two-line excerpt around the first difference: ``- old`` / ``+ new``."""
    i = first_difference(old, new)
    lo = max(0, i - width // 2)

    def cut(s: str) -> str:
        seg = s[lo : i + width].replace("\n", "\\n")
        return ("..." if lo else "") + seg + ("..." if i + width < len(s) else "")

    return f"- {cut(old)}\n+ {cut(new)}"


def common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the longest common suffix of ``a`` and ``b``, at most ``limit``."""
    n = min(len(a), len(b), limit)
    if n <= 0:
        return 0
    return first_difference(a[len(a) - n :][::-1], b[len(b) - n :][::-1])


# The changed window (after the common prefix and suffix are cut off) that is diffed in
# full; a longer window is diffed over its first ``DIFF_WINDOW`` characters on each side,
# which is where the first change, the one that broke the cache, lies.
DIFF_WINDOW = 4096


def _changed_segments(old: str, new: str) -> list[str]:
    """The changed stretches of ``old`` and ``new``, each widened to whole words.

    Linear in the texts' length: the common prefix and suffix are found by comparison, and
    only the window between them goes through SequenceMatcher (quadratic), cut to
    ``DIFF_WINDOW`` characters a side.
    """
    p = first_difference(old, new)
    s = common_suffix(old, new, min(len(old), len(new)) - p)
    o_end = min(len(old) - s, p + DIFF_WINDOW)
    n_end = min(len(new) - s, p + DIFF_WINDOW)
    sm = SequenceMatcher(None, old[p:o_end], new[p:n_end], autojunk=False)
    segs: list[str] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag != "equal":
            # widen to the surrounding token so "2026-11-2[8→9]" still reads as a date
            a0, a1 = _widen(old, p + i1, p + i2)
            b0, b1 = _widen(new, p + j1, p + j2)
            segs += [old[a0:a1], new[b0:b1]]
    return segs


def _widen(s: str, i: int, j: int) -> tuple[int, int]:
    while i > 0 and not s[i - 1].isspace() and i > j - 24:
        i -= 1
    while j < len(s) and not s[j].isspace() and j < i + 48:
        j += 1
    return i, j


def _only_whitespace_changed(old: str, new: str) -> bool:
    """``old.split() == new.split()``, looking only at the changed window.

    The window is widened to a whitespace boundary on each side inside the common prefix and
    suffix; splitting is compositional at whitespace, so the words outside it are equal.
    """
    p = first_difference(old, new)
    s = common_suffix(old, new, min(len(old), len(new)) - p)
    lo = max(old.rfind(c, 0, p) for c in " \n\t\r") + 1  # 0 when there is none
    m = _WHITESPACE.search(old, len(old) - s)
    tail = len(old) - m.start() if m else 0  # length of the shared tail that starts at a space
    return old[lo:len(old) - tail].split() == new[lo:len(new) - tail].split()


_WHITESPACE = re.compile(r"\s")


def _same_json_reordered(old: str, new: str) -> bool:
    """True if the change lies inside a JSON value embedded at the same place in both
    texts, and that value is equal once parsed (keys or whitespace reordered)."""
    p = first_difference(old, new)
    dec = json.JSONDecoder()
    tries = 0
    i = min(p, len(old) - 1) + 1
    while True:
        # jump from one opening bracket to the previous one (a Python loop over every
        # character would cost as much as the text is long)
        i = max(old.rfind("{", 0, i), old.rfind("[", 0, i))
        if i < 0:
            break
        if new[i : i + 1] != old[i]:
            continue
        tries += 1
        if tries > 50:
            break
        try:
            vo, eo = dec.raw_decode(old, i)
            vn, en = dec.raw_decode(new, i)
        except ValueError:
            continue
        if eo > p and en > p:
            return bool(vo == vn and old[eo:] == new[en:])
    return False


def classify_text_change(old: str, new: str) -> tuple[str, str]:
    """The likely cause of a change from ``old`` to ``new`` and a sentence saying it."""
    if _only_whitespace_changed(old, new):
        return "whitespace", "only whitespace changed (trailing spaces, newlines, indentation)"
    if _same_json_reordered(old, new):
        return (
            "reordered keys",
            "same JSON value with keys in another order; serialize with "
            "sorted keys (ctxkit.canonical_json)",
        )
    segs = " ".join(_changed_segments(old, new))
    if segs and _DATE_LIKE.search(segs):
        return (
            "timestamp or date-like text",
            "a date or time inside the text changed; move "
            "it out of the cached prefix (into the turn)",
        )
    if segs and _ID_LIKE.search(segs):
        return (
            "id-like text (uuid, request id)",
            "an id-like token changed; strip ids from cached content or move them to the turn",
        )
    return "content changed", "the text was edited"


def _tool_name(b: Block) -> str:
    return b.name or b.key.removeprefix("tool:")


def diagnose(
    prev: Sequence[Block],
    cur: Sequence[Block],
    prev_tokens: Sequence[int],
    *,
    declared: str | None = None,
    replaced_layers: frozenset[str] = frozenset(),
) -> DriftEvent | None:
    """The first break of ``prev`` (the previous call's stable region) inside ``cur``.

    Returns None when ``cur`` starts with exactly ``prev`` (an append-only extension).
    ``prev_tokens`` gives each previous block's tokens, to size the invalidated region.
    """
    n = len(prev)
    i = 0
    while i < n and i < len(cur) and prev[i].hash == cur[i].hash:
        i += 1
    if i == n:
        return None
    lost = sum(prev_tokens[i:])
    old = prev[i]
    new = cur[i] if i < len(cur) else None
    layer = new.layer if new is not None and new.layer == old.layer else old.layer

    def event(cause: str, detail: str, diff: str = "", offset: int = 0) -> DriftEvent:
        return DriftEvent(
            index=i,
            layer=layer,
            key=old.key,
            cause=cause,
            detail=detail,
            diff=diff,
            offset=offset,
            tokens_invalidated=lost,
            declared=declared is not None,
            layer_replaced=layer in replaced_layers,
        )

    prev_keys = [b.key for b in prev]
    cur_keys = [b.key for b in cur]
    if new is None:
        return event(
            cause="removed block", detail=f"block {old.key!r} of layer {old.layer!r} is gone"
        )
    if new.key != old.key:
        moved = old.key in cur_keys and new.key in prev_keys
        if old.kind == "tool" or new.kind == "tool":
            if moved:
                return event(
                    cause="reordered tools",
                    diff=f"- {old.key}\n+ {new.key}",
                    detail=f"tool {_tool_name(new)!r} now comes where "
                    f"{_tool_name(old)!r} was; keep tools in a stable "
                    "(sorted) order",
                )
            if new.key not in prev_keys and new.kind == "tool":
                return event(
                    cause="added tool",
                    diff=f"+ {new.key}",
                    detail=f"tool {_tool_name(new)!r} was added; fix the tool list "
                    "at session start, or load tools through search",
                )
            return event(
                cause="removed tool",
                diff=f"- {old.key}",
                detail=f"tool {_tool_name(old)!r} was removed",
            )
        if moved:
            return event(
                cause="reordered blocks",
                diff=f"- {old.key}\n+ {new.key}",
                detail=f"block {new.key!r} moved before {old.key!r}",
            )
        if new.key not in prev_keys:
            return event(
                cause="added block",
                diff=f"+ {new.key}",
                detail=f"block {new.key!r} was inserted into layer {new.layer!r}",
            )
        return event(
            cause="removed block",
            diff=f"- {old.key}",
            detail=f"block {old.key!r} of layer {old.layer!r} is gone",
        )
    cause, detail = classify_text_change(old.content, new.content)
    if cause == "content changed" and old.kind == "tool":
        cause, detail = "tool schema changed", f"the schema of tool {_tool_name(old)!r} changed"
    if old.role != new.role or old.kind != new.kind:
        cause, detail = (
            "content changed",
            f"role/kind changed: {old.role}/{old.kind} -> {new.role}/{new.kind}",
        )
    return event(
        cause=cause,
        detail=f"{old.key or old.layer}: {detail}",
        diff=short_diff(old.content, new.content),
        offset=first_difference(old.content, new.content),
    )
