"""RemoteBackend: what every HTTP provider backend shares — retries, token budgets, streams.

Owns the one retry loop (sync and async forms share ``_fail``, which decides), the token
budget of the key, and driving a provider stream into text deltas and one final Response
(an interrupted stream raises, naming how much arrived; it is never silently truncated).
Subclasses say how to render a Draft into SDK keyword arguments, how to call the SDK, and
how to read its answer; this module knows no wire format and imports no SDK.

Retries happen inside one ``complete``: the pipeline sees one call and records it once,
whether it succeeded on the third try or failed on the fifth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._backend import Backend
from .._draft import Draft
from .._errors import UserError, require
from .._profile import Profile, profile_for
from .._types import Response
from ._ratelimit import TokenBudget, budget_for, key_id
from ._retry import ProviderError, RetryPolicy, give_up, to_backend_error


@dataclass(slots=True)
class Call:
    """One rendered request: the SDK keyword arguments and the tokens it is expected to use."""

    kwargs: dict[str, Any]
    estimate: int
    meta: dict[str, Any] = field(default_factory=dict)


class Accumulator(Protocol):
    """Builds a provider's streamed events back into its whole answer."""

    def feed(self, event: dict[str, Any]) -> str | None: ...

    def finish(self) -> dict[str, Any]: ...

    def describe(self) -> str: ...


def resolve_profile(model: str, profile: str | Profile | None, *,
                    fallback: str | None = None) -> Profile:
    """The profile for ``model``: the one given (by name or value, renamed to ``model``),
    else the model's own, else ``fallback``'s (for self-hosted models without one)."""
    if isinstance(profile, Profile):
        return profile
    if profile is not None:
        return profile_for(profile).replace(name=model)
    try:
        return profile_for(model)
    except UserError:
        if fallback is None:
            raise
        return profile_for(fallback).replace(name=model)


def as_dict(obj: Any) -> dict[str, Any]:
    """An SDK model (or a dict) as a plain dict in the provider's JSON shape."""
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    return dict(obj.model_dump(by_alias=True))


class RemoteBackend(Backend):
    """Base of the HTTP backends. Subclasses implement the ``_``-hooks below."""

    __abstract_backend__ = True
    provider = "remote"
    # which prompt tokens the provider counts against a key's rate limit
    cached_counts_against_limit = True

    # the SDK behind a subclass: module (and extra) name, sync and async client classes
    sdk_module = ""
    sdk_clients = ("", "")
    _model: str
    _sync: Any
    _async: Any
    api_key: str | None
    base_url: str | None
    timeout: float | None

    @property
    def model(self) -> str:
        return self._model

    # -- clients (built lazily, SDK retries off: the retry policy is ctxkit's) ------------

    def _client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"max_retries": 0, "timeout": self.timeout}
        if self.api_key:
            kw["api_key"] = self.api_key
        if self.base_url:
            kw["base_url"] = self.base_url
        return kw

    def _client(self) -> Any:
        if self._sync is None:
            sdk: Any = require(self.sdk_module, self.sdk_module)
            self._sync = getattr(sdk, self.sdk_clients[0])(**self._client_kwargs())
        return self._sync

    def _aclient(self) -> Any:
        if self._async is None:
            sdk: Any = require(self.sdk_module, self.sdk_module)
            self._async = getattr(sdk, self.sdk_clients[1])(**self._client_kwargs())
        return self._async

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
        self._sync = None
        self._async = None  # an async client is closed by aclose(), inside its loop

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.close()
        self._async = None
        self.close()

    def _init_remote(self, *, retry: RetryPolicy | None, tokens_per_minute: int | TokenBudget
                     | None, api_key: str | None, base_url: str | None) -> None:
        self.retry = retry or RetryPolicy()
        if isinstance(tokens_per_minute, TokenBudget) or tokens_per_minute is None:
            self.budget = tokens_per_minute
        else:
            self.budget = budget_for(key_id(self.provider, base_url, api_key),
                                     int(tokens_per_minute))
        self.num_requests = 0  # HTTP requests sent, retries included
        self.last_errors: list[ProviderError] = []  # failed tries of the latest call

    # -- hooks ---------------------------------------------------------------------------

    def _render_call(self, draft: Draft, *, stream: bool) -> Call:
        raise NotImplementedError

    def _send(self, call: Call) -> Any:
        raise NotImplementedError

    async def _asend(self, call: Call) -> Any:
        raise NotImplementedError

    def _open_stream(self, call: Call) -> Any:
        """A context manager iterating the provider's stream events."""
        raise NotImplementedError

    async def _aopen_stream(self, call: Call) -> Any:
        raise NotImplementedError

    def _accumulator(self) -> Accumulator:
        raise NotImplementedError

    def _parse(self, raw: dict[str, Any]) -> Response:
        raise NotImplementedError

    # -- shared decisions ----------------------------------------------------------------

    def _take(self, tokens: int) -> None:
        if self.budget is not None and tokens:
            self.budget.acquire(tokens)

    async def _atake(self, tokens: int) -> None:
        if self.budget is not None and tokens:
            await self.budget.aacquire(tokens)

    def _settle(self, call: Call, response: Response | None) -> None:
        if self.budget is None or not call.estimate:
            return
        actual = 0
        if response is not None:
            u = response.usage
            if u is None:
                actual = call.estimate
            else:
                actual = u.input_tokens - (0 if self.cached_counts_against_limit
                                           else u.cache_read_tokens)
        self.budget.settle(call.estimate, actual)

    def _fail(self, exc: BaseException, call: Call, attempt: int) -> float:
        """Record a failed try; return the wait before the next one, or raise to give up."""
        err = to_backend_error(exc, provider=self.provider)
        self._settle(call, None)  # a refused request spent none of the key's budget
        self.last_errors.append(err)
        if err.retry_after and self.budget is not None:
            self.budget.pause(err.retry_after)
        delay = self.retry.delay(attempt, err)
        if delay is None:
            raise give_up(err, attempt + 1) from exc
        return delay

    def _finish(self, call: Call, raw: dict[str, Any]) -> Response:
        try:
            response = self._parse(raw)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # pydantic's too
            if self.budget is not None and call.estimate:
                self.budget.settle(call.estimate, call.estimate)  # spent, as far as we know
            raise ProviderError(
                f"{self.provider} answered 200 with a body not in the shape of its API "
                f"({_reason(exc)}); is base_url a server that speaks the {self.provider} "
                "API? The body is on this error's .body", status=200, body=raw) from exc
        self._settle(call, response)
        return response

    # -- the Backend contract ------------------------------------------------------------

    def complete(self, draft: Draft) -> Response:
        call = self._render_call(draft, stream=False)
        return self._finish(call, self._with_retries(call, lambda: self._send(call)))

    async def acomplete(self, draft: Draft) -> Response:
        call = self._render_call(draft, stream=False)
        self.last_errors = []
        attempt = 0
        while True:
            await self._atake(call.estimate)
            self.num_requests += 1
            try:
                raw = await self._asend(call)
                break
            except Exception as exc:
                await self.retry.asleep(self._fail(exc, call, attempt))
                attempt += 1
        return self._finish(call, raw)

    def _with_retries(self, call: Call, fn: Callable[[], Any]) -> Any:
        self.last_errors = []
        attempt = 0
        while True:
            self._take(call.estimate)
            self.num_requests += 1
            try:
                return fn()
            except Exception as exc:
                self.retry.sleep(self._fail(exc, call, attempt))
                attempt += 1

    def stream(self, draft: Draft) -> Iterator[Any]:
        """Yield text deltas as they arrive, then the final Response.

        A failure before the first delta is retried like ``complete``; after it, the
        stream raises a ProviderError saying how much had arrived (the caller decides).
        """
        call = self._render_call(draft, stream=True)
        self.last_errors = []
        attempt = 0
        while True:
            acc = self._accumulator()
            sent = 0
            self._take(call.estimate)
            self.num_requests += 1
            try:
                with self._open_stream(call) as events:
                    for event in events:
                        delta = acc.feed(as_dict(event))
                        if delta:
                            sent += len(delta)
                            yield delta
                raw = acc.finish()
            except Exception as exc:
                if sent:
                    raise self._interrupted(exc, call, acc, sent) from exc
                self.retry.sleep(self._fail(exc, call, attempt))
                attempt += 1
                continue
            yield self._finish(call, raw)
            return

    async def astream(self, draft: Draft) -> AsyncIterator[Any]:
        call = self._render_call(draft, stream=True)
        self.last_errors = []
        attempt = 0
        while True:
            acc = self._accumulator()
            sent = 0
            await self._atake(call.estimate)
            self.num_requests += 1
            try:
                async with await self._aopen_stream(call) as events:
                    async for event in events:
                        delta = acc.feed(as_dict(event))
                        if delta:
                            sent += len(delta)
                            yield delta
                raw = acc.finish()
            except Exception as exc:
                if sent:
                    raise self._interrupted(exc, call, acc, sent) from exc
                await self.retry.asleep(self._fail(exc, call, attempt))
                attempt += 1
                continue
            yield self._finish(call, raw)
            return

    def _interrupted(self, exc: BaseException, call: Call, acc: Accumulator, sent: int
                     ) -> ProviderError:
        # no refund: the provider read the whole prompt before it started answering
        err = to_backend_error(exc, provider=self.provider)
        return ProviderError(
            f"{self.provider} stream interrupted after {sent} characters of text "
            f"({acc.describe()}): {err}; the reply is incomplete — call again to retry",
            status=err.status, body=err.body, retryable=True)


def _reason(exc: Exception) -> str:
    """What is wrong, in one line: a pydantic error's first field and message."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the reply"
        return f"{where}: {first.get('msg')}"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
