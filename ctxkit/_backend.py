"""Backend: the small ABC every model provider implements, like httpx's transport.

Owns the contract between the pipeline and a provider: ``complete``/``acomplete`` a Draft
into a Response, ``stream``/``astream`` it, ``count_tokens``, ``close``/``aclose``, and the
``profile`` of provider facts. A subclass implements at least one of ``complete`` and
``acomplete``; the other is derived. Knows nothing of layers.
"""

from __future__ import annotations

import asyncio
from abc import ABC
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ._draft import Draft
from ._errors import UserError
from ._profile import Profile
from ._tokens import TokenCounter, get_tokenizer
from ._types import Response

StreamItem = Any  # str text deltas, then the final Response


class Backend(ABC):
    """A model provider. Subclasses set ``profile`` and ``name`` and override
    ``complete`` or ``acomplete`` (or both)."""

    name: str = "backend"
    profile: Profile

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.complete is Backend.complete and cls.acomplete is Backend.acomplete \
                and not getattr(cls, "__abstract_backend__", False):
            raise TypeError(f"{cls.__name__} must override complete() or acomplete()")

    @property
    def model(self) -> str:
        return self.profile.name

    def counter(self) -> TokenCounter:
        """A token counter for this backend's tokenizer (shared per backend instance)."""
        c = getattr(self, "_counter", None)
        if c is None:
            c = TokenCounter(self.tokenizer())
            self._counter = c
        return c

    def tokenizer(self) -> Any:
        """The tokenizer matching this backend's model (exact where one exists)."""
        return get_tokenizer(self.profile.tokenizer)

    def count_tokens(self, text: str) -> int:
        return int(self.counter().count_text(text))

    def render_ids(self, draft: Draft) -> list[int] | None:
        """The prompt's exact token ids, for a backend that renders them itself (``Local``)
        or whose server does (``OpenAI`` on ``ctxkit serve``: its ``/tokenize``).

        When a backend returns ids here, the pipeline predicts input and cache-read tokens
        from them (in the order the chat template renders, framing included) instead of from
        block counts; None (the default) keeps the block-level estimate.
        """
        return None

    async def arender_ids(self, draft: Draft) -> list[int] | None:
        """Async ``render_ids`` (``arun`` awaits it); by default the sync one, for backends
        that render locally. A backend that asks a server overrides both."""
        return self.render_ids(draft)

    def complete(self, draft: Draft) -> Response:
        """Send the draft and wait for the whole reply."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.acomplete(draft))
        raise UserError(
            f"{type(self).__name__} is async-only; inside an event loop call "
            "`await pipe.arun(...)` instead of `pipe.run(...)`"
        )

    async def acomplete(self, draft: Draft) -> Response:
        """Async form of ``complete``; by default runs it in a worker thread."""
        return await asyncio.to_thread(self.complete, draft)

    def stream(self, draft: Draft) -> Iterator[StreamItem]:
        """Yield text deltas, then the final Response. Default: one delta, one Response."""
        resp = self.complete(draft)
        if resp.text:
            yield resp.text
        yield resp

    async def astream(self, draft: Draft) -> AsyncIterator[StreamItem]:
        resp = await self.acomplete(draft)
        if resp.text:
            yield resp.text
        yield resp

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections; the backend is unusable afterwards."""

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
