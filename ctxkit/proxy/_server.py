"""Running the proxy: in the foreground for the command line, or on a background thread
(``Proxy``) for tests, benchmarks and programs that embed it.

Owns the uvicorn server's settings (no access log: request lines would carry nothing the
records lack, and headers stay out of every log), the warning printed when the proxy
listens beyond loopback, and the lifecycle of the recorder.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from .._errors import UserError, require
from .._record import CallRecord
from ._config import ProxyConfig
from ._forward import ProxyApp
from ._recorder import Recorder

log = logging.getLogger("ctxkit.proxy")

WIDE_WARNING = ("WARNING: ctxkit proxy listens on {host}, reachable from other machines. "
                "Anyone who can reach it can spend the API keys sent through it and read its "
                "live pages (/ctxkit/, /metrics). Bind 127.0.0.1 unless you mean this.")


def _uvicorn_config(app: ProxyApp, config: ProxyConfig) -> Any:
    uvicorn: Any = require("uvicorn", "proxy")
    return uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                          access_log=False, lifespan="on", timeout_keep_alive=75,
                          server_header=False, date_header=False)


class Proxy:
    """A proxy on a background thread; a context manager.

        with Proxy(ProxyConfig(upstream="http://127.0.0.1:9000", port=0)) as proxy:
            client = OpenAI(base_url=proxy.url + "/v1", api_key=...)
            ...
            proxy.records()   # the CallRecords so far
    """

    def __init__(self, config: ProxyConfig | None = None, **settings: Any) -> None:
        self.config = config if config is not None else ProxyConfig(**settings)
        self.recorder = Recorder(self.config)
        self.app = ProxyApp(self.config, self.recorder)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = self.config.port

    @property
    def url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 20.0) -> Proxy:
        uvicorn: Any = require("uvicorn", "proxy")
        if not self.config.is_loopback:
            log.warning(WIDE_WARNING.format(host=self.config.host))
        self._server = uvicorn.Server(_uvicorn_config(self.app, self.config))
        self._thread = threading.Thread(target=self._server.run, name="ctxkit-proxy",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise UserError(f"ctxkit proxy did not start on {self.config.host}:"
                                f"{self.config.port}; is the port taken?")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def records(self, timeout: float = 10.0) -> list[CallRecord]:
        """The records of every call so far (waits for the recorder to catch up)."""
        self.recorder.wait_idle(timeout)
        return self.recorder.snapshot()[0]

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.recorder.wait_idle(5)
        self.recorder.close()

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(config: ProxyConfig) -> int:
    """Run the proxy in the foreground until interrupted (the command line's path)."""
    uvicorn: Any = require("uvicorn", "proxy")
    # the recorder's thread must hand the GIL back to the event loop quickly: a reply's
    # bytes waiting 5 ms (the default switch interval) would be most of the added latency
    sys.setswitchinterval(0.0005)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s ctxkit proxy: %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    if not config.is_loopback:
        log.warning(WIDE_WARNING.format(host=config.host))
    recorder = Recorder(config)
    app = ProxyApp(config, recorder)
    where = f"http://{config.host}:{config.port}"
    log.info("forwarding %s -> %s%s; live report %s/ctxkit/, metrics %s/metrics%s", where,
             config.upstream_url, " (placing cache breakpoints)" if config.place_breakpoints
             else "", where, where, f"; trace {config.trace}" if config.trace else "")
    try:
        uvicorn.Server(_uvicorn_config(app, config)).run()
    finally:
        recorder.wait_idle(5)
        recorder.close()
    return 0
