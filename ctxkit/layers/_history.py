"""History layer: the session transcript, append-only, with a moving cache breakpoint.

Owns rendering the transcript (user turns, assistant replies, tool calls with their
results — the pipeline keeps each call next to its result) and marking its last block so
the provider caches the conversation turn by turn. Compaction is a separate concern: a
``compactor`` may rewrite the session before rendering, through ``Session.rewrite``;
under ``arun`` the compactor's async form (``acall``) is awaited, so a model-written
summary does not block the event loop. In a dry run the compactor is told so (built-in
compactors then write nothing and call no model).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .._block import CacheTTL
from .._draft import Draft
from .._types import Session, Turn


class History:
    """The conversation so far.

    Args:
        ttl: cache TTL of the moving breakpoint at the end of the history.
        compactor: called as ``compactor(session, draft, turn)`` before rendering; it may
            rewrite the session (at milestones) through ``session.rewrite(blocks, reason)``.
            It may also offer ``acall(session, draft, turn)``, which ``arun`` awaits.
    """

    name = "history"

    def __init__(self, *, ttl: CacheTTL = "5m",
                 compactor: Callable[[Session, Draft, Turn], None] | None = None) -> None:
        self.ttl = ttl
        self.compactor = compactor

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        if self.compactor is not None:
            self.compactor(turn.session, draft, turn)
        return self._render(draft, turn)

    async def acall(self, draft: Draft, turn: Turn) -> Draft:
        """The async form ``arun`` awaits: the compactor's ``acall`` when it has one."""
        if self.compactor is not None:
            acall: Any = getattr(self.compactor, "acall", None)
            out = (acall if callable(acall) else self.compactor)(turn.session, draft, turn)
            if inspect.isawaitable(out):
                await out
        return self._render(draft, turn)

    def _render(self, draft: Draft, turn: Turn) -> Draft:
        blocks = turn.session.transcript
        if not blocks:
            return draft
        draft.extend(blocks[:-1])
        return draft.add(blocks[-1].replace(cache=self.ttl))
