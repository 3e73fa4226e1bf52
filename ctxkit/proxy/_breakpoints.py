"""``--place-breakpoints``: Anthropic cache breakpoints for requests that carry none.

Owns the one change the proxy may make to a request. Only a Messages request with no
``cache_control`` anywhere is touched. Where ctxkit's cache model says a breakpoint pays
(``ctxkit._cache.place_breakpoints``: the prefix up to it reaches the model's minimum
cacheable length), it marks the end of the stable head (the last system block, or the last
tool when there is no system prompt) and the last cacheable block of the conversation (the
moving history breakpoint), both with the 5-minute TTL: an agent calls again within minutes,
and a 1h write costs 2x the input price where a 5m write costs 1.25x. The body is re-serialized as
compact JSON; what changed is returned so the record says so.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from .._cache import place_breakpoints
from .._profile import Profile
from ..audit._formats import anthropic_call
from ._records import segment_tokens
from ._sessions import head_length

_NO_CACHE = ("thinking", "redacted_thinking")


def add_breakpoints(body: bytes, profile_of: Callable[[str, str], Profile],
                    counter_of: Callable[[Profile], Any]) -> tuple[bytes, str | None]:
    """``body`` with breakpoints where they pay, and a sentence saying what was added
    (None and the body unchanged when nothing was, or when the body is not in the shape
    of the API: upstream's own 400 says best what is wrong with it)."""
    try:
        return _add(body, profile_of, counter_of)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        return body, None


def _add(body: bytes, profile_of: Callable[[str, str], Profile],
         counter_of: Callable[[Profile], Any]) -> tuple[bytes, str | None]:
    data = json.loads(body)
    if not isinstance(data, dict) or b'"cache_control"' in body or \
            not isinstance(data.get("messages"), list):
        return body, None
    profile = profile_of(str(data.get("model") or ""), "messages")
    call = anthropic_call(0, data)
    blocks = call.blocks
    if not blocks:
        return body, None
    cumulative = list(itertools.accumulate(segment_tokens(call, counter_of(profile))))
    head = head_length(blocks)
    want: dict[int, str] = {}
    if head:
        want[head - 1] = "5m"
    last = len(blocks) - 1
    while last >= head and blocks[last].kind in _NO_CACHE:
        last -= 1
    if last >= head:
        want[last] = "5m"
    marked = [b.replace(cache=want[i]) if i in want else b for i, b in enumerate(blocks)]
    chosen = place_breakpoints(marked, cumulative, profile.cache)
    if not chosen:
        return body, None
    added = []
    for bp in chosen:
        _mark(data, call.where[bp.index], bp.ttl)
        added.append(f"{call.where[bp.index]} ({bp.ttl}, {cumulative[bp.index]:,} tokens)")
    out = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return out, "added cache_control breakpoints at " + ", ".join(added)


def _mark(data: dict[str, Any], where: str, ttl: str) -> None:
    """Put ``cache_control`` on the request item the audit reader named ``where``."""
    cc: dict[str, str] = {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral",
                                                                      "ttl": ttl}
    if where.startswith("tools["):
        data["tools"][int(where[6:where.index("]")])]["cache_control"] = cc
    elif where.startswith("system"):
        system = data["system"]
        if isinstance(system, str):
            data["system"] = [{"type": "text", "text": system, "cache_control": cc}]
        else:
            system[int(where[7:-1])]["cache_control"] = cc
    else:  # messages[i] or messages[i].content[j]
        i = int(where[9:where.index("]")])
        msg = data["messages"][i]
        if ".content[" in where:
            msg["content"][int(where[where.index(".content[") + 9:-1])]["cache_control"] = cc
        else:
            msg["content"] = [{"type": "text", "text": msg["content"], "cache_control": cc}]
