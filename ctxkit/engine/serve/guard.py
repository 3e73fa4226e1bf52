"""The gate in front of ``ctxkit serve``'s routes: API keys and request-size limits.

Owns what is refused before a route runs. With an API key set, every path but
``/health`` needs it, as ``Authorization: Bearer <key>`` (OpenAI clients) or
``x-api-key: <key>`` (Anthropic clients), compared in constant time. A body larger than
``max_request_bytes`` is refused with 413: at once from its ``Content-Length``, before a
byte of it is read, or, for a chunked body, as soon as the bytes read pass the limit, so
no request can make the server hold more than the limit. A pure ASGI middleware (no
buffering of streamed responses); knows nothing of the protocols beyond their error shape.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

OPEN_PATHS = frozenset({"/health"})


class Guard:
    """ASGI middleware: auth by API key, and a cap on request bodies.

    Args:
        app: the app behind the gate.
        api_key: the key clients must send; None leaves the server open.
        max_request_bytes: the largest body accepted.
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_request_bytes: int) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.max_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        if self.key is not None and path not in OPEN_PATHS and not self._authorized(headers):
            await error_response(path, 401, "a valid API key is required: send "
                                 "'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                                 code="invalid_api_key")(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await error_response(path, 413, self._too_large(length.decode("latin-1")),
                                 headers={"Connection": "close"})(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _authorized(self, headers: dict[str, bytes]) -> bool:
        assert self.key is not None
        given = headers.get("x-api-key", b"")
        auth = headers.get("authorization", b"")
        if auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        return bool(given) and hmac.compare_digest(given, self.key)

    def _too_large(self, size: str) -> str:
        return (f"the request body is {size} bytes; this server's max_request_bytes is "
                f"{self.max_bytes}: send a shorter prompt, or start the server with a larger "
                "--max-request-bytes")

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message: Any = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._too_large(f"over {self.max_bytes}"),
                                        headers={"Connection": "close"})
            return message  # type: ignore[no-any-return]

        return counted
