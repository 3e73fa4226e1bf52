"""Recorded prompt formats → RecordedCall: OpenAI chat, Anthropic messages, SWE-agent
history, OpenHands text prompts.

Owns the mapping of each wire shape onto blocks (category, role, kind, key, name, call id,
cache marker) and the prompt order each provider caches in: Anthropic caches tools, then
system, then messages; an OpenAI chat request is taken as its leading system/developer
messages, then tools, then the rest. JSON that was recorded is serialized again with its
keys in the recorded order (not sorted), so a reordering stays visible to drift diagnosis.
Knows nothing of files (``_load``) or analysis.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any

from .._block import Block, CacheTTL
from ._prompt import CallBuilder, RecordedCall

Message = dict[str, Any]
Item = tuple[Block, str]  # a block and the recorded item it came from


def as_recorded(value: Any) -> str:
    """Compact JSON keeping the recorded key order (a reorder must stay visible)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def text_of(content: Any) -> str:
    """Plain text of message content: a string, or the text of a list of parts/blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_part_text(p) for p in content)
    return as_recorded(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return as_recorded(part)
    if isinstance(part.get("text"), str):
        return str(part["text"])
    kind = str(part.get("type", "part"))
    if kind in ("image", "image_url", "input_image", "document"):
        return f"[{kind}]"
    if kind == "tool_result":
        return text_of(part.get("content"))
    return as_recorded(part)


def _ttl(part: Any) -> CacheTTL | None:
    cc = part.get("cache_control") if isinstance(part, dict) else None
    if not isinstance(cc, dict):
        return None
    return "1h" if cc.get("ttl") == "1h" else "5m"


def _tool_name(tool: Any, j: int) -> str:
    if isinstance(tool, dict):
        fn = tool.get("function")
        name = fn.get("name") if isinstance(fn, dict) else tool.get("name")
        if isinstance(name, str) and name:
            return name
    return f"#{j}"


def tool_items(tools: Any) -> list[Item]:
    """Tool schemas as ``tool`` blocks keyed by name (so a reorder is named as such)."""
    if not tools:
        return []
    key = ("tools", as_recorded(tools))
    if (hit := _MEMO.get(key)) is not None:
        return list(hit)
    out = _tool_items(tools)
    _MEMO[key] = out
    return list(out)


def _tool_items(tools: Any) -> list[Item]:
    out: list[Item] = []
    for j, tool in enumerate(tools if isinstance(tools, list) else []):
        name = _tool_name(tool, j)
        body = {k: v for k, v in tool.items() if k != "cache_control"} \
            if isinstance(tool, dict) else tool
        out.append((Block(layer="tools", role="system", kind="tool", name=name,
                          key=f"tool:{name}", content=as_recorded(body), cache=_ttl(tool)),
                    f"tools[{j}] ({name})"))
    return out


_MEMO: OrderedDict[tuple[Any, ...], list[Item]] = OrderedDict()
_MEMO_SIZE = 8192  # messages: a prompt log repeats each message in every later prompt


def _memo_key(msg: Message, i: int, where: str, user_category: str) -> tuple[Any, ...] | None:
    content = msg.get("content")
    if content is not None and not isinstance(content, str):
        return None
    extra = tuple(as_recorded(msg[k]) if k in msg else None
                  for k in ("tool_calls", "function_call", "tool_call_ids"))
    return (i, where, user_category, msg.get("role"), content, msg.get("tool_call_id"),
            msg.get("name"), extra)


def openai_items(msg: Message, i: int, *, where: str = "messages",
                 user_category: str = "user") -> list[Item]:
    """Blocks of one OpenAI-style chat message (also SWE-agent's history entries); the same
    message seen again (in the next prompt of a log) reuses its blocks."""
    key = _memo_key(msg, i, where, user_category)
    if key is not None and (hit := _MEMO.get(key)) is not None:
        _MEMO.move_to_end(key)
        return hit
    out = _openai_items(msg, i, where=where, user_category=user_category)
    if key is not None:
        _MEMO[key] = out
        if len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return out


def _openai_items(msg: Message, i: int, *, where: str, user_category: str) -> list[Item]:
    role = str(msg.get("role", "user"))
    at = f"{where}[{i}]"
    key = f"msg:{i}"
    out: list[Item] = []
    if role in ("system", "developer"):
        return [(Block(layer="system", role="system", key=key,
                       content=text_of(msg.get("content"))), at)]
    if role in ("tool", "function"):
        ids = msg.get("tool_call_ids")
        call_id = msg.get("tool_call_id") or (ids[0] if isinstance(ids, list) and ids else None)
        return [(Block(layer="observation", role="tool", kind="tool_result", key=key,
                       call_id=str(call_id or key), name=msg.get("name"),
                       content=text_of(msg.get("content"))), at)]
    if role == "assistant":
        content = msg.get("content")
        calls = msg.get("tool_calls") or []
        if content or not calls:
            out.append((Block(layer="assistant", role="assistant", key=key,
                              content=text_of(content)), at))
        if isinstance(msg.get("function_call"), dict):
            calls = [*calls, {"id": f"{key}:function_call", "function": msg["function_call"]}]
        for j, call in enumerate(calls if isinstance(calls, list) else []):
            fn = call.get("function", {}) if isinstance(call, dict) else {}
            out.append((Block(layer="assistant", role="assistant", kind="tool_use",
                              key=f"{key}:call:{j}", name=str(fn.get("name", "?")),
                              call_id=str(call.get("id") or f"{key}:call:{j}"),
                              content=as_recorded(fn.get("arguments", ""))),
                        f"{at}.tool_calls[{j}]"))
        return out
    return [(Block(layer=user_category, role="user", key=key,
                   content=text_of(msg.get("content"))), at)]


def openai_call(index: int, messages: list[Message], tools: Any, *,
                model: str | None = None) -> RecordedCall:
    """One OpenAI chat request: leading system messages, tools, then the conversation."""
    b = CallBuilder(index, model=model)
    head = 0
    while head < len(messages) and messages[head].get("role") in ("system", "developer"):
        head += 1
    for i, msg in enumerate(messages[:head]):
        for blk, at in openai_items(msg, i):
            b.add(blk, at)
    for blk, at in tool_items(tools):
        b.add(blk, at)
    for i, msg in enumerate(messages[head:], start=head):
        for blk, at in openai_items(msg, i):
            b.add(blk, at)
    return b.build()


def _anthropic_part(part: Any, role: str, key: str, at: str) -> Item:
    ttl = _ttl(part)
    kind = part.get("type") if isinstance(part, dict) else "text"
    if kind == "tool_use":
        return (Block(layer="assistant", role="assistant", kind="tool_use", key=key,
                      name=str(part.get("name", "?")), call_id=str(part.get("id") or key),
                      content=as_recorded(part.get("input", {})), cache=ttl), at)
    if kind == "tool_result":
        return (Block(layer="observation", role="tool", kind="tool_result", key=key,
                      call_id=str(part.get("tool_use_id") or key),
                      is_error=bool(part.get("is_error")),
                      content=text_of(part.get("content")), cache=ttl), at)
    if kind in ("thinking", "redacted_thinking"):
        text = part.get("thinking") or part.get("data") or ""
        return (Block(layer="assistant", role="assistant", kind="thinking", key=key,
                      content=str(text), cache=ttl), at)
    category = "assistant" if role == "assistant" else "user"
    return (Block(layer=category, role="assistant" if role == "assistant" else "user", key=key,
                  content=_part_text(part), cache=ttl), at)


def anthropic_message_items(msg: Message, i: int, *, where: str = "messages") -> list[Item]:
    """Blocks of one Anthropic-style message (content a string or a list of blocks)."""
    role = str(msg.get("role", "user"))
    content = msg.get("content")
    if isinstance(content, list):
        return [_anthropic_part(part, role, f"msg:{i}:{j}", f"{where}[{i}].content[{j}]")
                for j, part in enumerate(content)]
    return [_anthropic_part({"type": "text", "text": text_of(content)}, role, f"msg:{i}",
                            f"{where}[{i}]")]


def anthropic_head(request: dict[str, Any]) -> list[Item]:
    """Tools, then system: the head of an Anthropic request, in cache order."""
    out = tool_items(request.get("tools"))
    system = request.get("system")
    parts = system if isinstance(system, list) else ([system] if system else [])
    for j, part in enumerate(parts):
        at = "system" if isinstance(system, str) else f"system[{j}]"
        out.append((Block(layer="system", role="system", key=f"system:{j}",
                          content=_part_text(part), cache=_ttl(part)), at))
    return out


def anthropic_call(index: int, request: dict[str, Any]) -> RecordedCall:
    """One Anthropic messages request, in cache order: tools, system, messages."""
    b = CallBuilder(index, model=_model_of(request))
    for blk, at in anthropic_head(request):
        b.add(blk, at)
    for i, msg in enumerate(request.get("messages") or []):
        for blk, at in anthropic_message_items(msg, i):
            b.add(blk, at)
    return b.build()


def _model_of(request: dict[str, Any]) -> str | None:
    model = request.get("model")
    return model if isinstance(model, str) and model else None


def detect_messages_format(requests: list[dict[str, Any]]) -> str:
    """``anthropic`` or ``openai``, from the shapes a request uses (openai when both fit)."""
    for r in requests:
        if "system" in r or any(isinstance(t, dict) and "input_schema" in t
                                for t in (r.get("tools") or [])):
            return "anthropic"
        for m in r.get("messages") or []:
            if not isinstance(m, dict):
                continue
            if m.get("role") in ("system", "developer", "tool") or "tool_calls" in m:
                return "openai"
            content = m.get("content")
            parts: list[Any] = content if isinstance(content, list) else []
            if any(isinstance(p, dict) and p.get("type") in ("tool_use", "tool_result")
                   for p in parts):
                return "anthropic"
    return "openai"


def has_cache_markers(request: dict[str, Any]) -> bool:
    """Whether an Anthropic request marks any block with ``cache_control``."""
    return '"cache_control"' in json.dumps(request)


# -- OpenHands-style text prompts --------------------------------------------------------

_SEPARATOR = re.compile(r"\n\n-{10}\n\n")
_START = "NOW, LET'S START!"
_REMINDER = re.compile(r"\n+ENVIRONMENT REMINDER:.*\Z", re.S)


def text_call(index: int, text: str) -> RecordedCall:
    """A full text prompt, cut into messages at OpenHands' ``----------`` separators.

    The instructions before ``NOW, LET'S START!`` are the system part, the task after it
    the user part; later segments are observations when they start with ``OBSERVATION:``
    and assistant turns otherwise; a trailing ``ENVIRONMENT REMINDER`` is its own block.
    Without that marker, the first segment is the system part and the rest user text; a
    prompt without separators is one user message. Segments concatenate to ``text``.
    """
    cuts = [0, *(m.start() for m in _SEPARATOR.finditer(text)), len(text)]
    segs = [(a, e) for a, e in zip(cuts, cuts[1:], strict=False) if e > a]
    pieces: list[tuple[str, str, str, str]] = []  # (text, category, key, where)
    in_system = len(segs) > 1
    codeact = _START in text  # CodeAct's layout: instructions, task, then turns
    for n, (a, e) in enumerate(segs):
        seg = text[a:e]
        body = seg.lstrip("\n-")
        if in_system:
            cut = seg.find(_START)
            if cut >= 0:
                cut += len(_START) + (seg[cut + len(_START):].startswith("\n"))
                pieces.append((seg[:cut], "system", f"seg:{n}", f"segment {n}"))
                seg, category, in_system = seg[cut:], "user", False
                key = "task"
            else:
                category, key = "system", f"seg:{n}"
                in_system = codeact
        elif len(segs) == 1 or not codeact:
            category, key = "user", f"seg:{n}"
        else:
            category = "observation" if body.startswith("OBSERVATION:") else "assistant"
            key = f"seg:{n}"
        if n == len(segs) - 1 and (m := _REMINDER.search(seg)) and m.start() > 0:
            pieces += [(seg[:m.start()], category, key, f"segment {n}"),
                       (seg[m.start():], "user", "reminder", "reminder")]
        elif seg:
            pieces.append((seg, category, key, f"segment {n}"))
    b = CallBuilder(index, raw=True)
    for piece, category, key, where in pieces:
        role = "system" if category == "system" else "user" if category != "assistant" \
            else "assistant"
        b.add(Block(layer=category, role=role, key=key, content=piece), where)  # type: ignore[arg-type]
    return b.build()
