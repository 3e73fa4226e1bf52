"""The OpenAI side of the loopback test server: Chat Completions and Responses, checked,
cached and answered in OpenAI's documented wire format.

Checks what the API refuses (tool messages that answer no open call, calls left without
results, malformed function tools, arguments that are not JSON). Caches like OpenAI's
automatic prefix cache: the longest previously seen token prefix under the same
``prompt_cache_key``, from ``min_tokens`` in ``increment`` steps (vLLM-like servers: from 0
in KV blocks). Token counts are o200k plus 3 per message and 3 per request, as OpenAI
documents. ``report_cached=False`` omits the cached-token details, like vLLM by default.
"""

from __future__ import annotations

import json
import re
from array import array
from functools import lru_cache
from typing import Any

from ctxkit import canonical_json, get_tokenizer

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@lru_cache(maxsize=65536)
def _encode(text: str) -> tuple[int, ...]:
    return tuple(get_tokenizer("o200k_base").encode(text))


def encode(text: str) -> list[int]:
    return list(_encode(text))


def _lcp(a: bytes, b: bytes) -> int:
    """Length of the common prefix of two int32 sequences, by bisection (compares in C)."""
    lo, hi = 0, min(len(a), len(b)) // 4
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[: mid * 4] == b[: mid * 4]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content)


def _tool_problems(tools: list[dict[str, Any]], *, chat: bool) -> list[str]:
    bad = []
    for t in tools:
        fn = t.get("function", {}) if chat else t
        if t.get("type") != "function" or not _NAME.match(str(fn.get("name", ""))):
            bad.append(f"tools: invalid function tool {fn.get('name')!r}")
        params = fn.get("parameters")
        if not isinstance(params, dict) or params.get("type") != "object":
            bad.append(f"tools.{fn.get('name')}.parameters: must be a JSON Schema object")
    return bad


def _json_ok(raw: Any) -> bool:
    try:
        json.loads(raw)
        return True
    except (TypeError, ValueError):
        return False


def validate_chat(body: dict[str, Any]) -> list[str]:
    bad = _tool_problems(body.get("tools") or [], chat=True)
    messages = body.get("messages") or []
    if not messages:
        bad.append("messages: must be a non-empty array")
    open_calls: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role")
        if role == "tool":
            if m.get("tool_call_id") not in open_calls:
                bad.append(f"messages.[{i}]: messages with role 'tool' must be a response to "
                           "a preceeding message with 'tool_calls'")
            open_calls.discard(m.get("tool_call_id"))
            continue
        if open_calls:
            bad.append(f"messages.[{i}]: tool_call_ids {sorted(open_calls)} did not have "
                       "response messages")
            open_calls = set()
        if role not in ("system", "developer", "user", "assistant"):
            bad.append(f"messages.[{i}].role: invalid role {role!r}")
        for c in m.get("tool_calls") or []:
            open_calls.add(c.get("id"))
            if not _json_ok(c.get("function", {}).get("arguments")):
                bad.append(f"messages.[{i}]: tool call arguments must be JSON")
    if open_calls:
        bad.append(f"tool_call_ids {sorted(open_calls)} did not have response messages")
    return bad


def validate_responses(body: dict[str, Any]) -> list[str]:
    bad = _tool_problems(body.get("tools") or [], chat=False)
    items = body.get("input")
    if not items:
        bad.append("input: required")
    calls: set[str] = set()
    for i, item in enumerate(items if isinstance(items, list) else []):
        t = item.get("type", "message")
        if t == "function_call":
            calls.add(item.get("call_id"))
            if not _json_ok(item.get("arguments")):
                bad.append(f"input[{i}]: function_call arguments must be JSON")
        elif t == "function_call_output":
            if item.get("call_id") not in calls:
                bad.append(f"input[{i}]: No tool call found for function call output with "
                           f"call_id {item.get('call_id')}")
            calls.discard(item.get("call_id"))
        elif t == "message" and item.get("role") not in ("system", "developer", "user",
                                                          "assistant"):
            bad.append(f"input[{i}].role: invalid role")
    if calls:
        bad.append(f"No tool output found for function call {sorted(calls)[0]}")
    return bad


def sequence(body: dict[str, Any]) -> list[int]:
    """The prompt as a token sequence: tools, then 3 framing tokens + content per message."""
    seq: list[int] = []
    for t in body.get("tools") or []:
        seq += encode(canonical_json(t))
    items = body.get("messages") if "messages" in body else body.get("input") or []
    for m in items:
        role = m.get("role") or m.get("type", "")
        seq += [-1, -2 - sum(map(ord, role)), -1]
        seq += encode(_text(m.get("content")) + _text(m.get("output")))
        for c in m.get("tool_calls") or []:
            seq += encode(canonical_json(c))
        for k in ("tool_call_id", "call_id", "name", "arguments"):
            if m.get(k):
                seq += encode(str(m[k]))
    return seq


class OpenAICache:
    """Automatic prefix caching, namespaced by ``prompt_cache_key``."""

    def __init__(self, *, min_tokens: int = 1024, increment: int = 128) -> None:
        self.min_tokens = min_tokens
        self.increment = increment
        self.seen: dict[str, list[bytes]] = {}

    def cached(self, body: dict[str, Any]) -> tuple[int, int]:
        """(prompt tokens, cached tokens) for ``body``; remembers its prefix."""
        seq = sequence(body)
        packed = array("i", seq).tobytes()
        space = self.seen.setdefault(str(body.get("prompt_cache_key") or ""), [])
        best = max((_lcp(old, packed) for old in space), default=0)
        space.append(packed)
        del space[:-32]  # the recent past is what a real cache still holds
        hit = 0
        if best >= self.min_tokens and best:
            hit = self.min_tokens + (best - self.min_tokens) // self.increment * self.increment
        return len(seq) + 3, min(hit, len(seq))


def _out_tokens(reply: dict[str, Any]) -> int:
    text = (reply.get("text") or "") + "".join(json.dumps(c.get("arguments") or {})
                                              for c in reply.get("tool_calls") or [])
    return max(1, len(encode(text)))


def _usage_chat(prompt: int, cached: int, out: int, report: bool) -> dict[str, Any]:
    u: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": out,
                         "total_tokens": prompt + out}
    if report:
        u["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    return u


def chat_completion(body: dict[str, Any], reply: dict[str, Any], prompt: int, cached: int,
                    n: int, report: bool) -> dict[str, Any]:
    calls = [{"id": c.get("id") or f"call_{n:03d}_{k}", "type": "function",
              "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments") or {})}}
             for k, c in enumerate(reply.get("tool_calls") or [])]
    msg: dict[str, Any] = {"role": "assistant", "content": reply.get("text") or None}
    if calls:
        msg["tool_calls"] = calls
    if reply.get("thinking"):
        msg["reasoning_content"] = reply["thinking"]
    return {"id": f"chatcmpl-{n:04d}", "object": "chat.completion", "created": 1_700_000_000,
            "model": body["model"],
            "choices": [{"index": 0, "message": msg, "logprobs": None,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": _usage_chat(prompt, cached, _out_tokens(reply), report)}


def chat_chunks(done: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    base = {"id": done["id"], "object": "chat.completion.chunk", "created": done["created"],
            "model": done["model"]}
    msg = done["choices"][0]["message"]
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None}]}]
    text = msg.get("content") or ""
    for k in range(0, len(text), 8):
        out.append({**base, "choices": [{"index": 0, "delta": {"content": text[k:k + 8]},
                                         "finish_reason": None}]})
    for i, c in enumerate(msg.get("tool_calls") or []):
        args = c["function"]["arguments"]
        out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": c["id"], "type": "function",
             "function": {"name": c["function"]["name"], "arguments": ""}}]},
            "finish_reason": None}]})
        for k in range(0, len(args), 6):
            out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": i, "function": {"arguments": args[k:k + 6]}}]},
                "finish_reason": None}]})
    out.append({**base, "choices": [{"index": 0, "delta": {},
                                     "finish_reason": done["choices"][0]["finish_reason"]}]})
    if include_usage:
        out.append({**base, "choices": [], "usage": done["usage"]})
    return out


def response(body: dict[str, Any], reply: dict[str, Any], prompt: int, cached: int, n: int,
             report: bool) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if reply.get("thinking"):
        output.append({"type": "reasoning", "id": f"rs_{n}", "summary": [
            {"type": "summary_text", "text": reply["thinking"]}]})
    if reply.get("text"):
        output.append({"type": "message", "id": f"msg_{n}", "role": "assistant",
                       "status": "completed", "content": [
                           {"type": "output_text", "text": reply["text"], "annotations": []}]})
    for k, c in enumerate(reply.get("tool_calls") or []):
        output.append({"type": "function_call", "id": f"fc_{n}_{k}",
                       "call_id": c.get("id") or f"call_{n:03d}_{k}", "name": c["name"],
                       "arguments": json.dumps(c.get("arguments") or {}),
                       "status": "completed"})
    out = _out_tokens(reply)
    details = {"cached_tokens": cached if report else 0}
    return {"id": f"resp_{n:04d}", "object": "response", "created_at": 1_700_000_000,
            "status": "completed", "model": body["model"], "output": output,
            "usage": {"input_tokens": prompt, "input_tokens_details": details,
                      "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": prompt + out}}


def response_events(done: dict[str, Any]) -> list[dict[str, Any]]:
    seq = iter(range(10_000))
    out = [{"type": "response.created", "sequence_number": next(seq),
            "response": {**done, "status": "in_progress", "output": [], "usage": None}}]
    for i, item in enumerate(done["output"]):
        out.append({"type": "response.output_item.added", "sequence_number": next(seq),
                    "output_index": i, "item": {**item, "content": []}
                    if item["type"] == "message" else item})
        if item["type"] == "message":
            text = item["content"][0]["text"]
            for k in range(0, len(text), 8):
                out.append({"type": "response.output_text.delta", "sequence_number": next(seq),
                            "item_id": item["id"], "output_index": i, "content_index": 0,
                            "delta": text[k:k + 8], "logprobs": []})
        out.append({"type": "response.output_item.done", "sequence_number": next(seq),
                    "output_index": i, "item": item})
    out.append({"type": "response.completed", "sequence_number": next(seq), "response": done})
    return out


def error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 429: "rate_limit_exceeded",
            500: "server_error", 503: "server_error"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}
