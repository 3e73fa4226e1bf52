"""Rate limits by tokens per minute per API key, not by requests.

Owns ``TokenBudget``: a token bucket that refills ``tokens_per_minute / 60`` tokens a
second. A call takes its estimated prompt tokens before it is sent, and settles the
difference once the provider reported what it actually counted; a 429 with ``retry-after``
pauses every caller of the key. ``budget_for`` shares one budget between all backends of
one key in a process. Knows nothing of providers or wire formats.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .._errors import UserError


class TokenBudget:
    """A token bucket of ``tokens_per_minute``, starting full.

    Args:
        tokens_per_minute: the key's input-token limit (the provider's ITPM/TPM).
        clock: monotonic seconds (injectable for tests).
        sleep: how to wait (injectable for tests).
        asleep: how to wait in async code (injectable for tests).

    A call larger than the whole bucket is let through when the bucket is full (and leaves
    it in debt) rather than blocking forever.
    """

    def __init__(self, tokens_per_minute: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 asleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if tokens_per_minute <= 0:
            raise UserError("tokens_per_minute must be > 0; pass None for no rate limit")
        self.capacity = float(tokens_per_minute)
        self.rate = tokens_per_minute / 60.0
        self.clock = clock
        self.sleep = sleep
        self.asleep = asleep
        self._level = self.capacity
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited_s = 0.0  # total time callers spent waiting (for reports and tests)

    def _refill(self, now: float) -> None:
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    @property
    def available(self) -> float:
        """Tokens that could be taken now without waiting."""
        with self._lock:
            self._refill(self.clock())
            return self._level

    def _try_take(self, tokens: int) -> float:
        """Take ``tokens`` and return 0, or take nothing and return the seconds to wait."""
        with self._lock:
            now = self.clock()
            if now < self._paused_until:
                return self._paused_until - now
            self._refill(now)
            need = min(float(tokens), self.capacity)
            if self._level >= need:
                self._level -= tokens
                return 0.0
            return (need - self._level) / self.rate

    def acquire(self, tokens: int) -> float:
        """Block until ``tokens`` may be sent, take them, and return the seconds waited."""
        waited = 0.0
        while (wait := self._try_take(tokens)) > 0:
            self.sleep(wait)
            waited += wait
        self.waited_s += waited
        return waited

    async def aacquire(self, tokens: int) -> float:
        """Async ``acquire``."""
        waited = 0.0
        while (wait := self._try_take(tokens)) > 0:
            await self.asleep(wait)
            waited += wait
        self.waited_s += waited
        return waited

    def settle(self, estimated: int, actual: int) -> None:
        """Correct a taken estimate by what the provider actually counted."""
        with self._lock:
            self._refill(self.clock())
            self._level = min(self.capacity, self._level + estimated - actual)

    def pause(self, seconds: float) -> None:
        """Hold every caller of this key for ``seconds`` (a 429's ``retry-after``)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)


_shared: dict[tuple[str, int], TokenBudget] = {}
_shared_lock = threading.Lock()


def key_id(provider: str, base_url: str | None, api_key: str | None) -> str:
    """An identifier of one API key at one endpoint that does not reveal the key."""
    digest = hashlib.sha256((api_key or "").encode()).hexdigest()[:12]
    return f"{provider}@{base_url or 'default'}#{digest}"


def budget_for(key: str, tokens_per_minute: int, **kwargs: Any) -> TokenBudget:
    """The process-wide budget of ``key`` at ``tokens_per_minute`` (created on first use)."""
    with _shared_lock:
        b = _shared.get((key, tokens_per_minute))
        if b is None:
            b = _shared[(key, tokens_per_minute)] = TokenBudget(tokens_per_minute, **kwargs)
        return b
