"""Context editing: clear stale tool results and old thinking in place, with placeholders.

Owns deciding which blocks of the history no longer earn their tokens — tool results
older than N turns, superseded by a later identical call, or duplicating an earlier
result; thinking blocks older than M turns — and replacing each *in place* with a short
placeholder that depends only on the block (so it is byte-stable from then on). Nothing
moves: the cached prefix up to the first cleared block is kept, and clearing is batched
(only when it frees at least ``min_clear_tokens``) so the one cache miss it costs is
worth it. Calls stay paired with their results. Knows nothing of summaries or memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._block import Block
from .._draft import Draft
from .._errors import UserError
from .._types import Session, Turn
from ._units import split_head, turn_age

PLACEHOLDER = "[cleared: "


@dataclass(slots=True)
class Edit:
    index: int
    why: str
    tokens: int


def _default_key(use: Block) -> str:
    return f"{use.name}:{use.content}"


class ContextEditor:
    """Clears what no longer helps from the history (use as, or chained before, a compactor).

    Args:
        stale_after_turns: tool results older than this many turns are cleared (None: never).
        superseded: clear a result when a later call has the same supersede key.
        duplicates: clear a result identical to an earlier result that is still shown.
        thinking_after_turns: thinking blocks older than this many turns are cleared.
        keep_recent_turns: nothing in the last this-many turns is ever cleared.
        min_clear_tokens: edit only when at least this many tokens would be freed.
        supersede_key: ``key(tool_use_block) -> str | None``; a later call with the same key
            supersedes an earlier one (default: same tool and same arguments).

    Attributes:
        edits: ``(reason, number of blocks, tokens freed)`` for each rewrite made.
    """

    def __init__(self, *, stale_after_turns: int | None = 8, superseded: bool = True,
                 duplicates: bool = True, thinking_after_turns: int | None = 2,
                 keep_recent_turns: int = 1, min_clear_tokens: int = 1024,
                 supersede_key: Callable[[Block], str | None] = _default_key) -> None:
        for name, v in (("stale_after_turns", stale_after_turns),
                        ("thinking_after_turns", thinking_after_turns)):
            if v is not None and v < 1:
                raise UserError(f"ContextEditor({name}=...) must be >= 1 or None")
        if keep_recent_turns < 1:
            raise UserError("ContextEditor(keep_recent_turns=...) must be >= 1: the current "
                            "turn's results are still being read")
        self.stale_after_turns = stale_after_turns
        self.superseded, self.duplicates = superseded, duplicates
        self.thinking_after_turns = thinking_after_turns
        self.keep_recent_turns = keep_recent_turns
        self.min_clear_tokens = min_clear_tokens
        self.supersede_key = supersede_key
        self.edits: list[tuple[str, int, int]] = []

    def plan(self, blocks: list[Block], count: Callable[[Block], int]) -> list[Edit]:
        """The edits this editor would make to ``blocks`` (a transcript), in order."""
        head, body = split_head(blocks)
        off = len(head)
        ages = turn_age(body)
        uses = {b.call_id: b for b in body if b.kind == "tool_use"}
        use_at = {b.call_id: i for i, b in enumerate(body) if b.kind == "tool_use"}
        later_key: dict[str, int] = {}
        for i, b in enumerate(body):
            if b.kind == "tool_use":
                k = self.supersede_key(b)
                if k is not None:
                    later_key[k] = i
        first_seen: dict[str, str] = {}
        edits: list[Edit] = []
        for i, b in enumerate(body):
            if ages[i] < self.keep_recent_turns or b.content.startswith(PLACEHOLDER):
                continue
            why = None
            if b.kind == "thinking" and self.thinking_after_turns is not None \
                    and ages[i] >= self.thinking_after_turns:
                why = f"thinking from {ages[i]} turns ago"
            elif b.kind == "tool_result":
                use = uses.get(b.call_id)
                key = self.supersede_key(use) if use is not None else None
                if self.duplicates and b.content in first_seen:
                    why = f"same output as call {first_seen[b.content]}"
                elif self.superseded and key is not None and use is not None and \
                        later_key.get(key, -1) > use_at[b.call_id]:
                    why = f"superseded by a later {use.name} call with the same arguments"
                elif self.stale_after_turns is not None and ages[i] >= self.stale_after_turns:
                    why = f"older than {self.stale_after_turns} turns"
                if why is None:
                    first_seen.setdefault(b.content, str(b.call_id))
            if why is not None:
                edits.append(Edit(off + i, why, count(b)))
        return edits

    def __call__(self, session: Session, draft: Draft, turn: Turn) -> None:
        edits = self.plan(session.transcript, draft.counter.count)
        freed = sum(e.tokens for e in edits)
        if not edits or freed < self.min_clear_tokens:
            return
        blocks = list(session.transcript)
        for e in edits:
            blocks[e.index] = placeholder(blocks[e.index], e.why, e.tokens)
        reason = f"context edit: cleared {len(edits)} blocks ({freed:,} tokens)"
        session.rewrite(blocks, reason=reason)
        draft.declare_rewrite(reason)
        if not getattr(turn, "dry_run", False):
            self.edits.append((reason, len(edits), freed))


def placeholder(b: Block, why: str, tokens: int) -> Block:
    """``b`` with its content replaced by a short, stable note (kind, name, call id kept)."""
    what = f"{b.name} result" if b.kind == "tool_result" else "thinking"
    return b.replace(content=f"{PLACEHOLDER}{what}, {tokens:,} tokens; {why}]",
                     must_keep=True)
