"""Per-choice pieces of OpenAI replies for ``ctxkit serve``: ``n`` choices, log-probs, tool
calls found while streaming.

Owns running ``n`` generations of one prompt (distinct seeds when the request gave one)
and merging their progress into one stream; the two OpenAI log-prob shapes (chat's
``content`` list, completions' parallel lists); and ``ToolStream``, which lets text
through until a ``<tool_call>`` starts, holds the rest, and parses the calls at the end.
Knows nothing of routes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..llm import RequestOutput
from ..sampling import SamplingParams

TOOL_MARK = "<tool_call>"


def choice_params(params: SamplingParams, n: int) -> list[SamplingParams]:
    """``n`` copies; with a seed, choice ``i`` draws with ``seed + i`` (reproducible and
    distinct), without one each draws its own."""
    if params.seed is None:
        return [params] * n
    return [dataclasses.replace(params, seed=params.seed + i) for i in range(n)]


async def merged(streams: list[AsyncIterator[RequestOutput]]
                 ) -> AsyncIterator[tuple[int, RequestOutput]]:
    """Progress of several generations as it comes: ``(choice index, output)``."""
    queue: asyncio.Queue[tuple[int, RequestOutput | BaseException | None]] = asyncio.Queue()

    async def pump(i: int, stream: AsyncIterator[RequestOutput]) -> None:
        try:
            async for out in stream:
                await queue.put((i, out))
        except Exception as exc:
            await queue.put((i, exc))
        await queue.put((i, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        left = len(tasks)
        while left:
            i, item = await queue.get()
            if item is None:
                left -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield i, item
    finally:
        for t in tasks:  # a client gone: cancelling the pumps aborts their requests
            t.cancel()


def _entry(decode: Callable[[int], str], token: int, logprob: float) -> dict[str, Any]:
    text = decode(token)
    return {"token": text, "logprob": logprob, "bytes": list(text.encode())}


def chat_logprobs(out: RequestOutput, decode: Callable[[int], str], start: int = 0
                  ) -> dict[str, Any] | None:
    """Chat's ``logprobs`` object for output tokens ``start:``."""
    if out.logprobs is None:
        return None
    content = []
    for token, (lp, top) in zip(out.token_ids[start:], out.logprobs[start:], strict=False):
        content.append({**_entry(decode, token, lp),
                        "top_logprobs": [_entry(decode, t, v) for t, v in top]})
    return {"content": content}


def completion_logprobs(out: RequestOutput, decode: Callable[[int], str], start: int = 0,
                        offset: int = 0) -> dict[str, Any] | None:
    """Completions' ``logprobs`` object (parallel lists) for output tokens ``start:``."""
    if out.logprobs is None:
        return None
    tokens, lps, tops, offsets = [], [], [], []
    pos = offset
    for token, (lp, top) in zip(out.token_ids[start:], out.logprobs[start:], strict=False):
        text = decode(token)
        tokens.append(text)
        lps.append(lp)
        tops.append({decode(t): v for t, v in top})
        offsets.append(pos)
        pos += len(text)
    return {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops,
            "text_offset": offsets}


class ToolStream:
    """Text deltas in, text safe to show out; a ``<tool_call>`` and all after it is held
    back and parsed by ``finish``."""

    def __init__(self) -> None:
        self.buf = ""
        self.holding = False

    def feed(self, text: str) -> str:
        self.buf += text
        if self.holding:
            return ""
        cut = self.buf.find(TOOL_MARK)
        if cut >= 0:
            out, self.buf, self.holding = self.buf[:cut], self.buf[cut:], True
            return out
        for k in range(min(len(TOOL_MARK) - 1, len(self.buf)), 0, -1):
            if self.buf.endswith(TOOL_MARK[:k]):  # maybe the start of a marker
                out, self.buf = self.buf[:-k], self.buf[-k:]
                return out
        out, self.buf = self.buf, ""
        return out

    def finish(self) -> tuple[str, list[Any]]:
        """The held text that is not a call, and the calls (``ToolCall``)."""
        from ...backends._local import parse_tool_calls

        if not self.buf:
            return "", []
        return parse_tool_calls(self.buf)
