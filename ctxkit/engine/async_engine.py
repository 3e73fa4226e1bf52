"""AsyncEngine: the LLM stepped by one background thread, fed by asyncio callers.

Owns the hand-off between the server's event loop and the engine: requests go into a
thread-safe inbox, one thread adds them, steps the engine while work remains, and posts
each request's progress back to its caller's loop. A caller that goes away (client
disconnect) aborts its request, freeing its KV blocks. ``close`` shuts down gracefully:
new requests are refused with ``EngineClosed``, those in flight get ``drain_s`` seconds to
finish, and the rest are aborted and fail with ``EngineClosed``. Also keeps the generated
tokens per second over the last seconds. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .llm import LLM, RequestOutput
from .recovery import isolate
from .sampling import SamplingParams
from .sequence import Sequence


class EngineClosed(RuntimeError):
    """The engine is shutting down: the request was refused or cut off."""


@dataclass(slots=True)
class _Request:
    ids: list[int]
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    session_id: str | None = None
    out: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    seq: Sequence | None = None
    sent_tokens: int = -1


class AsyncEngine:
    """Runs ``llm`` on its own thread; ``generate`` yields progress as it happens."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.num_requests = 0
        self._inbox: queue.SimpleQueue[tuple[str, _Request]] = queue.SimpleQueue()
        self._live: dict[int, _Request] = {}
        self._wake = threading.Event()
        self._stop = False
        self._closing = False
        self._drain_until = 0.0
        self._rate: deque[tuple[float, int]] = deque()  # (time, generated tokens so far)
        self._isolated = False  # the last error was probed and no request was to blame
        self._thread = threading.Thread(target=self._loop, name="ctxkit-engine", daemon=True)
        self._thread.start()

    async def generate(self, ids: list[int], params: SamplingParams, *,
                       session_id: str | None = None) -> AsyncIterator[RequestOutput]:
        """Queue a request (already validated); yield its output after each step that
        advanced it, the last one with ``finished`` set."""
        if self._closing:
            raise EngineClosed("the server is shutting down; retry on another instance")
        req = _Request(ids, params, asyncio.get_running_loop(), session_id=session_id,
                       sent_tokens=len(ids))
        self.num_requests += 1
        self._send("add", req)
        done = False
        try:
            while not done:
                item = await req.out.get()
                if isinstance(item, BaseException):
                    raise item
                done = item.finished
                yield item
        finally:
            if not done:
                self._send("abort", req)

    def close(self, drain_s: float = 30.0) -> None:
        """Refuse new requests, let those in flight finish for ``drain_s`` seconds, fail
        the rest with ``EngineClosed``, then stop the engine thread."""
        self._closing = True
        self._drain_until = time.monotonic() + drain_s
        self._wake.set()
        self._thread.join(timeout=drain_s + 10)

    def tokens_per_second(self, window: float = 10.0) -> float:
        """Generated tokens per second over the last ``window`` seconds."""
        rate = list(self._rate)
        now = time.monotonic()
        recent = [(t, n) for t, n in rate if now - t <= window]
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / max(now - recent[0][0], 1e-9)

    # -- the engine thread ---------------------------------------------------------------

    def _send(self, op: str, req: _Request) -> None:
        self._inbox.put((op, req))
        self._wake.set()

    def _post(self, req: _Request, item: Any) -> None:
        req.loop.call_soon_threadsafe(req.out.put_nowait, item)

    def _drain_inbox(self) -> None:
        while True:
            try:
                op, req = self._inbox.get_nowait()
            except queue.Empty:
                return
            if op == "add":
                if self._closing:
                    self._post(req, EngineClosed("the server is shutting down"))
                    continue
                try:
                    req.seq = self.llm.add_request(req.ids, req.params,
                                                   session_id=req.session_id)
                except Exception as exc:  # validated before, so rare: report, keep going
                    self._post(req, exc)
                    continue
                self._live[req.seq.seq_id] = req
            elif req.seq is not None and not req.seq.is_finished:
                self.llm.abort(req.seq)
                self._live.pop(req.seq.seq_id, None)

    def _fail_live(self, exc: BaseException) -> None:
        for req in list(self._live.values()):
            if req.seq is not None:
                self.llm.abort(req.seq)
            self._post(req, exc)
        self._live.clear()

    def _loop(self) -> None:
        while not self._stop:
            self._drain_inbox()
            if self._closing and (not self.llm.has_unfinished()
                                  or time.monotonic() >= self._drain_until):
                self._fail_live(EngineClosed("the server shut down before this request "
                                             "finished"))
                self._drain_inbox()
                return
            if not self.llm.has_unfinished():
                self._wake.wait(timeout=0.5 if self._closing else None)
                self._wake.clear()
                continue
            try:
                seqs = self.llm.step()
            except Exception as exc:  # fail the request that caused it, keep serving
                self._recover(exc)
                continue
            self._isolated = False
            self._rate.append((time.monotonic(), self.llm.num_generated_tokens))
            while len(self._rate) > 2 and self._rate[0][0] < time.monotonic() - 60:
                self._rate.popleft()
            self._report(seqs)

    def _report(self, seqs: list[Sequence]) -> None:
        """Post progress to the callers of ``seqs`` (those that advanced)."""
        for seq in seqs:
            live = self._live.get(seq.seq_id)
            if live is None or (seq.num_tokens == live.sent_tokens and not seq.is_finished):
                continue  # a prefill chunk: nothing new to say
            live.sent_tokens = seq.num_tokens
            self._post(live, self.llm.output(seq))
            if seq.is_finished:
                del self._live[seq.seq_id]

    def _recover(self, exc: Exception) -> None:
        """A step raised. With one request in flight it is the cause; with more, each is
        probed alone (``recovery.isolate``) and only those that raise alone fail. If the
        probes clear everyone and the next step raises again, the fault is not any one
        request's: every request in flight fails, and the engine keeps serving."""
        if len(self._live) > 1 and not self._isolated:
            culprits, advanced = isolate(self.llm)
            for seq, err in culprits:
                req = self._live.pop(seq.seq_id, None)
                if req is not None:
                    self._post(req, err)
            self._isolated = not culprits
            self._report(advanced)
            return
        self._fail_live(exc)
        self._isolated = False
