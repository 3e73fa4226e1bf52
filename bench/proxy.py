"""Latency the proxy adds per call on loopback, beside the same client talking to the same
upstream directly, in the same run.

A minimal upstream (raw asyncio, canned Anthropic Messages replies: a JSON message, and an
SSE stream whose first event goes out at once and the rest after ``--gap-ms``) runs in its
own process; ``ctxkit proxy`` in another; the client here, one keep-alive connection per
path. For each request body size we time, over ``--n`` alternating requests:
  * JSON: request sent -> whole reply read;
  * SSE first byte: request sent -> first body byte of the stream read.
The figure is the p50 of (via proxy) minus the p50 of (direct). Goal (issue 15): <= 2 ms.
The proxy records every call (its analysis runs on its own thread, and starts on a
request only once the reply's first bytes are out).

    python bench/proxy.py [--n 400] [--sizes 2000,200000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
           "content": [{"type": "text", "text": "ok " * 40}], "stop_reason": "end_turn",
           "stop_sequence": None,
           "usage": {"input_tokens": 12, "output_tokens": 40, "cache_read_input_tokens": 2000,
                     "cache_creation_input_tokens": 0}}


def sse_events() -> list[bytes]:
    start = {"type": "message_start", "message": {**MESSAGE, "content": [],
                                                  "stop_reason": None}}
    out = [("message_start", start),
           ("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}})]
    out += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "ok "}})] * 20
    out += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                               "usage": {"output_tokens": 20}}),
            ("message_stop", {"type": "message_stop"})]
    return [f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in out]


class Upstream(asyncio.Protocol):
    """HTTP/1.1 keep-alive; JSON reply, or SSE when the body says ``"stream":true``."""

    gap_s = 0.005

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").lower()
            n = 0
            for line in head.split("\r\n"):
                if line.startswith("content-length:"):
                    n = int(line.split(":")[1])
            if len(self.buf) < end + 4 + n:
                return
            body = self.buf[end + 4:end + 4 + n]
            self.buf = self.buf[end + 4 + n:]
            if b'"stream":true' in body.replace(b" ", b""):
                asyncio.ensure_future(self.stream())
            else:
                data = json.dumps(MESSAGE).encode()
                self.t.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"  # type: ignore[attr-defined]
                             b"request-id: req_1\r\ncontent-length: "
                             + str(len(data)).encode() + b"\r\n\r\n" + data)

    async def stream(self) -> None:
        events = sse_events()
        w = self.t.write  # type: ignore[attr-defined]
        w(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
          b"transfer-encoding: chunked\r\n\r\n")

        def chunk(b: bytes) -> None:
            w(f"{len(b):x}\r\n".encode() + b + b"\r\n")

        chunk(events[0])
        await asyncio.sleep(self.gap_s)
        chunk(b"".join(events[1:]))
        w(b"0\r\n\r\n")


def run_upstream(port: int, gap_s: float) -> None:
    Upstream.gap_s = gap_s

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Upstream, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


def run_proxy(port: int, upstream: int, record: bool, stack: str) -> None:
    from ctxkit.proxy import ProxyConfig, _server, serve

    if stack != "auto":  # e.g. h11/asyncio: the pure-Python stack, to compare
        http, loop = stack.split("/")
        make = _server._uvicorn_config

        def config(app: object, cfg: object) -> object:
            c = make(app, cfg)  # type: ignore[arg-type]
            c.http, c.loop = http, loop
            return c

        _server._uvicorn_config = config  # type: ignore[assignment]

    if not record:  # the forwarding path alone, to see what recording costs
        from ctxkit.proxy import _recorder

        _recorder.Recorder.begin = lambda *a, **k: None  # type: ignore[method-assign]
        _recorder.Recorder.finish = lambda *a, **k: None  # type: ignore[method-assign]
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the proxy's log lines
    serve(ProxyConfig(upstream=f"http://127.0.0.1:{upstream}", port=port))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def body(size: int, stream: bool, i: int) -> bytes:
    """Request ``i`` of one growing session: the same start, two more messages per call."""
    history = [{"role": "user" if k % 2 == 0 else "assistant", "content": "word " * 40}
               for k in range(max(1, size // 220) | 1)]
    for k in range(i):
        history += [{"role": "assistant", "content": f"reply {k}"},
                    {"role": "user", "content": f"turn {k}"}]
    return json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
                       "system": "You are a careful agent. " * 40,
                       "messages": history}).encode()


def once(conn: http.client.HTTPConnection, payload: bytes, stream: bool,
         session: str = "bench") -> float:
    t0 = time.perf_counter()
    conn.request("POST", "/v1/messages", body=payload,
                 headers={"content-type": "application/json", "x-api-key": "bench-key",
                          "anthropic-version": "2023-06-01", "x-ctxkit-session": session})
    resp = conn.getresponse()
    if stream:
        resp.read1(1)
        t = time.perf_counter() - t0
        resp.read()
        return t
    resp.read()
    return time.perf_counter() - t0


def measure(port_direct: int, port_proxy: int, n: int, size: int, stream: bool,
            session: str, think_s: float) -> tuple[list[float], list[float]]:
    direct = http.client.HTTPConnection("127.0.0.1", port_direct)
    proxy = http.client.HTTPConnection("127.0.0.1", port_proxy)
    payloads = [body(size, stream, i) for i in range(n)]
    for p in payloads[:20]:  # warm both paths
        once(direct, p, stream, "warm"), once(proxy, p, stream, "warm")
    d, v = [], []
    for p in payloads:  # alternate, so drift in machine load hits both alike
        d.append(once(direct, p, stream, session))
        time.sleep(think_s)
        v.append(once(proxy, p, stream, session))
        time.sleep(think_s)
    return d, v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--sizes", default="2000,200000", help="request body sizes in bytes")
    ap.add_argument("--gap-ms", type=float, default=5.0)
    ap.add_argument("--think-ms", type=float, default=20.0,
                    help="pause after each call, as a model's own reply time would (0: calls "
                    "back to back, the recorder then competes with the next call)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--stack", default="auto",
                    help="uvicorn http/loop for the proxy: auto (httptools/uvloop when "
                    "installed) or e.g. h11/asyncio")
    ap.add_argument("--no-record", action="store_true",
                    help="switch recording off (forwarding alone), to see what it costs")
    args = ap.parse_args()
    up, px = free_port(), free_port()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=run_upstream, args=(up, args.gap_ms / 1000), daemon=True),
             ctx.Process(target=run_proxy, args=(px, up, not args.no_record, args.stack),
                        daemon=True)]
    for p in procs:
        p.start()
    wait_port(up), wait_port(px)
    rows = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            for stream in (False, True):
                d, v = measure(up, px, args.n, size, stream, f"{size}-{stream}",
                               args.think_ms / 1000)
                p50d, p50v = statistics.median(d) * 1e3, statistics.median(v) * 1e3
                p90d = statistics.quantiles(d, n=10)[-1] * 1e3
                p90v = statistics.quantiles(v, n=10)[-1] * 1e3
                rows.append({"what": "SSE first byte" if stream else "JSON reply",
                             "body_bytes": len(body(size, stream, 0)), "n": args.n,
                             "direct_p50_ms": p50d, "proxy_p50_ms": p50v,
                             "added_p50_ms": p50v - p50d, "ratio_p50": p50v / p50d,
                             "direct_p90_ms": p90d, "proxy_p90_ms": p90v})
    finally:
        for p in procs:
            p.terminate()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'measure':16} {'body':>9} {'direct p50':>11} {'proxy p50':>10} {'added p50':>10} "
          f"{'ratio':>6} {'direct p90':>11} {'proxy p90':>10}")
    for r in rows:
        print(f"{r['what']:16} {r['body_bytes']:>9,} {r['direct_p50_ms']:>9.3f}ms "
              f"{r['proxy_p50_ms']:>8.3f}ms {r['added_p50_ms']:>8.3f}ms {r['ratio_p50']:>5.2f}x "
              f"{r['direct_p90_ms']:>9.3f}ms {r['proxy_p90_ms']:>8.3f}ms")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    record = "off" if args.no_record else "on"
    print(f"machine: {os.cpu_count()} cores, load average {load} (1/5/15 min); proxy stack "
          f"{args.stack}, recording {record}, think {args.think_ms:g} ms")
    worst = max(r["added_p50_ms"] for r in rows)
    print(f"goal: added p50 <= 2 ms; worst {worst:.3f} ms -> {'met' if worst <= 2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
