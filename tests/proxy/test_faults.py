"""Failures through the proxy: upstream statuses and retry headers pass untouched, a client
that leaves mid-stream is recorded as such, and the proxy's own limits answer with a clear
4xx/5xx in the API's error shape."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import httpx2 as httpx
import pytest

from ctxkit.proxy import Proxy
from tests.backends.fakeserver import FakeServer, Fault
from tests.proxy.conftest import ANTHROPIC_KEY, ant, anthropic, get, oai, openai

ANTHROPIC_HEADERS = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
ASK = [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(("status", "error"), [
    (429, anthropic.RateLimitError), (529, anthropic.InternalServerError),
    (500, anthropic.InternalServerError)])
def test_anthropic_upstream_errors_pass_through_with_retry_headers(
        fake: FakeServer, proxy: Proxy, status: int, error: type[Exception]) -> None:
    fake.inject(Fault("status", status=status, retry_after=7))
    with pytest.raises(error) as info:
        ant(proxy).messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=ASK)
    resp = info.value.response  # type: ignore[attr-defined]
    assert resp.status_code == status and resp.headers["retry-after"] == "7"
    assert resp.json()["error"]["message"] == "injected fault"
    (record,) = proxy.records()
    assert not record.ok and record.extras["status"] == status
    assert record.error is not None and f"upstream answered {status}" in record.error
    metrics = get(proxy, "/metrics").text
    assert f'ctxkit_proxy_calls_total{{api="anthropic",status="{status}"}} 1' in metrics
    assert "ctxkit_proxy_errors_total 1" in metrics


def test_openai_rate_limit_passes_through(fake: FakeServer, proxy: Proxy) -> None:
    fake.inject(Fault("status", status=429, retry_after=3))
    with pytest.raises(openai.RateLimitError) as info:
        oai(proxy).chat.completions.create(model="gpt-4o", messages=ASK)
    assert info.value.response.headers["retry-after"] == "3"
    (record,) = proxy.records()
    assert not record.ok and record.extras["api"] == "openai-chat"


def test_client_leaving_mid_stream_is_recorded_and_the_proxy_goes_on(
        fake: FakeServer, proxy: Proxy) -> None:
    fake.reply(text="a long answer " * 20)
    fake.inject(Fault("stall", after=3, delay=3.0))  # the stream pauses after 3 events
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True, "messages": ASK}
    with httpx.stream("POST", proxy.url + "/v1/messages", json=body,
                      headers=ANTHROPIC_HEADERS) as r:
        first = next(r.iter_raw())
        assert first.startswith(b"event: message_start")
    # the client closed its connection here, while upstream was still stalling
    reply = ant(proxy).messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=ASK)
    assert reply.content[0].text == "ok"
    left, after = sorted(proxy.records(), key=lambda r: r.started_at)
    assert not left.ok and left.error == "client disconnected mid-reply"
    assert left.reported is not None  # message_start's usage arrived before the client left
    assert after.ok


def test_upstream_cut_mid_stream_ends_the_clients_stream_too(
        fake: FakeServer, proxy: Proxy) -> None:
    fake.inject(Fault("cut", after=2))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True, "messages": ASK}
    with httpx.stream("POST", proxy.url + "/v1/messages", json=body,
                      headers=ANTHROPIC_HEADERS) as r:
        got = b"".join(r.iter_raw())
    assert got.count(b"event: ") == 2
    (record,) = proxy.records()
    assert record.extras["reply_note"] == "the stream ended early"


def test_body_over_the_limit_is_refused_before_upstream(
        fake: FakeServer, make_proxy: Callable[..., Proxy]) -> None:
    proxy = make_proxy(max_body_bytes=1024 * 1024)
    with pytest.raises(anthropic.APIStatusError) as info:
        ant(proxy).messages.create(model="claude-sonnet-4-5", max_tokens=8,
                                   messages=[{"role": "user", "content": "x" * 2_000_000}])
    assert info.value.status_code == 413
    assert "over the proxy's limit of 1048576 bytes" in str(info.value)
    assert "--max-body-mb" in str(info.value)
    assert fake.requests == [] and proxy.records() == []


@pytest.fixture
def silent_upstream() -> Iterator[str]:
    """Accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def test_silent_upstream_times_out_with_504(silent_upstream: str,
                                            make_proxy: Callable[..., Proxy]) -> None:
    proxy = make_proxy(upstream=silent_upstream, read_timeout_s=0.5)
    with pytest.raises(openai.APIStatusError) as info:
        oai(proxy).chat.completions.create(model="gpt-4o", messages=ASK)
    assert info.value.status_code == 504
    assert "did not answer in time" in str(info.value)
    (record,) = proxy.records()
    assert not record.ok and "timed out" in (record.error or "")


def test_unreachable_upstream_is_a_502(make_proxy: Callable[..., Proxy]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    proxy = make_proxy(upstream=f"http://127.0.0.1:{port}")
    with pytest.raises(anthropic.APIStatusError) as info:
        ant(proxy).messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=ASK)
    assert info.value.status_code == 502
    assert "cannot reach upstream" in str(info.value)


def test_a_client_too_slow_to_send_its_body_gets_408(make_proxy: Callable[..., Proxy]) -> None:
    proxy = make_proxy(body_timeout_s=0.3)
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
                  b"\r\ncontent-length: 100\r\n\r\n{\"model\":")
        s.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 408")
    assert b"took over 0.3 s to arrive" in data


def test_pages_answer_while_a_reply_is_still_streaming(fake: FakeServer, proxy: Proxy) -> None:
    # the pages waited for every call begun to be recorded, streams still running too: with
    # any agent mid-reply, each /metrics scrape and page load waited out its 5 s. They now
    # wait only for replies that have ended (which they still show, see test_records)
    fake.reply(text="a long answer " * 20)
    fake.inject(Fault("stall", after=3, delay=4.0))  # the stream pauses after 3 events
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True, "messages": ASK}
    started = threading.Event()

    def stream() -> None:
        with httpx.stream("POST", proxy.url + "/v1/messages", json=body,
                          headers=ANTHROPIC_HEADERS, timeout=60) as r:
            for _ in r.iter_raw():
                started.set()

    th = threading.Thread(target=stream)
    th.start()
    assert started.wait(30)
    metrics = get(proxy, "/metrics")
    streaming = th.is_alive()  # the page came back before the stream ended
    th.join()
    assert metrics.status_code == 200 and "ctxkit_proxy_sessions" in metrics.text
    assert streaming
    (record,) = proxy.records()
    assert record.ok  # and the stream, once ended, is recorded as usual
