"""Faults: retries with backoff and retry-after, never a 400, interrupted streams reported,
and every failed or retried call recorded exactly once."""

from __future__ import annotations

import random

import pytest

from ctxkit import BackendError
from ctxkit.backends import Anthropic, OpenAI, ProviderError, RetryPolicy
from ctxkit.backends._retry import parse_retry_after, to_backend_error

from .conftest import FakeClock, agent
from .fakeserver import FakeServer, Fault

GEN_PATHS = ("/v1/messages", "/v1/chat/completions", "/v1/responses")


def make(provider: str, server: FakeServer, retry: RetryPolicy, **kw):  # type: ignore[no-untyped-def]
    if provider == "anthropic":
        return Anthropic("claude-sonnet-4-6", base_url=server.url, api_key="k", retry=retry,
                         **kw)
    return OpenAI("gpt-5", api=provider, base_url=server.openai_url, api_key="k",
                  retry=retry, **kw)


def sent(server: FakeServer) -> int:
    return sum(r.path in GEN_PATHS for r in server.requests)


PROVIDERS = ["anthropic", "chat", "responses"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_honours_retry_after_and_records_once(provider: str, server: FakeServer,
                                                  retry: RetryPolicy, clock: FakeClock) -> None:
    server.inject(Fault("status", status=429, retry_after=2))
    pipe = agent(make(provider, server, retry))
    assert pipe.run("hi").text == "ok"
    assert clock.sleeps == [2.0]
    assert sent(server) == 2
    assert len(pipe.records) == 1 and pipe.records[0].ok
    assert pipe.backend.last_errors[0].status == 429


@pytest.mark.parametrize("status", [529, 500, 503])
def test_overload_and_server_errors_back_off_with_jitter(status: int, server: FakeServer,
                                                         retry: RetryPolicy,
                                                         clock: FakeClock) -> None:
    server.inject(Fault("status", status=status), Fault("status", status=status))
    pipe = agent(make("anthropic", server, retry))
    assert pipe.run("hi").text == "ok"
    assert len(clock.sleeps) == 2
    # base 0.5s doubling, up to half of each wait random
    assert 0.25 <= clock.sleeps[0] <= 0.5 and 0.5 <= clock.sleeps[1] <= 1.0
    assert len(pipe.records) == 1 and pipe.records[0].ok


@pytest.mark.parametrize("provider", PROVIDERS)
def test_400_is_never_retried_and_is_recorded_as_failed(provider: str, server: FakeServer,
                                                        retry: RetryPolicy,
                                                        clock: FakeClock) -> None:
    server.inject(Fault("status", status=400))
    pipe = agent(make(provider, server, retry))
    with pytest.raises(BackendError) as info:
        pipe.run("hi")
    assert info.value.status == 400 and info.value.retryable is False
    assert "not retried" in str(info.value)
    assert sent(server) == 1 and clock.sleeps == []
    assert len(pipe.records) == 1 and not pipe.records[0].ok
    assert "400" in (pipe.records[0].error or "")
    assert pipe.records[0].cost_usd == 0.0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connection_reset_and_cut_body_are_retried(provider: str, server: FakeServer,
                                                   retry: RetryPolicy) -> None:
    server.inject(Fault("reset"), Fault("cut"))
    pipe = agent(make(provider, server, retry))
    assert pipe.run("hi").text == "ok"
    assert sent(server) == 3
    assert [e.status for e in pipe.backend.last_errors] == [None, None]
    assert len(pipe.records) == 1


def test_giving_up_is_recorded_once(server: FakeServer, retry: RetryPolicy,
                                    clock: FakeClock) -> None:
    server.inject(*[Fault("status", status=529)] * 5)
    pipe = agent(make("anthropic", server, retry))
    with pytest.raises(ProviderError) as info:
        pipe.run("hi")
    assert info.value.attempts == 5 and "gave up after 5 tries" in str(info.value)
    assert info.value.status == 529 and info.value.retryable
    assert sent(server) == 5 and len(clock.sleeps) == 4
    assert len(pipe.records) == 1 and not pipe.records[0].ok


def test_a_retry_after_longer_than_allowed_fails_now(server: FakeServer,
                                                     clock: FakeClock) -> None:
    policy = RetryPolicy(sleep=clock.sleep, max_retry_after=10)
    server.inject(Fault("status", status=429, retry_after=3600))
    with pytest.raises(ProviderError) as info:
        agent(make("chat", server, policy)).run("hi")
    assert info.value.retry_after == 3600 and clock.sleeps == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_cut_after_text_is_reported_not_truncated(provider: str, server: FakeServer,
                                                         retry: RetryPolicy) -> None:
    server.reply("a long answer that will not arrive whole")
    server.inject(Fault("cut", after=4))
    b = make(provider, server, retry)
    got: list[str] = []
    with pytest.raises(ProviderError, match=r"interrupted after \d+ characters") as info:
        for item in b.stream(agent(b).assemble("go")):
            got.append(item)
    assert got and all(isinstance(x, str) for x in got)  # text, but never a final Response
    assert f"after {sum(map(len, got))} characters" in str(info.value)
    assert sent(server) == 1  # text had been handed out: retrying is the caller's call


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_failing_before_any_text_is_retried(provider: str, server: FakeServer,
                                                   retry: RetryPolicy) -> None:
    server.reply("first try lost").reply("second try")
    server.inject(Fault("cut", after=1))
    b = make(provider, server, retry)
    *deltas, final = list(b.stream(agent(b).assemble("go")))
    assert final.text == "".join(deltas) == "second try"
    assert sent(server) == 2


@pytest.mark.parametrize(("provider", "status"), [("anthropic", 529), ("chat", 500),
                                                  ("responses", 500)])
def test_error_event_inside_a_stream(provider: str, status: int, server: FakeServer,
                                     retry: RetryPolicy) -> None:
    server.reply("partial text here").inject(Fault("error_event", after=3))
    b = make(provider, server, retry)
    with pytest.raises(ProviderError, match="interrupted") as info:
        list(b.stream(agent(b).assemble("go")))
    assert info.value.status == status  # overloaded / server error, read from the event
    server.reply("x").reply("after the error").inject(Fault("error_event", after=1))
    assert list(b.stream(agent(b).assemble("go")))[-1].text == "after the error"


def test_a_stalled_stream_times_out(server: FakeServer, retry: RetryPolicy) -> None:
    server.reply("slow answer, slower than the timeout").inject(
        Fault("stall", after=3, delay=1.0))
    b = make("anthropic", server, retry, timeout=0.2)
    with pytest.raises(ProviderError, match="interrupted after") as info:
        list(b.stream(agent(b).assemble("go")))
    assert info.value.retryable and "timed out" in str(info.value)


def test_retry_policy_backoff_grows_and_is_capped() -> None:
    p = RetryPolicy(base_delay=1, max_delay=8, jitter=0.0)
    assert [p.backoff(a) for a in range(6)] == [1, 2, 4, 8, 8, 8]
    jittery = RetryPolicy(base_delay=1, max_delay=8, jitter=1.0, rng=random.Random(1))
    waits = {round(jittery.backoff(3), 6) for _ in range(20)}
    assert len(waits) > 10 and all(0 <= w <= 8 for w in waits)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"},
                             now=1445412480.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after(None) is None


def test_classification_without_a_status() -> None:
    class APIError(Exception):  # the shape of an SDK error raised inside a stream
        body = {"type": "server_error", "message": "boom"}

    err = to_backend_error(APIError("boom"), provider="openai")
    assert err.retryable and err.status == 500
    err = to_backend_error(ConnectionResetError("reset"), provider="x")
    assert err.retryable and err.status is None and "lost the connection" in str(err)
    err = to_backend_error(KeyError("bug"), provider="x")
    assert not err.retryable
