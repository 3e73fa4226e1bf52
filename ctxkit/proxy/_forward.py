"""The proxy's ASGI application: route, read the body under limits, forward, stream back.

Owns the hot path. A request goes upstream byte for byte (unless ``--place-breakpoints``
applies) with the client's headers, hop-by-hop headers aside; the reply's status, headers
and body come back as they arrive, chunk by chunk, with no buffering (SSE included).
Recording is handed to ``Recorder`` as the request arrives and when the reply ends, and
runs on its own thread, off this path: the request is not even parsed (the proxy forwards
bytes, never JSON) until the reply's first bytes have gone back to the client, so the
recorder's work cannot hold the GIL while a reply waits. Knows no wire format beyond the
route names.

Errors of the proxy itself use the API's error shape for the route, so SDKs show them:
413 body too large, 408 body too slow, 502 upstream unreachable, 504 upstream silent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .._errors import require
from ._config import ProxyConfig
from ._pages import Pages
from ._recorder import Recorder

httpx: Any = require("httpx2", "proxy")
_timeout: Any = getattr(asyncio, "timeout", None)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# path -> route name; only these are recorded, every other path is forwarded as is
ROUTES = {"/v1/messages": "messages", "/v1/messages/count_tokens": "count_tokens",
          "/v1/chat/completions": "chat", "/v1/responses": "responses"}
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate",
                        b"proxy-authorization", b"te", b"trailer", b"transfer-encoding",
                        b"upgrade", b"host", b"content-length"})
SESSION_HEADER = b"x-ctxkit-session"


class ProxyError(Exception):
    """A failure of the proxy itself, answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(route: str | None, path: str, status: int, message: str) -> bytes:
    """``message`` in the error shape of the API the client speaks."""
    message = f"ctxkit proxy: {message}"
    if route in ("messages", "count_tokens") or path.startswith("/v1/messages"):
        kind = {408: "timeout_error", 413: "request_too_large", 502: "api_error",
                504: "timeout_error"}.get(status, "api_error")
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return json.dumps({"error": {"message": message, "type": "proxy_error", "param": None,
                                 "code": f"proxy_{status}"}}).encode()


class ProxyApp:
    """The ASGI callable. ``client`` is created at startup and closed at shutdown."""

    def __init__(self, config: ProxyConfig, recorder: Recorder) -> None:
        self.config = config
        self.recorder = recorder
        self.pages = Pages(recorder)
        self.base = config.upstream_url
        self.client: Any = None

    def _client(self) -> Any:
        if self.client is None:
            c = self.config
            timeout = httpx.Timeout(connect=c.connect_timeout_s, read=c.read_timeout_s,
                                    write=c.read_timeout_s, pool=c.connect_timeout_s)
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
            self.client = httpx.AsyncClient(timeout=timeout, limits=limits,
                                            follow_redirects=False, trust_env=False)
            self.client.headers.clear()  # send the client's headers, not httpx's defaults
        return self.client

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if scope["method"] == "GET" and (path.startswith("/ctxkit") or path == "/metrics"):
            return await self.pages.serve(path, scope, send)
        route = ROUTES.get(path) if scope["method"] == "POST" else None
        try:
            await self._forward(route, scope, receive, send)
        except ProxyError as exc:
            await _respond(send, exc.status, error_body(route, path, exc.status, exc.message))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self._client()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.config.max_body_bytes
        for k, v in scope["headers"]:
            if k == b"content-length" and v.isdigit() and int(v) > limit:
                raise ProxyError(413, f"request body of {int(v)} bytes is over the proxy's "
                                 f"limit of {limit} bytes; raise it with --max-body-mb")
        parts: list[bytes] = []
        size = 0

        async def read() -> None:
            nonlocal size
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    raise ProxyError(400, "the client went away while sending its request")
                chunk = msg.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise ProxyError(413, f"request body over the proxy's limit of {limit} "
                                     "bytes; raise it with --max-body-mb")
                parts.append(chunk)
                if not msg.get("more_body"):
                    return

        try:
            if _timeout is not None:  # 3.11+: a deadline on this task, no task per request
                async with _timeout(self.config.body_timeout_s):
                    await read()
            else:
                await asyncio.wait_for(read(), self.config.body_timeout_s)
        except asyncio.TimeoutError:
            raise ProxyError(408, f"the request body took over {self.config.body_timeout_s:g}"
                             " s to arrive; raise --body-timeout or send it faster") from None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _forward(self, route: str | None, scope: Scope, receive: Receive,
                       send: Send) -> None:
        started = time.time()
        t0 = time.perf_counter()
        body = await self._read_body(scope, receive)
        headers: list[tuple[bytes, bytes]] = []
        session: str | None = None
        for k, v in scope["headers"]:
            if k == SESSION_HEADER:
                session = v.decode("latin-1")
            elif k not in HOP_BY_HOP:
                headers.append((k, v))
        changed: str | None = None
        if route == "messages" and self.config.place_breakpoints:
            body, changed = self.recorder.place_breakpoints(body)
        call = self.recorder.begin(route, body, session, started, changed) \
            if route in ("messages", "chat", "responses") else None
        if route == "count_tokens":
            self.recorder.count_tokens_call()
        # the path as the client sent it: the decoded one would turn %2F into a separator,
        # %3F into a query and ..%2F into a climb out of the upstream's base path
        raw: bytes | None = scope.get("raw_path")
        url = self.base + (raw.decode("latin-1") if raw else scope["path"])
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        client = self._client()
        request = client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            upstream = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            self.recorder.fail(call, f"upstream timed out: {type(exc).__name__}")
            raise ProxyError(504, f"upstream {self.base} did not answer in time "
                             f"({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            self.recorder.fail(call, f"upstream unreachable: {exc!r}")
            raise ProxyError(502, f"cannot reach upstream {self.base}: {exc}") from None
        await self._relay(upstream, call, send, receive, t0)

    async def _relay(self, upstream: Any, call: int | None, send: Send,
                     receive: Receive, t0: float) -> None:
        out_headers = [(k.lower(), v) for k, v in upstream.headers.raw
                       if k.lower() not in HOP_BY_HOP or k.lower() == b"content-length"]
        await send({"type": "http.response.start", "status": upstream.status_code,
                     "headers": out_headers})
        keep = ReplyBuffer(self.config.max_record_bytes)
        first_byte: list[float] = []

        async def pump() -> None:
            async for chunk in upstream.aiter_raw():
                if call is not None:
                    keep.add(chunk)
                if first_byte:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    continue
                first_byte.append(time.perf_counter() - t0)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                # the first bytes are out: the recorder may start on the request now
                self.recorder.release(call)

        error: str | None = None
        task = asyncio.ensure_future(pump())
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                task.cancel()
                error = "client disconnected mid-reply"
            else:
                task.result()
        except asyncio.CancelledError:
            task.cancel()
            error = "client disconnected mid-reply"
            raise
        except httpx.TimeoutException:
            error = f"upstream went silent for over {self.config.read_timeout_s:g} s mid-reply"
        except httpx.TransportError as exc:
            error = f"upstream connection broke mid-reply: {exc!r}"
        finally:
            gone.cancel()
            await upstream.aclose()
            if call is not None:
                self.recorder.finish(call, upstream.status_code, dict(upstream.headers),
                                     keep.chunks(), error, time.perf_counter() - t0,
                                     first_byte[0] if first_byte else None,
                                     dropped=keep.dropped)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class ReplyBuffer:
    """A reply's bytes for its record: all of them up to ``limit``, past it the first and
    the last ``limit // 2`` (a stream's usage is in its first and last events)."""

    def __init__(self, limit: int) -> None:
        self.half = max(1, limit // 2)
        self.head: list[bytes] = []
        self.tail: deque[bytes] = deque()
        self.num_head = self.num_tail = self.dropped = 0

    def add(self, chunk: bytes) -> None:
        if self.num_head < self.half:
            self.head.append(chunk)
            self.num_head += len(chunk)
            return
        self.tail.append(chunk)
        self.num_tail += len(chunk)
        while self.num_tail - len(self.tail[0]) >= self.half:
            gone = self.tail.popleft()
            self.num_tail -= len(gone)
            self.dropped += len(gone)

    def chunks(self) -> list[bytes]:
        """The kept bytes; where a middle was dropped, a blank line stands in for it, so a
        server-sent event cut there is not joined to another."""
        return [*self.head, b"\n\n", *self.tail] if self.dropped else \
            [*self.head, *self.tail]


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _respond(send: Send, status: int, body: bytes,
                   content_type: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
