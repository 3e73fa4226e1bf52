"""The recorder: turns proxied calls into CallRecords on a thread of its own.

Owns the work queue (one worker, so calls are analysed in the order they arrive and
finish), the live records kept for the pages, the trace file, the metrics counters and the
one-line log of each cache killer. The forwarder hands it the request body when a request
arrives (``begin``), says when to start on it (``release``: once the reply's first bytes
have gone to the client, so the analysis never delays them) and hands over the reply's
bytes when it ends (``finish``); none of them waits for the analysis. Headers never reach
it, so keys cannot be recorded.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .._cache import PartialHit
from .._errors import UserError
from .._profile import Profile, profile_for
from .._record import CallRecord, Trace
from .._tokens import get_tokenizer
from ._breakpoints import add_breakpoints
from ._config import ProxyConfig
from ._records import Pending, extend_chain, make_record
from ._sessions import Sessions, drift
from ._wire import RequestReader, decode, read_reply

log = logging.getLogger("ctxkit.proxy")
API = {"messages": "anthropic", "chat": "openai-chat", "responses": "openai-responses"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 (newline too), DEL, C1 (8-bit CSI)


def one_line(text: str) -> str:
    """A client's text (a tool name, a session header) fit for one log line: control
    characters escaped, so it can neither start a forged line nor reach the terminal as
    an escape sequence."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class Recorder:
    """Records every proxied model call; thread-safe to read."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.sessions = Sessions()
        self.reader = RequestReader()
        self.records: deque[CallRecord] = deque(maxlen=config.max_records)
        self.trace = Trace(config.trace) if config.trace is not None else None
        self.counters: dict[str, float] = {}
        self.lock = threading.Lock()
        self._pending: dict[int, Pending] = {}
        self._held: dict[int, Callable[[], None]] = {}  # begun, not yet released
        self._next = 0
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._idle = threading.Condition()
        self._outstanding = 0
        self._open = 0
        self._num_submitted = 0  # jobs queued, and jobs done: the worker runs them in order
        self._num_done = 0
        self._counts: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._work, name="ctxkit-proxy-recorder",
                                        daemon=True)
        self._thread.start()
        # load the vocabulary now (a second or two), not while the first call waits for it
        self._submit(lambda: get_tokenizer("o200k_base").count("warm up"))

    # -- called from the event loop: cheap, never blocks ---------------------------------

    def begin(self, route: str, body: bytes, session: str | None, started: float,
              changed: str | None) -> int:
        """Register a call; its request is analysed once ``release`` (or ``finish``) says
        so. Holding it until then keeps the parse (a C call that holds the GIL for a
        millisecond on a 200 KB body) from competing with the request's own forwarding."""
        with self.lock:
            self._next += 1
            call = self._next
        with self._idle:
            self._open += 1  # until its reply is recorded: wait_idle waits for it too
        self._held[call] = lambda: self._begin(call, route, body, session, started, changed)
        return call

    def release(self, call: int | None) -> None:
        """Start analysing the request of ``call``: the forwarder calls it once the reply's
        first bytes are on their way to the client (or the reply ended without any).
        Calls that arrived before it are released with it: requests are analysed in the
        order they arrived, which session inference and drift rely on."""
        if call is None or call not in self._held:
            return
        while self._held:
            first = next(iter(self._held))
            self._submit(self._held.pop(first))
            if first == call:
                return

    def finish(self, call: int | None, status: int, headers: dict[str, str],
               chunks: list[bytes], error: str | None, latency_s: float,
               first_byte_s: float | None, *, dropped: int = 0) -> None:
        """The reply of ``call`` ended: its status, headers and kept bytes (``dropped``:
        bytes of its middle not kept, see ``ProxyConfig.max_record_bytes``)."""
        if call is not None:
            self.release(call)
            self._submit(lambda: self._finish_and_close(call, status, headers, chunks, error,
                                                        latency_s, first_byte_s, dropped))

    def fail(self, call: int | None, error: str) -> None:
        self.finish(call, 0, {}, [], error, 0.0, None)

    def count_tokens_call(self) -> None:
        self._bump("count_tokens")

    def place_breakpoints(self, body: bytes) -> tuple[bytes, str | None]:
        """``body`` with breakpoints added where they pay (Anthropic), and what changed."""
        return add_breakpoints(body, self._profile, self._counter)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every call begun so far is recorded (its reply ended and analysed);
        False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._outstanding or self._open:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def wait_recorded(self, timeout: float = 5.0) -> bool:
        """Block until every reply that has ended so far is recorded (calls still
        streaming are not waited for: they may run for minutes); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            target = self._num_submitted
            while self._num_done < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def snapshot(self) -> tuple[list[CallRecord], dict[str, float], int]:
        with self.lock:
            return list(self.records), dict(self.counters), len(self.sessions.live)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    # -- the worker ------------------------------------------------------------------------

    def _submit(self, job: Callable[[], None]) -> None:
        with self._idle:
            self._outstanding += 1
            self._num_submitted += 1
        self._queue.put(job)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job()
            except Exception:  # a bug here must never take the proxy down
                log.exception("ctxkit proxy: recording a call failed")
            finally:
                with self._idle:
                    self._outstanding -= 1
                    self._num_done += 1
                    self._idle.notify_all()

    def _bump(self, key: str, by: float = 1) -> None:
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + by

    def _profile(self, model: str, route: str) -> Profile:
        name = self.config.profile
        try:
            return profile_for(name or model)
        except UserError:
            if name:
                raise
        fallback = "claude" if route == "messages" else \
            "openai-compatible" if self.config.flavor == "url" else "gpt-4o"
        return profile_for(fallback).replace(name=model)

    def _counter(self, profile: Profile) -> Any:
        return get_tokenizer(profile.tokenizer).count

    def _begin(self, call: int, route: str, body: bytes, name: str | None, started: float,
               changed: str | None) -> None:
        p = Pending(route=route, started_at=started, changed=changed)
        self._pending[call] = p
        try:
            req = self.reader.read(route, body)
        except ValueError as exc:
            p.problem = f"the request body could not be read: {exc}"
            return
        profile = self._profile(req.model, route)
        s = self.sessions.assign(name, API[route], req.model, req.call, profile, started)
        p.request, p.session, p.index = req, s, s.num_calls
        self.reader.count_tokens(req, profile.tokenizer, self._counter(profile))
        p.tokens = req.tokens
        found = drift(s, req.call, self._counter(profile))
        if found is not None and found[2]:  # a token-prefix cache still serves its start
            p.partial = PartialHit(found[0].index, found[2], s.prev_chain[found[0].index])
        p.chain = extend_chain(s.prev.blocks if s.prev else [], s.prev_chain, req.call.blocks)
        s.num_calls += 1
        s.prev, s.prev_tokens, s.prev_chain = req.call, p.tokens, p.chain
        if found is not None:
            p.drift, where, _ = found
            self._bump("killers")
            log.warning("cache killer: session %s call %d: %s block %s (%s): %s; %s tokens "
                        "lost", one_line(s.id), p.index, p.drift.layer, one_line(p.drift.key),
                        one_line(where), p.drift.cause, f"{p.drift.tokens_invalidated:,}")

    def _finish_and_close(self, call: int, *args: Any) -> None:
        try:
            self._finish(call, *args)
        finally:
            with self._idle:
                self._open -= 1

    def _finish(self, call: int, status: int, headers: dict[str, str], chunks: list[bytes],
                error: str | None, latency_s: float, first_byte_s: float | None,
                dropped: int) -> None:
        p = self._pending.pop(call)
        response = None
        note = None
        if chunks:
            try:
                raw = decode(b"".join(chunks), headers.get("content-encoding"))
                response, note = read_reply(p.route, raw, headers.get("content-type", ""))
            except (ValueError, ImportError, OSError) as exc:
                note = f"the reply could not be read: {exc}"
        if dropped:
            total = sum(map(len, chunks)) - 2 + dropped  # less the blank line standing in
            note = (f"the reply was {total:,} bytes: {dropped:,} in its middle were not kept "
                    f"(max_record_bytes)" + (f"; {note}" if note else ""))
        if status >= 400 and error is None:
            body = b"".join(chunks)[:2000].decode("utf-8", errors="replace")
            error = f"upstream answered {status}: {body}"
        extras: dict[str, Any] = {"api": API[p.route], "upstream": self.config.upstream_url,
                                  "stream": p.request.stream if p.request else None}
        if note:
            extras["reply_note"] = note
        if dropped:
            extras["reply_bytes_dropped"] = dropped
        if p.session is not None:
            extras["session_inferred"] = not p.session.named
        if p.request is not None and p.request.continues:
            extras["previous_response_id"] = p.request.continues
        record = make_record(p, status=status, response=response, error=error,
                             latency_s=latency_s, first_byte_s=first_byte_s, now=time.time(),
                             extras=extras)
        if self.trace is not None:
            self.trace.append(record)
        u = record.usage
        with self.lock:
            self.records.append(record)
            c = self.counters
            key = f"calls:{API[p.route]}:{status}"
            c[key] = c.get(key, 0) + 1
            if record.ok:
                for state, n in (("read", u.cache_read_tokens), ("write", u.cache_write_tokens),
                                 ("uncached", u.uncached_tokens), ("output", u.output_tokens)):
                    c[f"tokens:{state}"] = c.get(f"tokens:{state}", 0) + n
                c["cost"] = c.get("cost", 0.0) + record.cost_usd
            else:
                c["errors"] = c.get("errors", 0) + 1
