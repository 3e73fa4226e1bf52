"""Draft and Budget: the backend-neutral prompt being built for one call.

Owns the ordered blocks, the token budget, the breakpoints and the deterministic
serialization used by the prefix invariant. Knows no wire format: a backend's ``render``
turns a Draft into Anthropic messages, OpenAI chat, or token ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._block import Block, CacheTTL
from ._errors import UserError
from ._profile import Profile
from ._tokens import TokenCounter


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Token budget for one call.

    Attributes:
        window: the context window to fit; defaults to the profile's.
        reserve_output: tokens kept free for the reply; defaults to min(max_output, 8192).
        caps: per-layer (or per ``cap_group``) ceilings for flexible candidates.
        max_prompt: an extra ceiling on the prompt, below the window (cost control).
    """

    window: int | None = None
    reserve_output: int | None = None
    caps: dict[str, int] = field(default_factory=dict)
    max_prompt: int | None = None

    def __post_init__(self) -> None:
        for name in ("window", "reserve_output", "max_prompt"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise UserError(f"Budget.{name} must be >= 0, got {v}")
        for k, v in self.caps.items():
            if v < 0:
                raise UserError(f"Budget.caps[{k!r}] must be >= 0, got {v}")

    def available(self, profile: Profile) -> int:
        """Prompt tokens this budget allows under ``profile``."""
        window = self.window if self.window is not None else profile.context_window
        reserve = self.reserve_output
        if reserve is None:
            reserve = min(profile.max_output, 8192)
        limit = window - reserve
        if self.max_prompt is not None:
            limit = min(limit, self.max_prompt)
        return max(0, limit)


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A cache breakpoint after block ``index`` with ``ttl``."""

    index: int
    ttl: CacheTTL


class Draft:
    """The ordered blocks of one call, plus what the budget and cache steps decided.

    Layers read and extend it with ``add``. After the layers ran, the pipeline's budget step
    fills ``dropped`` and the breakpoint step fills ``breakpoints``.
    """

    def __init__(self, *, profile: Profile, counter: TokenCounter, budget: Budget) -> None:
        self.profile = profile
        self.counter = counter
        self.budget = budget
        self.blocks: list[Block] = []
        self.breakpoints: list[Breakpoint] = []
        self.dropped: list[Block] = []
        self.declared_rewrite: str | None = None
        # what layers want kept in the CallRecord (memory reads, retrieval ids); a value may
        # be a callable of the final draft, resolved when the record is made
        self.extras: dict[str, Any] = {}

    def add(self, *blocks: Block) -> Draft:
        """Append blocks in order; returns the draft so layers can ``return draft.add(...)``."""
        for b in blocks:
            if not isinstance(b, Block):
                raise UserError(f"Draft.add takes Block objects, got {type(b).__name__}")
            self.blocks.append(b)
        return self

    def extend(self, blocks: Iterable[Block]) -> Draft:
        return self.add(*blocks)

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def tokens(self, block: Block) -> int:
        """Tokens of one block's content under the profile's tokenizer (cached by hash)."""
        return self.counter.count(block)

    def of_layer(self, layer: str) -> list[Block]:
        return [b for b in self.blocks if b.layer == layer]

    @property
    def num_messages(self) -> int:
        """Messages after grouping consecutive blocks of one role (as renderers do)."""
        n, last = 0, None
        for b in self.blocks:
            if b.role != last:
                n, last = n + 1, b.role
        return n

    @property
    def framing_tokens(self) -> int:
        """Tokens the wire format adds around messages (from the profile)."""
        p = self.profile
        return p.tokens_per_request + p.tokens_per_message * self.num_messages

    @property
    def num_tokens(self) -> int:
        """Prompt tokens: every block's content plus message framing."""
        return sum(self.tokens(b) for b in self.blocks) + self.framing_tokens

    @property
    def stable_end(self) -> int:
        """Index after the last block that asked to be cached: the region meant to be reused."""
        for i in range(len(self.blocks) - 1, -1, -1):
            if self.blocks[i].cache is not None:
                return i + 1
        return 0

    def chain(self) -> list[str]:
        """Fingerprint chain: entry i identifies blocks[0..i] (a hash over the hashes)."""
        out: list[str] = []
        h = hashlib.sha256()
        for b in self.blocks:
            h.update(b.hash.encode())
            out.append(h.copy().hexdigest()[:20])
        return out

    def serialize(self, end: int | None = None) -> str:
        """Deterministic serialization of blocks[:end], one block per line."""
        return "\n".join(b.serialize() for b in self.blocks[:end])

    def declare_rewrite(self, reason: str) -> None:
        """Say that this call rewrites the cached region on purpose (e.g. compaction)."""
        self.declared_rewrite = reason

    def to_messages(self) -> dict[str, Any]:
        """A provider-neutral view: system text, tool schemas and role-grouped messages.

        Backends render their own wire formats; this view is for humans, test doubles and
        the CLI's ``--show-prompt``.
        """
        import json

        system: list[str] = []
        tools: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        for b in self.blocks:
            if b.kind == "tool":
                tools.append(json.loads(b.content))
            elif b.role == "system":
                system.append(b.content)
            else:
                part: dict[str, Any] = {"type": b.kind, "text": b.content}
                if b.kind in ("tool_use", "tool_result"):
                    part.update(name=b.name, call_id=b.call_id)
                if messages and messages[-1]["role"] == b.role:
                    messages[-1]["content"].append(part)
                else:
                    messages.append({"role": b.role, "content": [part]})
        return {"system": "\n\n".join(system), "tools": tools, "messages": messages}
