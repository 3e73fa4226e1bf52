"""``ctxkit proxy``: ctxkit's records, drift diagnosis and live reports for agents not
written on ctxkit, by pointing their base URL at a local HTTP proxy.

    ctxkit proxy --upstream anthropic --trace proxy.jsonl
    ANTHROPIC_BASE_URL=http://127.0.0.1:8788 claude

It speaks the Anthropic Messages API (``/v1/messages`` and ``/v1/messages/count_tokens``)
and the OpenAI Chat Completions and Responses APIs (``/v1/chat/completions``,
``/v1/responses``); any other path is forwarded unrecorded. Requests go upstream byte for
byte (``--place-breakpoints`` is the one opt-in change), replies and streams come back
unbuffered with their status and headers; keys pass through and are never written. Every
model call leaves a CallRecord: the predicted cache split, the usage upstream reported,
drift against the session's previous call, cost. ``GET /ctxkit/`` is the live report,
``/ctxkit/records`` the records as JSON, ``/metrics`` Prometheus text.

In code (tests, notebooks)::

    from ctxkit.proxy import Proxy, ProxyConfig

    with Proxy(ProxyConfig(upstream="openai", port=0)) as proxy:
        client = openai.OpenAI(base_url=proxy.url + "/v1")
        ...
        proxy.records()

Layout: ``_forward`` is the ASGI app (the hot path), ``_recorder`` analyses calls on its
own thread through ``_wire`` (formats), ``_sessions`` (sessions, drift) and ``_records``
(prediction, cost, redaction); ``_breakpoints`` is the opt-in fix, ``_pages`` the live
pages, ``_server`` runs it all. Needs the ``proxy`` extra (``pip install 'ctxkit[proxy]'``).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._config import ProxyConfig

__all__ = ["Proxy", "ProxyConfig", "serve"]


def __getattr__(name: str) -> Any:
    # the server pulls in httpx and uvicorn: load it when used, so `ctxkit --help` stays fast
    if name in ("Proxy", "serve"):
        return getattr(importlib.import_module("._server", __name__), name)
    raise AttributeError(f"module 'ctxkit.proxy' has no attribute {name!r}")
