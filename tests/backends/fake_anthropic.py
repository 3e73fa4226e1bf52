"""The Anthropic side of the loopback test server: what the Messages API checks, caches and
answers, in its documented wire format.

Checks each request as the API does (at most 4 cache_control breakpoints, longer TTLs
before shorter ones in tools -> system -> messages order, user/assistant alternation, each
tool_use answered by a tool_result at the start of the next user message, well-formed
tools, non-empty text, thinking blocks passed back unmodified). Caches like the API: an
entry per breakpoint whose prefix reaches the model's minimum, a breakpoint hits the
longest entry among itself and the 20 blocks before it, reads refresh entries. Token counts
are o200k over each block's JSON-free text plus 3 per message: not Claude's tokenizer, but
deterministic, which is what tests need.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from functools import lru_cache
from typing import Any

from ctxkit import canonical_json, get_tokenizer

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TTL = {"5m": 300.0, "1h": 3600.0}
LOOKBACK = 20


@lru_cache(maxsize=65536)
def tokens(text: str) -> int:
    return len(get_tokenizer("o200k_base").encode(text))


def min_cacheable(model: str) -> int:
    return 4096 if ("opus-4-5" in model or "haiku-4-5" in model) else 1024


def signature(thinking: str) -> str:
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:24]


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def validate(body: dict[str, Any], *, count: bool = False) -> list[str]:
    """Everything the API would refuse in ``body``, as messages (empty: acceptable)."""
    bad: list[str] = []
    if not isinstance(body.get("model"), str):
        bad.append("model: field required")
    if not count and not (isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0):
        bad.append("max_tokens: must be a positive integer")
    think = body.get("thinking") or {}
    if think.get("type") == "enabled" and not count and \
            think.get("budget_tokens", 0) >= body.get("max_tokens", 0):
        bad.append("thinking.budget_tokens must be less than max_tokens")
    ttls: list[str] = []
    names = set()
    for t in body.get("tools") or []:
        if not _NAME.match(str(t.get("name", ""))):
            bad.append(f"tools: name {t.get('name')!r} must match {_NAME.pattern}")
        if t.get("name") in names:
            bad.append(f"tools: tool names must be unique ({t.get('name')})")
        names.add(t.get("name"))
        schema = t.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            bad.append(f"tools.{t.get('name')}.input_schema: type must be 'object'")
        _cc(t, ttls, bad)
    system = body.get("system")
    for b in _blocks(system) if system else []:
        if b.get("type") != "text" or not str(b.get("text", "")).strip():
            bad.append("system: text content blocks must contain non-whitespace text")
        _cc(b, ttls, bad)
    messages = body.get("messages") or []
    if not messages:
        bad.append("messages: at least one message is required")
    elif messages[0].get("role") != "user":
        bad.append("messages: the first message must use the user role")
    prev_uses: set[str] = set()
    for i, m in enumerate(messages):
        if i and m.get("role") == messages[i - 1].get("role"):
            bad.append(f"messages.{i}: roles must alternate between user and assistant")
        blocks = _blocks(m.get("content"))
        if not blocks:
            bad.append(f"messages.{i}: content must not be empty")
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if prev_uses:
            if set(results) != prev_uses:
                bad.append(f"messages.{i}: tool_use ids {sorted(prev_uses)} were found without "
                           "tool_result blocks immediately after")
            lead = [b.get("type") for b in blocks[:len(results)]]
            if any(t != "tool_result" for t in lead):
                bad.append(f"messages.{i}: tool_result blocks must come first in the message")
        elif results:
            bad.append(f"messages.{i}: unexpected tool_result ids {results}: no tool_use in "
                       "the previous message")
        prev_uses = set()
        for b in blocks:
            t = b.get("type")
            if t == "text" and not str(b.get("text", "")).strip():
                bad.append(f"messages.{i}: text content blocks must be non-empty")
            if t == "tool_use":
                if m.get("role") != "assistant":
                    bad.append(f"messages.{i}: tool_use only in assistant messages")
                prev_uses.add(b.get("id"))
            if t == "thinking":
                if b.get("signature") != signature(b.get("thinking", "")):
                    bad.append(f"messages.{i}: thinking block signature is invalid")
                if b.get("cache_control"):
                    bad.append(f"messages.{i}: thinking blocks cannot set cache_control")
            _cc(b, ttls, bad)
    if len(ttls) > 4:
        bad.append(f"A maximum of 4 blocks with cache_control may be provided. Found {len(ttls)}.")
    if "5m" in ttls and "1h" in ttls[ttls.index("5m"):]:
        bad.append("a ttl='1h' cache_control block must not come after a ttl='5m' block")
    return bad


def _cc(block: dict[str, Any], ttls: list[str], bad: list[str]) -> None:
    cc = block.get("cache_control")
    if cc is None:
        return
    if cc.get("type") != "ephemeral" or cc.get("ttl", "5m") not in _TTL:
        bad.append(f"cache_control {cc!r}: type 'ephemeral', ttl '5m' or '1h'")
        return
    ttls.append(cc.get("ttl", "5m"))


def elements(body: dict[str, Any]) -> list[tuple[str, int, str | None]]:
    """The request as cache sees it: (identity, tokens, ttl) per element, in prefix order."""
    out: list[tuple[str, int, str | None]] = []

    def add(kind: str, b: dict[str, Any], text: str, framing: int = 0) -> None:
        ident = canonical_json([kind, {k: v for k, v in b.items() if k != "cache_control"}])
        cc = b.get("cache_control")
        out.append((ident, tokens(text) + framing, (cc or {}).get("ttl", "5m") if cc else None))

    for t in body.get("tools") or []:
        add("tool", t, canonical_json({k: v for k, v in t.items() if k != "cache_control"}))
    system = body.get("system")
    for b in _blocks(system) if system else []:
        add("system", b, b.get("text", ""))
    for m in body.get("messages") or []:
        for j, b in enumerate(_blocks(m["content"])):
            t = b.get("type")
            text = (b.get("text") if t == "text" else b.get("thinking") if t == "thinking"
                    else canonical_json(b.get("input")) if t == "tool_use"
                    else str(b.get("content") or "") if t == "tool_result" else "")
            add(m["role"], b, text or "", 3 if j == 0 else 0)
    return out


class AnthropicCache:
    """The prompt cache of one organization, as the API documents it."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.entries: dict[str, tuple[int, float, float]] = {}  # hash -> tokens, expiry, ttl
        self.clock = clock

    def usage(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        els = elements(body)
        chain, cum = [], []
        h, total = hashlib.sha256(), 0
        for ident, n, _ in els:
            h.update(ident.encode())
            chain.append(h.hexdigest())
            total += n
            cum.append(total)
        floor = min_cacheable(body.get("model", ""))
        bps = [i for i, (_, _, ttl) in enumerate(els) if ttl and cum[i] >= floor]
        read = 0
        for i in bps:
            for j in range(i, max(-1, i - LOOKBACK - 1), -1):
                e = self.entries.get(chain[j])
                if e and e[1] > now:
                    read = max(read, e[0])
                    self.entries[chain[j]] = (e[0], now + e[2], e[2])
                    break
        w = {"5m": 0, "1h": 0}
        done = read
        for i in bps:
            ttl = str(els[i][2])
            if cum[i] > done:
                w[ttl] += cum[i] - done
                done = cum[i]
            old = self.entries.get(chain[i])
            keep = max(_TTL[ttl], old[2] if old else 0)
            self.entries[chain[i]] = (cum[i], now + keep, keep)
        write = w["5m"] + w["1h"]
        return {"input_tokens": total - read - write, "cache_read_input_tokens": read,
                "cache_creation_input_tokens": write,
                "cache_creation": {"ephemeral_5m_input_tokens": w["5m"],
                                   "ephemeral_1h_input_tokens": w["1h"]}}


def count(body: dict[str, Any]) -> int:
    return sum(n for _, n, _ in elements(body))


def message(body: dict[str, Any], reply: dict[str, Any], usage: dict[str, Any], n: int
            ) -> dict[str, Any]:
    """The Message the API would answer with ``reply`` (text, tool_calls, thinking)."""
    content: list[dict[str, Any]] = []
    out_text = ""
    if reply.get("thinking"):
        content.append({"type": "thinking", "thinking": reply["thinking"],
                        "signature": signature(reply["thinking"])})
        out_text += reply["thinking"]
    if reply.get("text"):
        content.append({"type": "text", "text": reply["text"]})
        out_text += reply["text"]
    for k, c in enumerate(reply.get("tool_calls") or []):
        content.append({"type": "tool_use", "id": c.get("id") or f"toolu_{n:03d}_{k}",
                        "name": c["name"], "input": c.get("arguments") or {}})
        out_text += json.dumps(c.get("arguments") or {})
    stop = "tool_use" if reply.get("tool_calls") else "end_turn"
    return {"id": f"msg_{n:04d}", "type": "message", "role": "assistant",
            "model": body["model"], "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": {**usage, "output_tokens": max(1, tokens(out_text))}}


def events(msg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events that stream ``msg``."""
    start = {**msg, "content": [], "stop_reason": None,
             "usage": {**msg["usage"], "output_tokens": 1}}
    out: list[tuple[str, dict[str, Any]]] = [("message_start",
                                              {"type": "message_start", "message": start})]
    for i, b in enumerate(msg["content"]):
        t = b["type"]
        empty = {"text": {"type": "text", "text": ""},
                 "thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "tool_use": {"type": "tool_use", "id": b.get("id"), "name": b.get("name"),
                              "input": {}}}[t]
        out.append(("content_block_start", {"type": "content_block_start", "index": i,
                                            "content_block": empty}))
        if t == "text":
            deltas = [{"type": "text_delta", "text": b["text"][k:k + 8]}
                      for k in range(0, len(b["text"]), 8)]
        elif t == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": b["thinking"]},
                      {"type": "signature_delta", "signature": b["signature"]}]
        else:
            raw = json.dumps(b["input"])
            deltas = [{"type": "input_json_delta", "partial_json": raw[k:k + 5]}
                      for k in range(0, len(raw), 5)]
        out += [("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
                for d in deltas]
        out.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": msg["stop_reason"],
                                            "stop_sequence": None},
                                  "usage": {"output_tokens": msg["usage"]["output_tokens"]}}))
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
            500: "api_error", 529: "overloaded_error"}.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
