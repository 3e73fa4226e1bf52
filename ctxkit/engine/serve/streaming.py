"""Server-sent events for ``ctxkit serve``: safe text deltas and Anthropic's event order.

Owns turning a request's successive outputs into text deltas a client can print (never a
half-decoded character, never the start of a stop string that may still match) and the
Anthropic streaming event sequence (message_start, content_block_start/delta/stop,
message_delta with usage, message_stop). Knows nothing of routes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..llm import RequestOutput
from ..sampling import SamplingParams


def sse(data: dict[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n"


class Deltas:
    """Text deltas from successive full outputs, holding back what may still change."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.sent = ""

    def next(self, out: RequestOutput) -> str:
        text = out.text
        if not out.finished:
            text = text.rstrip("\ufffd")  # an incomplete UTF-8 sequence decodes to U+FFFD
            for stop in self.stops:
                for k in range(min(len(stop) - 1, len(text)), 0, -1):
                    if text.endswith(stop[:k]):
                        text = text[:-k]
                        break
        if not text.startswith(self.sent) or len(text) <= len(self.sent):
            return ""
        delta = text[len(self.sent):]
        self.sent = text
        return delta


async def anthropic_events(outs: AsyncIterator[RequestOutput], mid: str, model: str,
                           params: SamplingParams,
                           usage: Callable[[RequestOutput], dict[str, Any]],
                           tools: bool = False) -> AsyncIterator[str]:
    """Anthropic's streaming events; message_start waits for admission so that its usage
    carries the measured cached tokens. With ``tools``, a ``<tool_call>`` in the reply
    becomes a ``tool_use`` block (its input as one ``input_json_delta``)."""
    from .choices import ToolStream

    deltas = Deltas(params.stop)
    held = ToolStream() if tools else None
    first = True
    last = None
    async for out in outs:
        last = out
        if first:
            start_usage = {**usage(out), "output_tokens": 0}
            yield sse({"type": "message_start", "message": {
                "id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": start_usage}}, "message_start")
            yield sse({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}}, "content_block_start")
            first = False
        text = deltas.next(out)
        if held is not None:
            text = held.feed(text)
        if text:
            yield sse({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": text}}, "content_block_delta")
    assert last is not None
    rest, calls = held.finish() if held is not None else ("", [])
    if rest:
        yield sse({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": rest}}, "content_block_delta")
    yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    for k, call in enumerate(calls, start=1):
        yield sse({"type": "content_block_start", "index": k, "content_block": {
            "type": "tool_use", "id": call.id, "name": call.name, "input": {}}},
            "content_block_start")
        yield sse({"type": "content_block_delta", "index": k, "delta": {
            "type": "input_json_delta", "partial_json": json.dumps(call.arguments)}},
            "content_block_delta")
        yield sse({"type": "content_block_stop", "index": k}, "content_block_stop")
    reason = {"length": "max_tokens"}.get(last.finish_reason or "", "end_turn")
    if last.matched_stop is not None:
        reason = "stop_sequence"
    if calls:
        reason = "tool_use"
    yield sse({"type": "message_delta", "delta": {"stop_reason": reason,
                                                  "stop_sequence": last.matched_stop},
               "usage": usage(last)}, "message_delta")
    yield sse({"type": "message_stop"}, "message_stop")
