"""ProxyConfig: where the proxy listens, where it forwards, and its limits.

Owns validation of the settings and the resolution of ``--upstream`` (``anthropic``,
``openai`` or a URL) to a base URL. Knows nothing of HTTP serving or records.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .._errors import UserError
from .._profile import profile_for

UPSTREAMS = {"anthropic": "https://api.anthropic.com", "openai": "https://api.openai.com"}
MiB = 1024 * 1024


@dataclass(slots=True, kw_only=True)
class ProxyConfig:
    """Settings of one ``ctxkit proxy``.

    Attributes:
        upstream: ``anthropic``, ``openai`` or a base URL (``http://host:8000``; a trailing
            ``/v1`` is dropped, because clients send paths that start with ``/v1``).
        host: the interface to bind; anything but loopback prints a warning.
        port: the port (0: any free port).
        trace: JSONL file the CallRecords are appended to (None: kept in memory only).
        place_breakpoints: add Anthropic ``cache_control`` breakpoints to requests that
            carry none (the only change the proxy ever makes to a request).
        profile: the model profile for predictions and cost (None: by each call's model).
        max_body_bytes: larger requests are refused with 413 before reaching upstream.
        connect_timeout_s: to open a connection to upstream (502/504 past it).
        read_timeout_s: longest silence from upstream, between bytes of a reply (504).
        body_timeout_s: longest time a client may take to send its request body (408).
        max_records: records kept in memory for the live pages (the trace keeps all).
        max_record_bytes: bytes of one reply kept for its record: past it, the first and
            last halves (the usage is in a stream's first and last events); the client
            still gets every byte. Bounds the proxy's memory under a stream that never ends.
    """

    upstream: str = "anthropic"
    host: str = "127.0.0.1"
    port: int = 8788
    trace: str | os.PathLike[str] | None = None
    place_breakpoints: bool = False
    profile: str | None = None
    max_body_bytes: int = 32 * MiB
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 600.0
    body_timeout_s: float = 60.0
    max_records: int = 5000
    max_record_bytes: int = 64 * MiB

    def __post_init__(self) -> None:
        if not self.max_body_bytes > 0:
            raise UserError("max_body_bytes must be > 0 (bytes)")
        if self.max_record_bytes <= 0:
            raise UserError("max_record_bytes must be > 0 (bytes)")
        for name in ("connect_timeout_s", "read_timeout_s", "body_timeout_s"):
            if not getattr(self, name) > 0:  # NaN too: it compares false with everything
                raise UserError(f"{name} must be > 0 (seconds; inf for no limit)")
        if not 0 <= self.port <= 65535:
            raise UserError(f"port {self.port} is not a TCP port (0-65535)")
        _ = self.upstream_url  # validate now, not at the first request
        if self.profile is not None:
            profile_for(self.profile)  # a typo is refused here, not in every call's record
        if self.trace is not None:
            path = Path(self.trace)
            try:  # opened now, so a path that cannot take records fails before any call
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8"):
                    pass
            except OSError as exc:
                raise UserError(f"cannot write the trace {path} ({exc.strerror}); pass "
                                "another path") from None

    @property
    def upstream_url(self) -> str:
        """The base URL requests are forwarded to (no trailing slash, no ``/v1``)."""
        url = UPSTREAMS.get(self.upstream, self.upstream)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(f"--upstream {self.upstream!r}: use anthropic, openai or a URL "
                            "such as http://127.0.0.1:8000")
        url = url.rstrip("/")
        return url[:-3] if url.endswith("/v1") else url

    @property
    def is_loopback(self) -> bool:
        """Whether ``host`` only accepts connections from this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def flavor(self) -> str:
        """``anthropic``/``openai`` for the named upstreams, ``url`` for another server."""
        return self.upstream if self.upstream in UPSTREAMS else "url"
