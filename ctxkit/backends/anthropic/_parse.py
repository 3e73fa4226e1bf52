"""Read an Anthropic Message (as its JSON dict) into a ctxkit Response.

Owns the usage mapping: Anthropic's ``input_tokens`` excludes cached tokens, so ctxkit's
whole-prompt ``input_tokens`` is ``input_tokens + cache_creation_input_tokens +
cache_read_input_tokens``; writes split by TTL from ``cache_creation.ephemeral_1h_input_
tokens`` (the rest is 5m). Thinking blocks are returned as text and, with their
signatures, kept so they can be sent back unmodified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..._types import Response, ToolCall, Usage


def usage(u: Mapping[str, Any] | None) -> Usage | None:
    """Anthropic usage as ctxkit Usage (whole prompt in ``input_tokens``)."""
    if not u:
        return None
    read = int(u.get("cache_read_input_tokens") or 0)
    write = int(u.get("cache_creation_input_tokens") or 0)
    creation = u.get("cache_creation") or {}
    w1h = int(creation.get("ephemeral_1h_input_tokens") or 0)
    w5m = int(creation.get("ephemeral_5m_input_tokens") or 0)
    if creation and not write:
        write = w1h + w5m
    return Usage(input_tokens=int(u.get("input_tokens") or 0) + read + write,
                 output_tokens=int(u.get("output_tokens") or 0),
                 cache_read_tokens=read, cache_write_tokens=write,
                 cache_write_1h_tokens=min(w1h, write))


def parse(msg: Mapping[str, Any]) -> tuple[Response, list[dict[str, Any]]]:
    """The Response of ``msg``, and its thinking blocks as sent (to pass back later)."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking_text: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    for block in msg.get("content") or []:
        t = block.get("type")
        if t == "text":
            texts.append(block.get("text") or "")
        elif t == "tool_use":
            args = block.get("input")
            calls.append(ToolCall(id=block["id"], name=block["name"],
                                  arguments=args if isinstance(args, dict) else {"input": args}))
        elif t == "thinking":
            thinking_text.append(block.get("thinking") or "")
            thinking_blocks.append({"type": "thinking", "thinking": block.get("thinking") or "",
                                    "signature": block.get("signature") or ""})
        elif t == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data")})
    thinking = "\n\n".join(thinking_text) if thinking_blocks else None
    if thinking_blocks and not thinking:
        # only redacted blocks: a placeholder unique to them, so they can be found again
        digest = hashlib.sha256(repr(thinking_blocks).encode()).hexdigest()[:12]
        thinking = f"[redacted thinking {digest}]"
    return Response(text="".join(texts), tool_calls=calls, thinking=thinking,
                    stop_reason=msg.get("stop_reason"), usage=usage(msg.get("usage")),
                    model=msg.get("model")), thinking_blocks
