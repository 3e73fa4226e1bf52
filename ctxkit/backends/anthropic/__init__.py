"""The Anthropic backend: Claude through the official ``anthropic`` SDK.

Owns the client (built with ``max_retries=0``: retries are ctxkit's), token counting
through the count endpoint when a key is present, and the thinking blocks this backend
received (with their signatures) so a tool loop can send them back. Rendering, parsing and
streaming live in ``_render``, ``_parse`` and ``_stream``; retries and rate limits in
``.._remote``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..._draft import Draft
from ..._errors import UserError
from ..._profile import Profile
from .._ratelimit import TokenBudget
from .._remote import Call, RemoteBackend, as_dict, resolve_profile
from .._retry import RetryPolicy
from ._parse import parse
from ._render import render, thinking_param
from ._stream import MessageAccumulator

__all__ = ["Anthropic"]

_MAX_THINKING = 512  # thinking blocks remembered for sending back


class Anthropic(RemoteBackend):
    """Claude models through Anthropic's Messages API.

    Args:
        model: the model name sent to the API (its profile is looked up by this name).
        api_key: the key; defaults to ``ANTHROPIC_API_KEY``.
        base_url: another endpoint speaking Anthropic's protocol (a proxy, ``ctxkit serve``).
        profile: a Profile or profile name to use instead of the model's.
        max_tokens: the reply limit (default: the budget's output reserve).
        thinking: extended thinking: a token budget, ``"adaptive"``, or Anthropic's dict.
        params: extra request parameters (temperature, stop_sequences, metadata ...).
        timeout: seconds before a request (or a silent stream) is given up and retried.
        retry: the RetryPolicy (5 tries, backoff with jitter, retry-after honoured).
        tokens_per_minute: the key's input-token rate limit (shared by every backend of
            the key in this process), or a TokenBudget; None for no limit.
        count_with_api: count tokens with the API's count endpoint (default: when a key is
            present); otherwise counts are the profile tokenizer's estimate.
        client: a prebuilt SDK client (its retries are turned off).
        async_client: a prebuilt async SDK client (its retries are turned off).
    """

    name = "anthropic"
    provider = "anthropic"
    sdk_module = "anthropic"
    sdk_clients = ("Anthropic", "AsyncAnthropic")
    cached_counts_against_limit = False  # cache reads do not count toward Anthropic's ITPM

    def __init__(self, model: str = "claude-sonnet-4-6", *, api_key: str | None = None,
                 base_url: str | None = None, profile: str | Profile | None = None,
                 max_tokens: int | None = None,
                 thinking: int | str | Mapping[str, Any] | None = None,
                 params: Mapping[str, Any] | None = None, timeout: float = 600.0,
                 retry: RetryPolicy | None = None,
                 tokens_per_minute: int | TokenBudget | None = None,
                 count_with_api: bool | None = None, client: Any = None,
                 async_client: Any = None) -> None:
        if not isinstance(model, str) or not model:
            raise UserError("Anthropic(model=...) needs a model name, e.g. 'claude-sonnet-4-6'")
        self._model = model
        self.profile = resolve_profile(model, profile)
        self.api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        self.base_url = base_url
        self.max_tokens = max_tokens
        self.thinking_config = thinking_param(thinking)
        self.params = dict(params or {})
        self.timeout = timeout
        self.count_with_api = bool(self.api_key) if count_with_api is None else count_with_api
        self._sync = client.with_options(max_retries=0) if client is not None else None
        self._async = async_client.with_options(max_retries=0) \
            if async_client is not None else None
        self._thinking: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._count_overhead: int | None = None
        self._init_remote(retry=retry, tokens_per_minute=tokens_per_minute,
                          api_key=self.api_key, base_url=base_url)


    # -- rendering and reading -----------------------------------------------------------

    def render(self, draft: Draft, *, max_tokens: int | None = None) -> dict[str, Any]:
        """The exact ``messages.create`` arguments this backend would send for ``draft``."""
        limit = max_tokens or self.max_tokens or draft.budget.reserve_output or \
            min(self.profile.max_output, 8192)
        return render(draft, model=self._model, max_tokens=limit,
                      thinking_config=self.thinking_config, thinking=self._thinking,
                      params=self.params)

    def _render_call(self, draft: Draft, *, stream: bool) -> Call:
        return Call(self.render(draft), estimate=draft.num_tokens)

    def _send(self, call: Call) -> Any:
        return as_dict(self._client().messages.create(**call.kwargs))

    async def _asend(self, call: Call) -> Any:
        return as_dict(await self._aclient().messages.create(**call.kwargs))

    def _open_stream(self, call: Call) -> Any:
        return self._client().messages.create(stream=True, **call.kwargs)

    async def _aopen_stream(self, call: Call) -> Any:
        return await self._aclient().messages.create(stream=True, **call.kwargs)

    def _accumulator(self) -> MessageAccumulator:
        return MessageAccumulator()

    def _parse(self, raw: dict[str, Any]) -> Any:
        response, blocks = parse(raw)
        if blocks and response.thinking:
            self._thinking[response.thinking] = blocks
            self._thinking.move_to_end(response.thinking)
            while len(self._thinking) > _MAX_THINKING:
                self._thinking.popitem(last=False)
        return response

    # -- counting ------------------------------------------------------------------------

    def count_draft(self, draft: Draft) -> int:
        """Prompt tokens of ``draft`` as Anthropic counts them (the count endpoint when a
        key is present, else the profile tokenizer's estimate with message framing)."""
        if not self.count_with_api:
            return draft.num_tokens
        req = self.render(draft)
        req.pop("max_tokens", None)
        for k in list(req):
            if k not in ("model", "messages", "system", "tools", "thinking", "tool_choice"):
                req.pop(k)
        return self._count(req)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text``: exact through the count endpoint when a key is present
        (less the fixed overhead of a one-message request), else an estimate."""
        if not self.count_with_api or not text:
            return super().count_tokens(text)
        if self._count_overhead is None:
            # "." is one token in every Claude tokenizer; the rest is request framing
            self._count_overhead = self._count_text(".") - 1
        return max(0, self._count_text(text) - self._count_overhead)

    def _count_text(self, text: str) -> int:
        return self._count({"model": self._model,
                            "messages": [{"role": "user", "content": text}]})

    def _count(self, req: dict[str, Any]) -> int:
        call = Call(req, estimate=0)
        out = self._with_retries(call, lambda: self._client().messages.count_tokens(**req))
        return int(as_dict(out)["input_tokens"])
