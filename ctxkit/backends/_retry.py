"""Faults: which provider failures are worth retrying, and how long to wait before the next try.

Owns ``RetryPolicy`` (exponential backoff with jitter, ``retry-after`` honoured, never a
400) and ``to_backend_error``, which turns any SDK or transport exception into a
``ProviderError`` (a ``BackendError`` with ``status``, ``body``, ``retryable`` and
``retry_after``). Both SDKs are read by duck typing, so this module imports neither; it
knows nothing of wire formats. SDK clients are built with ``max_retries=0``: the policy is
ctxkit's, so it is the same for every provider and testable with an injected ``sleep``.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import BackendError, UserError

# Retried: rate limits, overload, server faults, timeouts and lock conflicts (as the
# providers document). Everything else, 400 first of all, is the request's fault.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_RETRYABLE_TYPES = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500,
                    "server_error": 500, "rate_limit_exceeded": 429, "timeout_error": 504}


class ProviderError(BackendError):
    """A provider call failed. ``retry_after`` is the wait the provider asked for, if any;
    ``attempts`` is how many tries were made before giving up."""

    def __init__(self, message: str, *, status: int | None = None, body: object = None,
                 retryable: bool = False, retry_after: float | None = None,
                 attempts: int = 1) -> None:
        super().__init__(message, status=status, body=body, retryable=retryable)
        self.retry_after = retry_after
        self.attempts = attempts


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None
                      ) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _error_type(body: object) -> str | None:
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            t = err.get("type") or err.get("code")
            return str(t) if t else None
    return None


def to_backend_error(exc: BaseException, *, provider: str) -> ProviderError:
    """Classify ``exc`` (an SDK, httpx or ctxkit exception) as a ProviderError."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, BackendError):
        return ProviderError(str(exc), status=exc.status, body=exc.body,
                             retryable=exc.retryable)
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    etype = _error_type(body)
    if status == 200 or status is None and etype in _RETRYABLE_TYPES:
        # an error event inside a 200 stream: the body says what happened
        status = _RETRYABLE_TYPES.get(etype or "", status)
    if isinstance(status, int):
        retryable = status in RETRYABLE_STATUS or etype == "overloaded_error"
        detail = _message(body) or str(exc)
        hint = ("; retrying may succeed" if retryable else
                "; fix the request (this is not retried)" if 400 <= status < 500 else "")
        return ProviderError(f"{provider} answered {status} ({etype or name}): {detail}{hint}",
                             status=status, body=body, retryable=retryable,
                             retry_after=parse_retry_after(headers))
    if _is_transport(exc):
        kind = "timed out" if "Timeout" in name or "timeout" in str(exc).lower() else \
            "lost the connection"
        return ProviderError(f"{provider} {kind} ({name}: {exc}); check the network or raise "
                             "the backend's timeout", status=None, body=None, retryable=True)
    return ProviderError(f"{provider} call failed: {name}: {exc}", status=None, body=body,
                         retryable=False)


def _message(body: object) -> str | None:
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])
    return None


def _is_transport(exc: BaseException) -> bool:
    """Connection resets, timeouts and truncated bodies, from the SDKs or httpx itself."""
    for t in type(exc).__mro__:
        if t.__name__ in ("APIConnectionError", "APITimeoutError", "TransportError",
                          "TimeoutException", "NetworkError", "RemoteProtocolError"):
            return True
    return isinstance(exc, (ConnectionError, TimeoutError))


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How ctxkit retries a failed provider call.

    Attributes:
        max_attempts: tries in all, the first included (1 disables retries).
        base_delay: backoff before the second try, in seconds; doubles per try.
        max_delay: ceiling of one backoff.
        jitter: fraction of each backoff that is random (0: none, 1: full jitter), so
            clients that failed together do not retry together.
        max_retry_after: the longest ``retry-after`` honoured; a provider asking for more
            fails the call now instead of blocking it.
        sleep, asleep: how to wait (injectable, so tests need not).
        rng: randomness for the jitter (seed it for reproducible delays).
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UserError("RetryPolicy.max_attempts must be >= 1 (1 means no retries)")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise UserError("RetryPolicy delays must be >= 0 seconds")
        if not 0 <= self.jitter <= 1:
            raise UserError("RetryPolicy.jitter is a fraction between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """The wait after failed try number ``attempt`` (0 first), without retry-after."""
        full = min(float(self.max_delay), self.base_delay * 2.0 ** attempt)
        return float(full * (1 - self.jitter * self.rng.random()))

    def delay(self, attempt: int, err: ProviderError) -> float | None:
        """Seconds to wait before the next try, or None to give up with ``err``."""
        if not err.retryable or attempt + 1 >= self.max_attempts:
            return None
        if err.retry_after is not None:
            if err.retry_after > self.max_retry_after:
                return None
            return err.retry_after
        return self.backoff(attempt)


def give_up(err: ProviderError, attempts: int) -> ProviderError:
    """``err`` annotated with how many tries were made."""
    err.attempts = attempts
    if attempts > 1:
        err.args = (f"{err.args[0] if err.args else 'failed'} (gave up after {attempts} tries)",)
    return err
