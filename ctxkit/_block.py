"""Block: the immutable unit of context, with a deterministic serialization and hash.

Owns what a block *is* and how it is identified across calls. Knows nothing of layers,
budgets or wire formats: a backend's ``render`` decides how a block is sent.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
Kind = Literal["text", "tool", "tool_use", "tool_result", "thinking"]
CacheTTL = Literal["5m", "1h"]
Trust = Literal["trusted", "untrusted"]

ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})
KINDS: frozenset[str] = frozenset({"text", "tool", "tool_use", "tool_result", "thinking"})
TTLS: frozenset[str] = frozenset({"5m", "1h"})


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal values, equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _serialize(role: str, kind: str, name: str | None, call_id: str | None, is_error: bool,
               content: str) -> str:
    return canonical_json([role, kind, name, call_id, is_error, content])


@functools.lru_cache(maxsize=8192)
def _hash_of(role: str, kind: str, name: str | None, call_id: str | None, is_error: bool,
             content: str) -> str:
    # cached: re-making a block with the same content (a new TTL, another layer) is a
    # dictionary lookup, and Python caches each string's own hash
    data = _serialize(role, kind, name, call_id, is_error, content).encode()
    return hashlib.sha256(data).hexdigest()[:20]


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Where a block came from.

    Attributes:
        source: who produced it: user, agent, tool, system, file, retrieval, memory, compaction.
        ref: what it was produced from: a path, a tool call id, a record id.
        at: when (unix seconds), if known.
    """

    source: str
    ref: str | None = None
    at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """One piece of context.

    Attributes:
        layer: name of the layer that produced it (``"prefix"``, ``"history"``, ...).
        content: the text sent to the model (canonical JSON for tool schemas and tool calls).
        role: system, user, assistant or tool (tool results).
        kind: text, tool (a tool schema), tool_use, tool_result or thinking.
        key: identity of the block within its layer across calls (``"system"``,
            ``"tool:grep"``, ``"file:AGENTS.md"``, ``"turn:3"``); drift diagnosis names it.
        name: the tool's name, for tool / tool_use / tool_result blocks.
        call_id: the tool call id pairing a tool_use with its tool_result.
        is_error: a tool_result that reports a failure.
        cache: the cache TTL this block asks for; a breakpoint is placed after it.
        trust: ``"untrusted"`` for content an outside party could have written.
        provenance: who wrote it, from what, when.
        score: relevance, for flexible blocks that compete for the budget.
        must_keep: False for flexible candidates the budget step may drop.
        cap_group: the per-layer cap this block counts against (defaults to ``layer``).

    The hash covers only what reaches the model (role, kind, name, call_id, is_error,
    content): two blocks with equal hashes render identically, whatever their provenance.
    """

    layer: str
    content: str
    role: Role = "user"
    kind: Kind = "text"
    key: str = ""
    name: str | None = None
    call_id: str | None = None
    is_error: bool = False
    cache: CacheTTL | None = None
    trust: Trust = "trusted"
    provenance: Provenance | None = None
    score: float | None = None
    must_keep: bool = True
    cap_group: str | None = None
    hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from ._errors import UserError

        if not isinstance(self.content, str):
            raise UserError(
                f"Block.content must be str, got {type(self.content).__name__}; "
                "serialize structured content with ctxkit.canonical_json first"
            )
        if self.role not in ROLES:
            raise UserError(f"Block.role {self.role!r} is not one of {sorted(ROLES)}")
        if self.kind not in KINDS:
            raise UserError(f"Block.kind {self.kind!r} is not one of {sorted(KINDS)}")
        if self.cache is not None and self.cache not in TTLS:
            raise UserError(f"Block.cache {self.cache!r} must be None, '5m' or '1h'")
        if self.kind in ("tool_use", "tool_result") and not self.call_id:
            raise UserError(f"a {self.kind} block needs a call_id that pairs call and result")
        object.__setattr__(self, "hash", _hash_of(self.role, self.kind, self.name, self.call_id,
                                                  self.is_error, self.content))

    def serialize(self) -> str:
        """Deterministic serialization of what reaches the model (the hashed bytes)."""
        return _serialize(self.role, self.kind, self.name, self.call_id, self.is_error,
                          self.content)

    def replace(self, **changes: Any) -> Block:
        """A copy with ``changes`` applied (blocks are immutable)."""
        return dataclasses.replace(self, **changes)

    @property
    def group(self) -> str:
        """The cap group this block counts against in the budget step."""
        return self.cap_group or self.layer
