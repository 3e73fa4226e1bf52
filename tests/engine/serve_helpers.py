"""Running ``ctxkit serve``'s app on loopback for tests, and raw HTTP on a socket (for
bodies that a client library would not send: oversized, chunked, cut off)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields the base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def open_request(base: str, path: str, headers: dict[str, str]) -> socket.socket:
    """A socket with the request line and headers sent, the body not yet."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    return sock


def raw_post(base: str, path: str, chunks: Iterable[bytes], *, length: int | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST ``chunks`` (with Content-Length ``length``, or chunked when None); stop sending
    if the server has answered or closed; return (status, parsed JSON body)."""
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if length is None:
        hdrs["Transfer-Encoding"] = "chunked"
    else:
        hdrs["Content-Length"] = str(length)
    sock = open_request(base, path, hdrs)
    try:
        sock.setblocking(False)
        for piece in chunks:
            data = piece if length is not None else b"%x\r\n%s\r\n" % (len(piece), piece)
            if _answered(sock) or not _send(sock, data):
                break
        else:
            if length is None:
                _send(sock, b"0\r\n\r\n")
        sock.setblocking(True)
        sock.settimeout(30)
        return _read_response(sock)
    finally:
        sock.close()


def _answered(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    except OSError:
        return True


def _send(sock: socket.socket, data: bytes) -> bool:
    view = memoryview(data)
    deadline = time.time() + 30
    while view:
        try:
            n = sock.send(view)
        except BlockingIOError:
            if _answered(sock) or time.time() > deadline:
                return False
            time.sleep(0.005)
            continue
        except OSError:
            return False
        view = view[n:]
    return True


def _read_response(sock: socket.socket) -> tuple[int, Any]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        part = sock.recv(65536)
        if not part:
            break
        buf += part
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    want = int(fields.get("content-length", "-1"))
    while want < 0 or len(body) < want:
        try:
            part = sock.recv(65536)
        except OSError:
            break
        if not part:
            break
        body += part
    return status, json.loads(body) if body else None


def rss_bytes() -> int:
    """This process's resident set size, from /proc."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmRSS in /proc/self/status")
