"""Token budgets: rate limits by tokens per minute per key, not by requests."""

from __future__ import annotations

import pytest

from ctxkit import UserError
from ctxkit.backends import Anthropic, OpenAI, RetryPolicy, TokenBudget
from ctxkit.backends._ratelimit import budget_for, key_id

from .conftest import FakeClock, agent
from .fakeserver import FakeServer, Fault


def budget(clock: FakeClock, tpm: int) -> TokenBudget:
    return TokenBudget(tpm, clock=clock, sleep=clock.sleep, asleep=clock.asleep)


def test_waits_for_tokens_not_requests(clock: FakeClock) -> None:
    b = budget(clock, 6000)  # 100 tokens a second
    for _ in range(50):  # fifty small requests fit in the bucket: no wait
        b.acquire(100)
    assert clock.sleeps == []
    assert b.acquire(1500) == pytest.approx(5.0)  # 1,000 short at 100/s
    assert b.waited_s == pytest.approx(5.0)


def test_settle_refunds_what_the_provider_did_not_count(clock: FakeClock) -> None:
    b = budget(clock, 6000)
    b.acquire(6000)
    b.settle(6000, 1000)
    assert b.available == pytest.approx(5000)
    b.settle(0, 7000)  # under-estimates are charged too
    assert b.available == pytest.approx(-2000)


def test_pause_holds_every_caller(clock: FakeClock) -> None:
    b = budget(clock, 6000)
    b.pause(5)
    assert b.acquire(1) == pytest.approx(5.0)


def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket(clock: FakeClock) -> None:
    b = budget(clock, 600)
    b.acquire(300)
    assert b.acquire(5000) == pytest.approx(30.0)  # refill to full (600), then go into debt
    assert b.available < 0


def test_budgets_are_shared_per_key() -> None:
    k1 = key_id("anthropic", None, "secret-1")
    assert "secret-1" not in k1
    assert budget_for(k1, 1000) is budget_for(k1, 1000)
    assert budget_for(k1, 1000) is not budget_for(key_id("anthropic", None, "secret-2"), 1000)
    a = Anthropic("claude-sonnet-4-6", api_key="shared-key", tokens_per_minute=50_000)
    b = Anthropic("claude-haiku-4-5", api_key="shared-key", tokens_per_minute=50_000)
    assert a.budget is b.budget is not None
    with pytest.raises(UserError, match="tokens_per_minute"):
        TokenBudget(0)


def test_backend_spends_prompt_tokens_and_waits(server: FakeServer, clock: FakeClock) -> None:
    tpm = budget(clock, 3000)  # 50 tokens a second; one prompt here is ~2,500 tokens
    b = Anthropic("claude-sonnet-4-6", base_url=server.url, api_key="k", tokens_per_minute=tpm,
                  retry=RetryPolicy(sleep=clock.sleep))
    pipe = agent(b)
    pipe.run("one")
    assert clock.sleeps == []
    u = pipe.records[0].reported
    assert u is not None
    # settled to what Anthropic counts against the limit: cache reads do not count
    left = 3000 - (u.input_tokens - u.cache_read_tokens)
    assert tpm.available == pytest.approx(left)
    draft = pipe.assemble("two")
    assert draft.num_tokens > 3000  # the estimate exceeds the bucket: wait until it is full
    pipe.run("two")
    assert clock.sleeps == [pytest.approx((3000 - left) / 50)]
    u2 = pipe.records[1].reported
    assert u2 is not None and u2.cache_read_tokens > 2000
    assert tpm.available == pytest.approx(3000 - (u2.input_tokens - u2.cache_read_tokens))


def test_429_pauses_the_key_for_other_callers(server: FakeServer, clock: FakeClock) -> None:
    tpm = budget(clock, 1_000_000)
    server.inject(Fault("status", status=429, retry_after=4))
    b = OpenAI("gpt-5", base_url=server.openai_url, api_key="k", tokens_per_minute=tpm,
               retry=RetryPolicy(sleep=lambda s: None))  # the retry loop does not advance time
    agent(b).run("x")
    # the retry itself did not move the clock, so the key's pause made the next try wait
    assert clock.sleeps == [pytest.approx(4.0)]
