"""Rebuild OpenAI answers from their streams: chat chunks and Responses events.

Owns the two grammars. Chat: chunks carry ``delta`` content, tool-call fragments by
``index`` and reasoning; a chunk with ``finish_reason`` ends the reply and, with
``stream_options.include_usage``, one last chunk carries the usage. Responses: text
arrives in ``response.output_text.delta`` events and ``response.completed`` (or
``.incomplete``) carries the whole response. A stream that ends before its last event is
incomplete: ``finish`` raises rather than return a truncated reply.
"""

from __future__ import annotations

from typing import Any

from .._retry import ProviderError


class ChatAccumulator:
    """Feed it chat completion chunks (as dicts); ``finish()`` returns the completion."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.num_chunks = 0

    def feed(self, chunk: dict[str, Any]) -> str | None:
        self.num_chunks += 1
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        out: list[str] = []
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.append(delta["content"])
            r = delta.get("reasoning_content") or delta.get("reasoning")
            if r:
                self.reasoning.append(r)
            for tc in delta.get("tool_calls") or []:
                call = self.calls.setdefault(tc.get("index", 0),
                                             {"id": None, "name": "", "arguments": []})
                call["id"] = tc.get("id") or call["id"]
                fn = tc.get("function") or {}
                call["name"] += fn.get("name") or ""
                call["arguments"].append(fn.get("arguments") or "")
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        self.text += out
        return "".join(out) or None

    def describe(self) -> str:
        return (f"{self.num_chunks} chunks, {len(self.calls)} tool calls, "
                f"{'no ' if self.finish_reason is None else ''}finish reason")

    def finish(self) -> dict[str, Any]:
        if self.finish_reason is None:
            raise ProviderError(
                f"openai stream ended before a finish_reason ({self.describe()}); the reply "
                "is incomplete — retry the call", retryable=True)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text)}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.calls:
            message["tool_calls"] = [
                {"id": c["id"] or f"call_{i}", "type": "function",
                 "function": {"name": c["name"], "arguments": "".join(c["arguments"])}}
                for i, c in sorted(self.calls.items())]
        return {"model": self.model, "usage": self.usage,
                "choices": [{"index": 0, "message": message,
                             "finish_reason": self.finish_reason}]}


class ResponsesAccumulator:
    """Feed it Responses stream events (as dicts); ``finish()`` returns the response."""

    def __init__(self) -> None:
        self.final: dict[str, Any] | None = None
        self.num_events = 0
        self.num_chars = 0

    def feed(self, event: dict[str, Any]) -> str | None:
        self.num_events += 1
        t = event.get("type")
        if t == "response.output_text.delta":
            delta = str(event.get("delta") or "")
            self.num_chars += len(delta)
            return delta or None
        if t in ("response.completed", "response.incomplete"):
            self.final = dict(event.get("response") or {})
        elif t in ("response.failed", "error"):
            err = (event.get("response") or {}).get("error") or event.get("error") or event
            etype = str(err.get("code") or err.get("type") or "")
            raise ProviderError(f"openai response failed: {err.get('message') or etype}",
                                status=500 if "server" in etype else None, body=err,
                                retryable="server" in etype or "rate_limit" in etype)
        return None

    def describe(self) -> str:
        return f"{self.num_events} events, {self.num_chars} characters"

    def finish(self) -> dict[str, Any]:
        if self.final is None:
            raise ProviderError(
                f"openai stream ended before response.completed ({self.describe()}); the "
                "reply is incomplete — retry the call", retryable=True)
        return self.final
