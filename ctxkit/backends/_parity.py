"""Parity: a rendered request flattened back to the ordered content it carries.

Owns one neutral form — a list of ``(role, kind, text)`` segments — and the functions that
read it back out of an Anthropic request, an OpenAI chat request, an OpenAI Responses
request, and straight from a Draft (the token-level order a local engine renders). Equal
lists mean the providers see the same content in the same order. Tools come first in every
rendering (all providers take them as a separate section, ahead of the prompt); thinking is
left out (reasoning cannot be sent to a provider other than the one that produced it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._block import Block, canonical_json
from .._draft import Draft
from ._layout import layout

Segment = tuple[str, str, str]


def _tool(name: str, description: str | None, schema: Any) -> Segment:
    return ("tools", "tool", canonical_json({"name": name, "description": description or "",
                                             "input_schema": schema}))


def _use(call_id: str, name: str, arguments: Any) -> Segment:
    if isinstance(arguments, str):
        arguments = json.loads(arguments or "{}")
    return ("assistant", "tool_use", canonical_json({"id": call_id, "name": name,
                                                     "arguments": arguments}))


def _result(call_id: str, content: Any) -> Segment:
    return ("tool", "tool_result", canonical_json({"id": call_id, "content": content or ""}))


def _texts(role: str, content: Any, kinds: tuple[str, ...] = ("text",)) -> list[Segment]:
    if content is None:
        return []
    if isinstance(content, str):
        return [(role, "text", content)]
    return [(role, "text", str(p.get("text"))) for p in content if p.get("type") in kinds]


def from_draft(draft: Draft) -> list[Segment]:
    """The content of ``draft`` in the order every rendering must keep."""
    lay = layout(draft, keep=lambda b: b.kind != "thinking")
    out: list[Segment] = []
    for p in lay.tools:
        s = json.loads(p.block.content)
        out.append(_tool(s["name"], s.get("description"), s.get("input_schema")))
    out += [("system", "text", p.block.content) for p in lay.system]
    for m in lay.messages:
        for p in m.parts:
            out.append(_block_segment(m.role, p.block))
    return out


def _block_segment(role: str, b: Block) -> Segment:
    if b.kind == "tool_use":
        return _use(str(b.call_id), str(b.name), b.content)
    if b.kind == "tool_result":
        return _result(str(b.call_id), b.content)
    return (role, "text", b.content)


def from_anthropic(req: Mapping[str, Any]) -> list[Segment]:
    """The content of an Anthropic ``messages.create`` request."""
    out = [_tool(t["name"], t.get("description"), t.get("input_schema"))
           for t in req.get("tools") or []]
    system = req.get("system")
    out += _texts("system", system)
    for m in req.get("messages") or []:
        content = m["content"]
        if isinstance(content, str):
            out.append((m["role"], "text", content))
            continue
        for c in content:
            t = c.get("type")
            if t == "text":
                out.append((m["role"], "text", c["text"]))
            elif t == "tool_use":
                out.append(_use(c["id"], c["name"], c.get("input") or {}))
            elif t == "tool_result":
                out.append(_result(c["tool_use_id"], c.get("content")))
    return out


def from_chat(req: Mapping[str, Any]) -> list[Segment]:
    """The content of an OpenAI ``chat.completions.create`` request."""
    out = [_tool(t["function"]["name"], t["function"].get("description"),
                 t["function"].get("parameters")) for t in req.get("tools") or []]
    for m in req.get("messages") or []:
        role = m["role"]
        if role == "tool":
            out.append(_result(m["tool_call_id"], m.get("content")))
            continue
        out += _texts("system" if role in ("system", "developer") else role, m.get("content"))
        for c in m.get("tool_calls") or []:
            out.append(_use(c["id"], c["function"]["name"], c["function"]["arguments"]))
    return out


def from_responses(req: Mapping[str, Any]) -> list[Segment]:
    """The content of an OpenAI ``responses.create`` request."""
    out = [_tool(t["name"], t.get("description"), t.get("parameters"))
           for t in req.get("tools") or []]
    instructions = req.get("instructions")
    if instructions:
        out.append(("system", "text", instructions))
    items = req.get("input") or []
    if isinstance(items, str):
        return out + [("user", "text", items)]
    for item in items:
        t = item.get("type", "message")
        if t == "function_call":
            out.append(_use(item["call_id"], item["name"], item["arguments"]))
        elif t == "function_call_output":
            out.append(_result(item["call_id"], item.get("output")))
        elif t == "message":
            role = "system" if item["role"] in ("system", "developer") else item["role"]
            out += _texts(role, item.get("content"), ("input_text", "output_text", "text"))
    return out
