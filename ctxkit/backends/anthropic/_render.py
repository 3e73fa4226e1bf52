"""Render a Draft as an Anthropic Messages request (plain dicts, no SDK import).

Owns the Anthropic wire shape: tools (with ``input_schema``), system text blocks, and
alternating user/assistant messages whose content blocks are text, tool_use, tool_result
and thinking. ``cache_control`` goes on the wire element at each of the Draft's
breakpoints (a tool definition, a system text block, or a message content block) with the
TTL that breakpoint asks for. The layout rules shared with other providers live in
``.._layout``; this module only spells them in Anthropic's words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..._block import Block
from ..._draft import Draft
from ..._errors import UserError
from .._layout import Layout, Part, layout

MAX_BREAKPOINTS = 4


def tool_param(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A neutral tool schema as an Anthropic tool definition."""
    out: dict[str, Any] = {"name": schema["name"],
                           "input_schema": schema.get("input_schema") or
                           {"type": "object", "properties": {}}}
    if schema.get("description"):
        out["description"] = schema["description"]
    return out


def _content(part: Part, thinking: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    b = part.block
    if b.kind == "thinking":
        return [dict(x) for x in thinking[b.content]]
    if b.kind == "tool_use":
        try:
            args = json.loads(b.content) if b.content else {}
        except ValueError as exc:
            raise UserError(f"tool_use block {b.key or b.call_id!r} does not hold JSON "
                            "arguments; build it with ctxkit.canonical_json(arguments)") from exc
        return [{"type": "tool_use", "id": b.call_id, "name": b.name, "input": args}]
    if b.kind == "tool_result":
        out: dict[str, Any] = {"type": "tool_result", "tool_use_id": b.call_id}
        if b.content:
            out["content"] = b.content
        if b.is_error:
            out["is_error"] = True
        return [out]
    return [{"type": "text", "text": b.content}]


def _mark(blocks: list[dict[str, Any]], ttl: str | None) -> None:
    if ttl is not None:
        blocks[-1]["cache_control"] = {"type": "ephemeral", "ttl": ttl}


def arrange(draft: Draft, thinking: Mapping[str, list[dict[str, Any]]]) -> Layout:
    """The draft's wire layout for Anthropic: thinking only where its signature is known."""
    def keep(b: Block) -> bool:
        return b.kind != "thinking" or b.content in thinking

    return layout(draft, keep=keep, cacheable=lambda b: b.kind != "thinking",
                  max_breakpoints=MAX_BREAKPOINTS)


def render(draft: Draft, *, model: str, max_tokens: int | None = None,
           thinking_config: Mapping[str, Any] | None = None,
           thinking: Mapping[str, list[dict[str, Any]]] | None = None,
           params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` for ``draft``.

    Args:
        model: the model name sent on the wire.
        max_tokens: the reply limit; None for count-tokens requests, which take none.
        thinking_config: Anthropic's ``thinking`` parameter, if extended thinking is on.
        thinking: original thinking blocks (with signatures) by their joined text; a
            thinking Block is sent back only when it is found here.
        params: extra request parameters (temperature, stop_sequences, metadata ...).
    """
    lay = arrange(draft, thinking or {})
    req: dict[str, Any] = {"model": model}
    if max_tokens is not None:
        req["max_tokens"] = max_tokens
    if lay.tools:
        tools = []
        for p in lay.tools:
            t = tool_param(json.loads(p.block.content))
            _mark([t], p.ttl)
            tools.append(t)
        req["tools"] = tools
    if lay.system:
        system = []
        for p in lay.system:
            blocks = [{"type": "text", "text": p.block.content}]
            _mark(blocks, p.ttl)
            system += blocks
        req["system"] = system
    messages = []
    for m in lay.messages:
        content: list[dict[str, Any]] = []
        for p in m.parts:
            blocks = _content(p, thinking or {})
            _mark(blocks, p.ttl)
            content += blocks
        messages.append({"role": m.role, "content": content})
    req["messages"] = messages
    if thinking_config:
        req["thinking"] = dict(thinking_config)
    for k, v in (params or {}).items():
        req.setdefault(k, v)
    return req


def thinking_param(thinking: int | str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``thinking=`` as the backend accepts it (a token budget, "adaptive", or the dict)."""
    if thinking is None or thinking is False:
        return None
    if isinstance(thinking, bool):
        return {"type": "adaptive"}
    if isinstance(thinking, int):
        if thinking < 1024:
            raise UserError("thinking budget must be >= 1024 tokens (Anthropic's minimum)")
        return {"type": "enabled", "budget_tokens": thinking}
    if thinking == "adaptive":
        return {"type": "adaptive"}
    if isinstance(thinking, Mapping):
        return dict(thinking)
    raise UserError(f"thinking={thinking!r}: pass a token budget (int), 'adaptive', or "
                    "Anthropic's thinking dict")
