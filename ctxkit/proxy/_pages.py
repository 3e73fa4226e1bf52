"""The proxy's own pages: ``GET /ctxkit/`` (the live HTML report), ``/ctxkit/records``
(the records as JSON) and ``/metrics`` (Prometheus text).

Owns their rendering from the recorder's snapshot. Each page first waits (briefly) for the
recorder to catch up, so a client that has just received a reply sees its record; replies
still streaming are not waited for. The HTML
is ``ctxkit.report``'s page, reloading itself every few seconds. Knows nothing of
forwarding.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from ._recorder import Recorder

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
REFRESH_S = 5
WAIT_S = 5.0  # a page waits this long at most for ended replies still being recorded
PROM = b"text/plain; version=0.0.4; charset=utf-8"


class Pages:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def serve(self, path: str, scope: MutableMapping[str, Any], send: Send) -> None:
        await asyncio.to_thread(self.recorder.wait_recorded, WAIT_S)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if path in ("/ctxkit", "/ctxkit/"):
            body = await asyncio.to_thread(self.html, query.get("session", [None])[0])
            return await _send(send, 200, body.encode(), b"text/html; charset=utf-8")
        if path == "/ctxkit/records":
            return await _send(send, 200, self.records_json(query.get("session", [None])[0]),
                               b"application/json")
        if path == "/metrics":
            return await _send(send, 200, self.metrics().encode(), PROM)
        await _send(send, 404, json.dumps({"error": f"no page {path}; the proxy serves "
                                           "/ctxkit/, /ctxkit/records and /metrics"}).encode(),
                    b"application/json")

    def html(self, session: str | None) -> str:
        from ..report import Report

        records, _, _ = self.recorder.snapshot()
        if session:
            records = [r for r in records if r.session_id == session]
        if not records:
            return ("<!doctype html><meta charset=utf-8><meta http-equiv=refresh content="
                    f"{REFRESH_S}><title>ctxkit proxy</title><p>ctxkit proxy: no calls yet. "
                    "Point a client's base URL here; this page reloads itself.</p>")
        page = Report.from_records(records).to_html(title="ctxkit proxy: live sessions")
        return page.replace("<head>", f"<head><meta http-equiv=refresh content={REFRESH_S}>", 1)

    def records_json(self, session: str | None) -> bytes:
        records, _, num_sessions = self.recorder.snapshot()
        if session:
            records = [r for r in records if r.session_id == session]
        items = ",".join(r.model_dump_json() for r in records)
        return (f'{{"num_sessions":{num_sessions},"num_records":{len(records)},'
                f'"records":[{items}]}}').encode()

    def metrics(self) -> str:
        _, c, num_sessions = self.recorder.snapshot()
        lines = ["# HELP ctxkit_proxy_calls_total Model calls proxied, by API and status.",
                 "# TYPE ctxkit_proxy_calls_total counter"]
        for key, n in sorted(c.items()):
            if key.startswith("calls:"):
                _, api, status = key.split(":")
                lines.append(f'ctxkit_proxy_calls_total{{api="{api}",status="{status}"}} '
                             f"{int(n)}")
        lines += ["# HELP ctxkit_proxy_tokens_total Tokens of successful calls by cache state "
                  "(reported by upstream where it reports, else predicted).",
                  "# TYPE ctxkit_proxy_tokens_total counter"]
        for state in ("read", "write", "uncached", "output"):
            lines.append(f'ctxkit_proxy_tokens_total{{state="{state}"}} '
                         f"{int(c.get(f'tokens:{state}', 0))}")
        for name, key, kind, help_ in (
                ("cost_usd_total", "cost", "counter", "Cost in USD at the profiles' prices."),
                ("cache_killers_total", "killers", "counter",
                 "Calls that broke their session's cached prefix."),
                ("errors_total", "errors", "counter", "Calls that failed (status or transport)."),
                ("count_tokens_total", "count_tokens", "counter",
                 "Token-counting requests forwarded.")):
            value = c.get(key, 0)
            lines += [f"# HELP ctxkit_proxy_{name} {help_}", f"# TYPE ctxkit_proxy_{name} {kind}",
                      f"ctxkit_proxy_{name} {value:.6f}" if key == "cost"
                      else f"ctxkit_proxy_{name} {int(value)}"]
        lines += ["# HELP ctxkit_proxy_sessions Live sessions.", "# TYPE ctxkit_proxy_sessions "
                  "gauge", f"ctxkit_proxy_sessions {num_sessions}"]
        return "\n".join(lines) + "\n"


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
