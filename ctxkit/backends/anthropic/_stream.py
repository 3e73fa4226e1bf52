"""Rebuild an Anthropic Message from its server-sent events.

Owns the event grammar: ``message_start`` (usage of the prompt), ``content_block_start`` /
``content_block_delta`` (text, tool input JSON, thinking, signature) / ``content_block_stop``,
``message_delta`` (stop reason, cumulative usage) and ``message_stop``. A stream that ends
before ``message_stop`` is incomplete: ``finish`` raises rather than return a truncated
reply. Knows nothing of HTTP; the SDK decodes the events.
"""

from __future__ import annotations

import json
from typing import Any

from .._retry import ProviderError


class MessageAccumulator:
    """Feed it events (as dicts); ``finish()`` returns the Message dict they describe."""

    def __init__(self) -> None:
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}
        self.done = False
        self.num_events = 0

    def feed(self, event: dict[str, Any]) -> str | None:
        """Take one event; return the text it adds to the reply, if any."""
        self.num_events += 1
        t = event.get("type")
        if t == "message_start":
            self.message = dict(event.get("message") or {})
            self.message["content"] = []
        elif t == "content_block_start":
            block = dict(event.get("content_block") or {})
            if block.get("type") == "tool_use":
                block["input"] = {}
                self._json[event["index"]] = []
            self.blocks[event["index"]] = block
            if block.get("type") == "text" and block.get("text"):
                return str(block["text"])
        elif t == "content_block_delta":
            return self._delta(event["index"], event.get("delta") or {})
        elif t == "content_block_stop":
            i = event["index"]
            if i in self._json:
                raw = "".join(self._json.pop(i))
                self.blocks[i]["input"] = json.loads(raw) if raw else {}
        elif t == "message_delta":
            delta = event.get("delta") or {}
            for k in ("stop_reason", "stop_sequence"):
                if delta.get(k) is not None:
                    self.message[k] = delta[k]
            usage = dict(self.message.get("usage") or {})
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            self.message["usage"] = usage
        elif t == "message_stop":
            self.done = True
        return None

    def _delta(self, index: int, delta: dict[str, Any]) -> str | None:
        block = self.blocks.setdefault(index, {"type": "text", "text": ""})
        d = delta.get("type")
        if d == "text_delta":
            block["text"] = block.get("text", "") + delta.get("text", "")
            return str(delta.get("text", "")) or None
        if d == "input_json_delta":
            self._json.setdefault(index, []).append(delta.get("partial_json", ""))
        elif d == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
        elif d == "signature_delta":
            block["signature"] = block.get("signature", "") + delta.get("signature", "")
        return None

    def describe(self) -> str:
        kinds = [b.get("type", "?") for _, b in sorted(self.blocks.items())]
        return (f"{self.num_events} events, content blocks {kinds or 'none'}, "
                f"{'no ' if 'stop_reason' not in self.message else ''}stop reason")

    def finish(self) -> dict[str, Any]:
        """The whole Message; raises ProviderError if the stream stopped early."""
        if not self.done or not self.message:
            raise ProviderError(
                f"anthropic stream ended before message_stop ({self.describe()}); the reply "
                "is incomplete — retry the call", retryable=True)
        msg = dict(self.message)
        msg["content"] = [b for _, b in sorted(self.blocks.items())]
        return msg
