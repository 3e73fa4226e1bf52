"""The OpenAI backend: OpenAI's APIs and every server that speaks them.

Owns the client (built with ``max_retries=0``: retries are ctxkit's), the choice between
Chat Completions and Responses, and the ``prompt_cache_key``. Given ``base_url`` the same
class drives vLLM, SGLang, llm-d or ``ctxkit serve``; the profile says whether that server
reports cached tokens, and whether it renders the prompt's token ids for ctxkit
(``renders_ids_via: "tokenize"``, the ``ctxkit-serve`` profile): then ``render_ids`` asks its
``/tokenize`` for the ids of the exact request the call sends, and replies carry their own
ids, so the cache model predicts exactly. Rendering, parsing, streaming and tokenize
requests live in ``_render``, ``_parse``, ``_stream`` and ``_tokenize``; retries and rate
limits in ``.._remote``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..._draft import Draft
from ..._errors import UserError
from ..._profile import Profile
from ..._types import Response
from .._ratelimit import TokenBudget
from .._remote import Accumulator, Call, RemoteBackend, as_dict, resolve_profile
from .._retry import RetryPolicy
from ._parse import parse_chat, parse_responses
from ._render import cache_key_for, render_chat, render_responses
from ._stream import ChatAccumulator, ResponsesAccumulator
from ._tokenize import read_ids, tokenize_body, tokenize_url

__all__ = ["OpenAI"]

Api = Literal["chat", "responses"]


class OpenAI(RemoteBackend):
    """OpenAI models, or any OpenAI-compatible server given ``base_url``.

    Args:
        model: the model name sent to the server.
        api: ``"chat"`` (Chat Completions, what every compatible server speaks) or
            ``"responses"`` (OpenAI's Responses API).
        base_url: a compatible server's URL ending in ``/v1`` (vLLM, SGLang, ``ctxkit
            serve``); None for OpenAI itself.
        api_key: the key; defaults to ``OPENAI_API_KEY`` (``"EMPTY"`` for a base_url).
        profile: a Profile or profile name (``"vllm"``, ``"sglang"``, ``"ctxkit-serve"``
            ...); defaults to the model's, or ``openai-compatible`` for unknown models on
            a base_url. ``ctxkit-serve`` predicts the cache exactly from the server's
            ``/tokenize`` (see ``render_ids``).
        cache_key: the ``prompt_cache_key``: ``"session"`` (default for OpenAI: one key
            per conversation), ``"prefix"`` (one per system + tools), a fixed string, a
            callable(draft), or None (default for other servers: not sent).
        max_tokens: the reply limit (default: the server's).
        params: extra request parameters (temperature, reasoning, seed ...).
        timeout: seconds before a request (or a silent stream) is given up and retried.
        retry: the RetryPolicy (5 tries, backoff with jitter, retry-after honoured).
        tokens_per_minute: the key's token rate limit (shared by every backend of the key
            in this process), or a TokenBudget; None for no limit.
        stream_usage: ask for usage at the end of chat streams (``include_usage``).
        client: a prebuilt SDK client (its retries are turned off).
        async_client: a prebuilt async SDK client (its retries are turned off).
    """

    provider = "openai"
    sdk_module = "openai"
    sdk_clients = ("OpenAI", "AsyncOpenAI")

    def __init__(self, model: str = "gpt-5", *, api: Api = "chat",
                 base_url: str | None = None, api_key: str | None = None,
                 profile: str | Profile | None = None,
                 cache_key: str | Callable[[Draft], str] | None = "auto",
                 max_tokens: int | None = None, params: Mapping[str, Any] | None = None,
                 timeout: float = 600.0, retry: RetryPolicy | None = None,
                 tokens_per_minute: int | TokenBudget | None = None,
                 stream_usage: bool = True, client: Any = None,
                 async_client: Any = None) -> None:
        if not isinstance(model, str) or not model:
            raise UserError("OpenAI(model=...) needs a model name, e.g. 'gpt-5'")
        if api not in ("chat", "responses"):
            raise UserError(f"api={api!r}: use 'chat' (Chat Completions) or 'responses'")
        self._model = model
        self.api = api
        self.base_url = base_url
        self.name = "openai" if base_url is None else "openai-compatible"
        # a self-hosted model without a profile: a paged cache, o200k counts until told
        self.profile = resolve_profile(model, profile, fallback=None if base_url is None
                                       else "openai-compatible")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or \
            ("EMPTY" if base_url else None)
        self.cache_key = ("session" if base_url is None else None) if cache_key == "auto" \
            else cache_key
        self.max_tokens = max_tokens
        self.params = dict(params or {})
        self.timeout = timeout
        self.stream_usage = stream_usage
        self._sync = client.with_options(max_retries=0) if client is not None else None
        self._async = async_client.with_options(max_retries=0) \
            if async_client is not None else None
        self._init_remote(retry=retry, tokens_per_minute=tokens_per_minute,
                          api_key=self.api_key, base_url=base_url)
        self.ids_off: str | None = None  # why render_ids gave up, once it has

    # -- rendering and reading -----------------------------------------------------------

    def render(self, draft: Draft, *, stream: bool = False) -> dict[str, Any]:
        """The exact ``chat.completions.create`` / ``responses.create`` arguments."""
        key = cache_key_for(draft, self.cache_key)
        params = dict(self.params)
        if self.api == "chat":
            if self.max_tokens is not None:
                params.setdefault("max_completion_tokens", self.max_tokens)
            if stream and self.stream_usage:
                params.setdefault("stream_options", {"include_usage": True})
            if not stream and self.profile.cache.renders_ids_via is not None:
                # vLLM's extension: each choice's token_ids, for the cache mirror
                params["extra_body"] = {"return_token_ids": True,
                                        **dict(params.get("extra_body") or {})}
            return render_chat(draft, model=self._model, params=params, cache_key=key)
        if self.max_tokens is not None:
            params.setdefault("max_output_tokens", self.max_tokens)
        return render_responses(draft, model=self._model, params=params, cache_key=key)

    # -- exact token ids, where the server renders them -----------------------------------

    def render_ids(self, draft: Draft) -> list[int] | None:
        """The prompt's exact token ids, from the server's ``POST /tokenize``, when the
        profile says it has one (``cache.renders_ids_via == "tokenize"``); else None.

        The body is the ``model``, ``messages`` and ``tools`` of the very request
        ``complete`` sends. Any failure (no such route, a timeout, an answer that is not a
        list of ids) warns once and turns this off for the backend's life: the pipeline
        then estimates from block counts, and the call itself goes ahead.
        """
        url = self._tokenize_url()
        if url is None:
            return None
        body = tokenize_body(self.render(draft))
        try:
            return read_ids(self._client().post(url, cast_to=object, body=body,
                                                options={"timeout": self._tokenize_timeout}))
        except Exception as exc:
            self._ids_failed(url, exc)
            return None

    async def arender_ids(self, draft: Draft) -> list[int] | None:
        """Async ``render_ids``."""
        url = self._tokenize_url()
        if url is None:
            return None
        body = tokenize_body(self.render(draft))
        try:
            return read_ids(await self._aclient().post(
                url, cast_to=object, body=body, options={"timeout": self._tokenize_timeout}))
        except Exception as exc:
            self._ids_failed(url, exc)
            return None

    @property
    def _tokenize_timeout(self) -> float:
        # tokenizing is fast next to generating; do not hold the call up for long
        return min(self.timeout or 30.0, 30.0)

    def _tokenize_url(self) -> str | None:
        if self.profile.cache.renders_ids_via != "tokenize" or self.ids_off is not None:
            return None
        if self.base_url is None or self.api != "chat":
            self._give_up_ids("it needs base_url= and api='chat' (the tokenize route renders "
                              "chat requests)")
            return None
        return tokenize_url(self.base_url)

    def _ids_failed(self, url: str, exc: Exception) -> None:
        self._give_up_ids(f"POST {url} failed ({type(exc).__name__}: {exc})")

    def _give_up_ids(self, why: str) -> None:
        self.ids_off = why
        warnings.warn(f"profile {self.profile.name!r} asks for exact token ids, but {why}; "
                      "cache predictions for this backend are estimates from now on. Use a "
                      "server with vLLM's /tokenize (ctxkit serve), or a profile without "
                      "renders_ids_via", RuntimeWarning, stacklevel=3)

    def _render_call(self, draft: Draft, *, stream: bool) -> Call:
        return Call(self.render(draft, stream=stream), estimate=draft.num_tokens)

    def _endpoint(self, client: Any) -> Any:
        return client.chat.completions if self.api == "chat" else client.responses

    def _send(self, call: Call) -> Any:
        return as_dict(self._endpoint(self._client()).create(**call.kwargs))

    async def _asend(self, call: Call) -> Any:
        return as_dict(await self._endpoint(self._aclient()).create(**call.kwargs))

    def _open_stream(self, call: Call) -> Any:
        return self._endpoint(self._client()).create(stream=True, **call.kwargs)

    async def _aopen_stream(self, call: Call) -> Any:
        return await self._endpoint(self._aclient()).create(stream=True, **call.kwargs)

    def _accumulator(self) -> Accumulator:
        return ChatAccumulator() if self.api == "chat" else ResponsesAccumulator()

    def _parse(self, raw: dict[str, Any]) -> Response:
        return parse_chat(raw) if self.api == "chat" else parse_responses(raw)
