"""Fixtures for the proxy's tests: the loopback fake upstream of tests/backends, a proxy in
front of it (on a free port, tracing into tmp_path), and the official SDK clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="ctxkit proxy needs: pip install 'ctxkit[proxy]'")
anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")

from ctxkit.proxy import Proxy, ProxyConfig  # noqa: E402
from tests.backends.fakeserver import FakeServer  # noqa: E402

# what the clients send as their key: it must never appear in anything the proxy writes
ANTHROPIC_KEY = "sk-ant-api03-" + "K3yThatMustNeverBeWritten" * 2
OPENAI_KEY = "sk-proj-" + "AnotherKeyThatMustNotLeak" * 2
# a cacheable system prompt (>= 1024 tokens)
SYSTEM = "You are a careful coding agent. Read before you write; run the tests. " * 120


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


@pytest.fixture
def make_proxy(fake: FakeServer, tmp_path: Path) -> Iterator[Callable[..., Proxy]]:
    started: list[Proxy] = []

    def make(**settings: Any) -> Proxy:
        settings.setdefault("upstream", fake.url)
        settings.setdefault("trace", tmp_path / "trace.jsonl")
        proxy = Proxy(ProxyConfig(port=0, **settings)).start()
        started.append(proxy)
        return proxy

    yield make
    for p in started:
        p.stop()


@pytest.fixture
def proxy(make_proxy: Callable[..., Proxy]) -> Proxy:
    return make_proxy()


def ant(proxy: Proxy, **kw: Any) -> Any:
    return anthropic.Anthropic(base_url=proxy.url, api_key=ANTHROPIC_KEY, max_retries=0, **kw)


def oai(proxy: Proxy, **kw: Any) -> Any:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key=OPENAI_KEY, max_retries=0, **kw)


def system_block(text: str = SYSTEM) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def get(proxy: Proxy, path: str) -> Any:
    """GET one of the proxy's own pages (they wait for the recorder to catch up)."""
    import httpx2

    return httpx2.get(proxy.url + path, timeout=60)
