"""History layer: the session transcript, append-only, with a moving cache breakpoint.

Owns rendering the transcript (user turns, assistant replies, tool calls with their
results — the pipeline keeps each call next to its result) and marking its last block so
the provider caches the conversation turn by turn. Compaction is a separate concern: a
``compactor`` may rewrite the session before rendering, through ``Session.rewrite``.
"""

from __future__ import annotations

from collections.abc import Callable

from .._block import CacheTTL
from .._draft import Draft
from .._types import Session, Turn


class History:
    """The conversation so far.

    Args:
        ttl: cache TTL of the moving breakpoint at the end of the history.
        compactor: called as ``compactor(session, draft, turn)`` before rendering; it may
            rewrite the session (at milestones) through ``session.rewrite(blocks, reason)``.
    """

    name = "history"

    def __init__(self, *, ttl: CacheTTL = "5m",
                 compactor: Callable[[Session, Draft, Turn], None] | None = None) -> None:
        self.ttl = ttl
        self.compactor = compactor

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        if self.compactor is not None:
            self.compactor(turn.session, draft, turn)
        blocks = turn.session.transcript
        if not blocks:
            return draft
        draft.extend(blocks[:-1])
        return draft.add(blocks[-1].replace(cache=self.ttl))
