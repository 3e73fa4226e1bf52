"""Intake: from a validated request to engine input, and a request's life while it runs.

Owns two things the event loop must not do itself. Tokenizing (chat template included)
runs on one worker thread, so a long prompt never stalls other clients or ``/health``;
before it, a cheap length check refuses text that cannot fit (no token of this
tokenizer covers more than ``max_token_chars`` characters, so text longer than
``2 * max_token_chars * max_model_len`` cannot fit whatever it says). And a running
request watches its client: when the connection goes, the generation is cancelled, which
aborts it in the engine and frees its KV blocks, streamed or not. Knows nothing of
protocols beyond ``ApiError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import Request

from ..._errors import UserError
from ..llm import LLM
from ..sampling import SamplingParams
from .errors import ApiError

Build = Callable[[], tuple[list[int], Callable[[int], SamplingParams]]]
T = TypeVar("T")


def max_token_chars(tokenizer: Any) -> int:
    """The most characters one token of ``tokenizer`` stands for (its longest entry)."""
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    return max((len(t) for t in vocab), default=64)


class Intake:
    """Prepares requests for ``llm`` on a tokenizer thread; ``close`` stops the thread."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.max_token_chars = max_token_chars(llm.tokenizer)
        # one thread: a fast tokenizer object must not be used from two threads at once
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ctxkit-tokenize")

    async def prepare(self, num_chars: Callable[[], int], build: Build
                      ) -> tuple[list[int], SamplingParams]:
        """Token ids and sampling params, or ApiError(400) saying what to change."""
        limit = int(self.llm.config.max_model_len or 0)
        try:
            chars = num_chars()
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        if chars > 2 * self.max_token_chars * limit:
            raise ApiError(400, f"the prompt has {chars} characters, so at least "
                                f"{chars // self.max_token_chars} tokens; max_model_len is "
                                f"{limit}: shorten it")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._prepare, build, limit)

    def _prepare(self, build: Build, limit: int) -> tuple[list[int], SamplingParams]:
        try:
            ids, make_params = build()
            room = limit - len(ids)
            if room < 1:
                raise UserError(f"the prompt has {len(ids)} tokens; max_model_len is "
                                f"{limit}: shorten it")
            params = make_params(room)
            self.llm.validate(ids, params)
        except (UserError, ValueError) as exc:
            raise ApiError(400, str(exc)) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("jinja2"):  # the chat template refused it
                raise ApiError(400, f"the chat template failed on these messages: {exc}") \
                    from exc
            raise
        return ids, params

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone (the body is read by then: only a disconnect
    message can arrive)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def until_gone(request: Request, work: Awaitable[T]) -> T:
    """Await ``work`` (a request's generation); if the client leaves first, cancel it
    (closing ``engine.generate``, which aborts the request) and answer 499."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        gone.cancel()
    if task.cancelled():
        raise ApiError(499, "the client closed the connection; the request was aborted")
    return task.result()


async def watched(events: AsyncIterator[str], request: Request) -> AsyncIterator[str]:
    """``events``, stopped (and the request aborted) as soon as the client leaves, even
    while nothing is being sent (queued, or a long prefill)."""
    gone = asyncio.ensure_future(_disconnected(request))
    nxt: asyncio.Future[str] | None = None
    try:
        while True:
            nxt = asyncio.ensure_future(anext(events))
            await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                return
            try:
                yield nxt.result()
            except StopAsyncIteration:
                return
            nxt = None
    finally:
        gone.cancel()
        if nxt is not None and not nxt.done():
            nxt.cancel()
            await asyncio.gather(nxt, return_exceptions=True)
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
