"""Causes of a cache break the audit can trust: real date and time shapes, and history
processors that rewrite old observations.

Owns the text patterns and the classification of the changed region of one item
(``classify``). The rest of a change's diagnosis (reordered tools or keys, added blocks)
comes from ``ctxkit._drift``; this module only decides the text-level cause, on the
changed window alone (common prefix and suffix trimmed first, so it is linear in the
item's size).

A timestamp is a real date or time shape: an ISO date or datetime, a clock time, epoch
seconds or milliseconds within ten years of the audit, a weekday or month *name as a whole
word* next to a number or another date word ("Mon, 3 Nov", "November 3, 2026"). Words
that merely start like one ("monotonic", "monomial", "sunset", "marching") and relative
words ("now", "today") are not timestamps.

A *history processor* rewrites old observations so that the prompt stays short ("N lines
omitted", "Old environment output: (N lines omitted)", "<elided>", "[... truncated ...]"):
the earlier prompt held the output whole, the later one a placeholder. It is one named
cause (``HISTORY_REWRITE``) with its own total, because its fix is a decision about the
whole history (keep it append-only, or compact at milestones), not a stray byte.
"""

from __future__ import annotations

import re
import time

from .._drift import _ID_LIKE, _same_json_reordered, common_suffix, first_difference

TIMESTAMP = "timestamp or date-like text"
HISTORY_REWRITE = "history processor rewrote old output"
CONTENT = "content changed"

_WEEKDAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday|\.)?"
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
DATE_SHAPES = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
    r"|\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"  # 09:41:07
    r"|\b(?:[01]?\d|2[0-3]):[0-5]\d\s*(?:am|pm|utc|gmt|z)\b"  # 9:41 pm, 09:41 UTC
    r"|(?<![\w:.])(?:[01]\d|2[0-3]):[0-5]\d(?![\d:])"  # 09:41, not file.py:12:30
    r"|\b\d{1,2}/\d{1,2}/\d{4}\b"
    rf"|\b{_WEEKDAY}(?=[\s,]+(?:\d|{_MONTH}\b))"  # Mon, 3 / Monday November
    rf"|\b{_MONTH}(?=\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?!:))"  # Nov 3, November 3rd
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?=\s+\d{{4}}\b)",  # 3 November 2026
    re.IGNORECASE,
)
_EPOCH = re.compile(r"\b(\d{10}|\d{13})(?:\.\d+)?\b")
_EPOCH_WINDOW_S = 10 * 365 * 24 * 3600

_REWRITE = re.compile(
    r"\d+\s+lines?\s+(?:omitted|elided|hidden|truncated)"
    r"|old (?:environment )?output:|<elided[^>]*>|\[\s*\.\.\.?\s*(?:truncated|elided|omitted)"
    r"|output (?:was )?(?:truncated|omitted|elided|removed)|content (?:omitted|elided)",
    re.IGNORECASE,
)


def has_timestamp(text: str, *, now: float | None = None) -> bool:
    """Whether ``text`` holds a real date or time shape (see the module docstring)."""
    if DATE_SHAPES.search(text):
        return True
    now = time.time() if now is None else now
    for m in _EPOCH.finditer(text):
        value = int(m.group(1))
        seconds = value / 1000 if len(m.group(1)) == 13 else value
        if abs(seconds - now) <= _EPOCH_WINDOW_S:
            return True
    return False


def diff_from(a: str, b: str, i: int = 0) -> int:
    """Index of the first character from ``i`` on where ``a`` and ``b`` differ (the shorter
    length when one prefixes the other): the drift diagnosis's own slice-galloping search."""
    return first_difference(a, b, i)


_common_suffix = common_suffix  # the drift diagnosis's bounded, C-speed suffix search


def changed_window(old: str, new: str, *, margin: int = 24) -> tuple[str, str]:
    """The changed part of each text, widened by ``margin`` characters to whole words:
    common prefix and suffix trimmed (no alignment; comparisons in C)."""
    n = min(len(old), len(new))
    p = diff_from(old, new)
    s = _common_suffix(old, new, n - p)
    a = max(0, p - margin)
    while a > 0 and not old[a - 1].isspace() and p - a < 2 * margin:
        a -= 1

    def cut(t: str) -> str:
        e = min(len(t), len(t) - s + margin)
        while e < len(t) and not t[e].isspace() and e - (len(t) - s) < 2 * margin:
            e += 1
        return t[a:e]

    return cut(old), cut(new)


def is_history_rewrite(old: str, new: str) -> bool:
    """The later text replaced part of the earlier one with an omission placeholder."""
    o, n = changed_window(old, new, margin=0)
    return len(n) < len(o) and bool(_REWRITE.search(n)) and not _REWRITE.search(o)


def classify(old: str, new: str) -> tuple[str, str]:
    """The cause of a change from ``old`` to ``new`` inside one item, and a sentence."""
    if is_history_rewrite(old, new):
        return (HISTORY_REWRITE, "an earlier output was replaced by an omission placeholder "
                "(a history processor such as last_n_observations): every such rewrite moves "
                "the end of the cacheable prefix back to that output")
    if old.split() == new.split():
        return "whitespace", "only whitespace changed (trailing spaces, newlines, indentation)"
    o, n = changed_window(old, new)
    if has_timestamp(o) and has_timestamp(n):
        return (TIMESTAMP, "a date or time inside the text changed; move it out of the cached "
                "prefix (into the turn)")
    if _ID_LIKE.search(o) and _ID_LIKE.search(n):
        return ("id-like text (uuid, request id)", "an id-like token changed; strip ids from "
                "cached content or move them to the turn")
    if _same_json_reordered(old, new):
        return ("reordered keys", "same JSON value with keys in another order; serialize with "
                "sorted keys (ctxkit.canonical_json)")
    return CONTENT, "the text was edited"
