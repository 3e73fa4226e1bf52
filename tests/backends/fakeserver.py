"""A loopback HTTP server speaking Anthropic's and OpenAI's protocols, for tests.

Serves ``/v1/messages``, ``/v1/messages/count_tokens``, ``/v1/chat/completions`` and
``/v1/responses`` (JSON or server-sent events) on 127.0.0.1, port 0, in a thread. Every
request is checked as the provider would (``fake_anthropic``, ``fake_openai``): a request
the provider would refuse gets its 400, and the reason is kept in ``violations``. Usage
reflects a server-side prefix cache, so tests can assert that cached tokens are read back.
Faults are injected per request: a status (429 with retry-after, 529, 500), a connection
reset, a stream cut mid-way, a stream that stalls, an error event inside a stream.

    with FakeServer() as server:
        server.reply(text="hello", tool_calls=[{"name": "grep", "arguments": {"q": "x"}}])
        server.inject(Fault("status", status=429, retry_after=2))
        backend = Anthropic("claude-sonnet-4-5", base_url=server.url, api_key="test")
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from . import fake_anthropic as fa
from . import fake_openai as fo

FaultKind = Literal["status", "reset", "cut", "stall", "error_event"]


@dataclass
class Fault:
    """One injected failure, consumed by the next generation request.

    Attributes:
        kind: ``status`` (answer ``status``), ``reset`` (RST before answering), ``cut``
            (close a stream after ``after`` events, or a JSON body half-way), ``stall``
            (pause ``delay`` seconds after ``after`` events), ``error_event`` (an error
            event after ``after`` events, 200 status).
    """

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    after: int = 3
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 0
    raw: bytes = b""  # the body as received, for byte-for-byte checks


@dataclass
class FakeServer:
    """The server; use as a context manager. ``report_cached=False`` mimics vLLM's
    default of not reporting cached tokens; ``openai_min_tokens`` / ``openai_increment``
    set the automatic cache's granularity (OpenAI: 1024 / 128)."""

    report_cached: bool = True
    openai_min_tokens: int = 1024
    openai_increment: int = 128
    requests: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # whole replies, as sent

    def __post_init__(self) -> None:
        self.replies: deque[dict[str, Any]] = deque()
        self.faults: deque[Fault] = deque()
        self.anthropic_cache = fa.AnthropicCache()
        self.openai_cache = fo.OpenAICache(min_tokens=self.openai_min_tokens,
                                           increment=self.openai_increment)
        self._lock = threading.Lock()
        self._n = 0
        self._httpd: ThreadingHTTPServer | None = None

    # -- control -------------------------------------------------------------------------

    def reply(self, text: str = "", *, tool_calls: list[dict[str, Any]] | None = None,
              thinking: str | None = None) -> FakeServer:
        """Queue what the model says next (default when the queue is empty: "ok")."""
        self.replies.append({"text": text, "tool_calls": tool_calls or [],
                             "thinking": thinking})
        return self

    def inject(self, *faults: Fault) -> FakeServer:
        self.faults.extend(faults)
        return self

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first (use it as a context manager)"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == path]

    def __enter__(self) -> FakeServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- one request ---------------------------------------------------------------------

    def _take(self) -> tuple[int, dict[str, Any], Fault | None]:
        with self._lock:
            self._n += 1
            reply = self.replies.popleft() if self.replies else {"text": "ok"}
            fault = self.faults.popleft() if self.faults else None
            return self._n, reply, fault

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, Any, bool, Fault | None]:
        """(status, payload, is_stream, fault). A stream payload is a list of SSE events."""
        if path == "/v1/messages/count_tokens":
            bad = fa.validate(body, count=True)
            if bad:
                return self._refuse(fa.error, bad)
            return 200, {"input_tokens": fa.count(body)}, False, None
        n, reply, fault = self._take()
        if fault is not None and fault.kind in ("status", "reset"):
            return fault.status, None, False, fault
        stream = bool(body.get("stream"))
        if path == "/v1/messages":
            bad = fa.validate(body)
            if bad:
                return self._refuse(fa.error, bad)
            with self._lock:
                usage = self.anthropic_cache.usage(body)
            msg = fa.message(body, reply, usage, n)
            self.answers.append(msg)
            if stream:
                return 200, [(e, d) for e, d in fa.events(msg)], True, fault
            return 200, msg, False, fault
        chat = path == "/v1/chat/completions"
        if path not in ("/v1/chat/completions", "/v1/responses"):
            return 404, {"error": {"message": f"no route {path}", "type": "not_found"}}, \
                False, None
        bad = fo.validate_chat(body) if chat else fo.validate_responses(body)
        if bad:
            return self._refuse(fo.error, bad)
        with self._lock:
            prompt, cached = self.openai_cache.cached(body)
        if chat:
            done = fo.chat_completion(body, reply, prompt, cached, n, self.report_cached)
            self.answers.append(done)
            if not stream:
                return 200, done, False, fault
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = fo.chat_chunks(done, include_usage=usage)
            return 200, [(None, c) for c in chunks] + [(None, "[DONE]")], True, fault
        done = fo.response(body, reply, prompt, cached, n, self.report_cached)
        self.answers.append(done)
        if not stream:
            return 200, done, False, fault
        return 200, [(e["type"], e) for e in fo.response_events(done)], True, fault

    def _refuse(self, err: Any, bad: list[str]) -> tuple[int, Any, bool, None]:
        with self._lock:
            self.violations += bad
        return 400, err(400, "; ".join(bad)), False, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?")[0]
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.loads(raw or b"{}")
        seen = Seen(path, body, {k.lower(): v for k, v in self.headers.items()}, raw=raw)
        with self.fake._lock:
            self.fake.requests.append(seen)
        status, payload, stream, fault = self.fake.handle(path, body)
        seen.status = status
        anthropic = path.startswith("/v1/messages")
        if fault is not None and fault.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault is not None and fault.kind == "status":
            err = (fa.error if anthropic else fo.error)(fault.status, "injected fault")
            headers = {} if fault.retry_after is None else {"retry-after": str(fault.retry_after)}
            return self._json(fault.status, err, headers)
        if not stream:
            if fault is not None and fault.kind == "cut":
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            return self._json(status, payload)
        self._sse(payload, fault, anthropic)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, Any]], fault: Fault | None,
             anthropic: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for i, (name, data) in enumerate(events):
                if fault is not None and i == fault.after:
                    if fault.kind == "cut":
                        return
                    if fault.kind == "stall":
                        time.sleep(fault.delay)
                    if fault.kind == "error_event":
                        err = fa.error(529, "Overloaded") if anthropic else \
                            fo.error(500, "The server had an error while processing")
                        self._event("error", err)
                        return
                self._event(name, data)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (a timeout test): nothing more to say

    def _event(self, name: str | None, data: Any) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}\n" if name else ""
        self.wfile.write(f"{head}data: {text}\n\n".encode())
        self.wfile.flush()
