"""The agent's own small layers and its compaction policy: each a few lines, written the
way a user of ctxkit writes one (a callable ``layer(draft, turn) -> draft``; a policy with
``check`` and ``fired``).

Owns ``NoCache`` (the naive layout: nothing asks to be cached), ``Checkpoint`` (save the
State before every model call) and ``WhenLarge`` (a milestone compacts only a history
worth compacting). Knows nothing of the agent that uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctxkit import Draft, Turn


class WhenLarge:
    """A compaction policy that lets ``inner`` fire only once the history holds
    ``min_tokens``: compacting a short history costs a cache write and saves nothing."""

    def __init__(self, inner: Any, min_tokens: int) -> None:
        self.inner, self.min_tokens = inner, min_tokens

    def check(self, c: Any) -> str | None:
        return self.inner.check(c) if c.history_tokens >= self.min_tokens else None

    def fired(self, c: Any) -> None:
        self.inner.fired(c)


class NoCache:
    """The naive layout's last layer: no block asks to be cached."""

    name = "no_cache"

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        draft.blocks[:] = [b.replace(cache=None) if b.cache else b for b in draft.blocks]
        return draft


class BestPracticeCache:
    """The best-practice layout's last layer: the breakpoints a careful user places by hand
    (Anthropic's prompt-caching guide) — the system prompt and the last tool (1h), and one
    moving breakpoint on the last message of the conversation (5m; before this turn's
    retrieved context, which changes every call); every other cache request is dropped."""

    name = "best_practice_cache"

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        blocks = draft.blocks
        tools = [i for i, b in enumerate(blocks) if b.kind == "tool"]
        systems = [i for i, b in enumerate(blocks) if b.role == "system" and b.kind == "text"]
        keep = {i: "1h" for i in (systems[:1] + tools[-1:])}
        history = [i for i, b in enumerate(blocks) if b.layer == "history"]
        if history:
            keep[history[-1]] = "5m"
        blocks[:] = [b.replace(cache=keep.get(i)) if b.cache != keep.get(i) else b
                     for i, b in enumerate(blocks)]
        return draft


class Checkpoint:
    """Saves the State before every model call (so a crash loses at most one step)."""

    name = "checkpoint"

    def __init__(self, save: Callable[[], object]) -> None:
        self.save = save

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        if not turn.dry_run:
            self.save()
        return draft
