"""Render a Draft as an OpenAI Chat Completions or Responses request (plain dicts).

Owns the OpenAI wire shapes: function tools, one system message, user messages, assistant
messages with ``tool_calls`` (chat) or ``function_call`` items (responses), and tool results
as ``role: "tool"`` messages / ``function_call_output`` items right after the calls. OpenAI
caches prefixes automatically, so breakpoints are not sent; the stable layout and a stable
``prompt_cache_key`` are what make hits. Thinking blocks are not sent: OpenAI does not
accept reasoning back as input. Layout rules shared with other providers live in
``.._layout``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from ..._block import Block
from ..._draft import Draft
from .._layout import Layout, Part, layout


def _keep(b: Block) -> bool:
    return b.kind != "thinking"


def arrange(draft: Draft) -> Layout:
    return layout(draft, keep=_keep)


def _text(parts: list[Part], part_type: str = "text") -> str | list[dict[str, Any]]:
    """One part as a plain string (the common case, and what every server takes), several
    as content parts (concatenated by the provider)."""
    if len(parts) == 1:
        return parts[0].block.content
    return [{"type": part_type, "text": p.block.content} for p in parts]


def _schema(p: Part) -> dict[str, Any]:
    s = json.loads(p.block.content)
    return {"name": s["name"], "description": s.get("description") or "",
            "parameters": s.get("input_schema") or {"type": "object", "properties": {}}}


def render_chat(draft: Draft, *, model: str, params: Mapping[str, Any] | None = None,
                cache_key: str | None = None) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for ``draft``."""
    lay = arrange(draft)
    messages: list[dict[str, Any]] = []
    if lay.system:
        messages.append({"role": "system", "content": _text(lay.system)})
    for m in lay.messages:
        if m.role == "assistant":
            texts = [p for p in m.parts if p.block.kind == "text"]
            calls = [p for p in m.parts if p.block.kind == "tool_use"]
            msg: dict[str, Any] = {"role": "assistant",
                                   "content": _text(texts) if texts else None}
            if calls:
                msg["tool_calls"] = [
                    {"id": p.block.call_id, "type": "function",
                     "function": {"name": p.block.name, "arguments": p.block.content or "{}"}}
                    for p in calls]
            messages.append(msg)
            continue
        rest = []
        for p in m.parts:
            if p.block.kind == "tool_result":
                messages.append({"role": "tool", "tool_call_id": p.block.call_id,
                                 "content": p.block.content})
            else:
                rest.append(p)
        if rest:
            messages.append({"role": "user", "content": _text(rest)})
    req: dict[str, Any] = {"model": model, "messages": messages}
    if lay.tools:
        req["tools"] = [{"type": "function", "function": _schema(p)} for p in lay.tools]
    if cache_key:
        req["prompt_cache_key"] = cache_key
    for k, v in (params or {}).items():
        req.setdefault(k, v)
    return req


def render_responses(draft: Draft, *, model: str, params: Mapping[str, Any] | None = None,
                     cache_key: str | None = None) -> dict[str, Any]:
    """The keyword arguments of ``responses.create`` for ``draft``."""
    lay = arrange(draft)
    items: list[dict[str, Any]] = []
    if lay.system:
        items.append({"role": "system", "content": _text(lay.system, "input_text")})
    for m in lay.messages:
        if m.role == "assistant":
            for p in m.parts:
                b = p.block
                if b.kind == "tool_use":
                    items.append({"type": "function_call", "call_id": b.call_id,
                                  "name": b.name, "arguments": b.content or "{}"})
                else:
                    items.append({"role": "assistant", "content": b.content})
            continue
        rest = []
        for p in m.parts:
            if p.block.kind == "tool_result":
                items.append({"type": "function_call_output", "call_id": p.block.call_id,
                              "output": p.block.content})
            else:
                rest.append(p)
        if rest:
            items.append({"role": "user", "content": _text(rest, "input_text")})
    req: dict[str, Any] = {"model": model, "input": items}
    if lay.tools:
        req["tools"] = [{"type": "function", "strict": False, **_schema(p)}
                        for p in lay.tools]
    if cache_key:
        req["prompt_cache_key"] = cache_key
    for k, v in (params or {}).items():
        req.setdefault(k, v)
    return req


def cache_key_for(draft: Draft, mode: str | Callable[[Draft], str] | None) -> str | None:
    """A ``prompt_cache_key`` that stays the same while the prefix it names does.

    ``"prefix"`` names the stable head (blocks up to the first one that asked to be cached,
    i.e. system + tools): every session of one deployment shares it. ``"session"`` adds the
    conversation's opening user message, which never changes in an append-only session, so
    each session's calls are routed together while sessions spread over machines. Any other
    string is used as is; a callable is called with the draft.
    """
    if mode is None:
        return None
    if callable(mode):
        return str(mode(draft))
    if mode not in ("prefix", "session"):
        return mode
    blocks = draft.blocks
    if not blocks:
        return None
    first_msg = next((i for i, b in enumerate(blocks)
                      if b.kind != "tool" and b.role != "system"), len(blocks))
    head = next((i for i, b in enumerate(blocks) if b.cache is not None), None)
    if head is None or head >= first_msg:
        head = max(0, first_msg - 1)
    key = draft.chain()[head]
    if mode == "session":
        # the conversation's opening user message: the pipeline's turn block on the first
        # call, the history's first block afterwards (same content, same hash)
        opener = next((b for b in blocks if b.role == "user" and b.kind == "text"
                       and b.layer in ("history", "turn")), None)
        if opener is not None:
            key = hashlib.sha256(f"{key}:{opener.hash}".encode()).hexdigest()
    return f"ctxkit-{key[:16]}"
