"""The wire-neutral layout every renderer starts from: tools, system, then messages.

Owns the rules all providers share, so Anthropic, OpenAI and the local rendering carry the
same content in the same order:

* blocks of kind ``tool`` are tool schemas and go to the tools section, in draft order;
* system blocks before the first message form the system prompt; a system block after a
  message has started (a State layer, say) stays in place as user content, because moving
  it up would reorder the prompt and break the cached prefix;
* consecutive blocks of one wire role (user + tool results, or assistant) form one
  message, tool results first in their message (Anthropic requires it; OpenAI's tool
  messages must follow the assistant's calls);
* blocks a provider cannot take (empty text, thinking it cannot send back) are dropped.

A breakpoint after draft block ``i`` moves to the last wire element whose prefix covers
blocks ``0..i`` (tools precede the system prompt on the wire), so a cache entry never
covers less than the pipeline asked for. Knows no wire format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .._block import Block
from .._draft import Breakpoint, Draft
from .._errors import UserError


@dataclass(slots=True)
class Part:
    """One draft block at its place on the wire; ``ttl`` is set where a breakpoint goes."""

    block: Block
    index: int
    position: int = 0
    ttl: str | None = None


@dataclass(slots=True)
class Message:
    role: str  # "user" or "assistant"
    parts: list[Part] = field(default_factory=list)


@dataclass(slots=True)
class Layout:
    tools: list[Part]
    system: list[Part]
    messages: list[Message]

    def parts(self) -> list[Part]:
        return self.tools + self.system + [p for m in self.messages for p in m.parts]


def is_empty_text(b: Block) -> bool:
    return b.kind == "text" and not b.content.strip()


def layout(draft: Draft, *, keep: Callable[[Block], bool] = lambda b: True,
           cacheable: Callable[[Block], bool] = lambda b: True,
           max_breakpoints: int | None = None) -> Layout:
    """Arrange ``draft`` for the wire.

    Args:
        keep: which blocks this provider can send at all.
        cacheable: which blocks may carry a breakpoint (one that lands elsewhere moves
            back to the last cacheable element before it).
        max_breakpoints: raise UserError when the draft's breakpoints need more.
    """
    tools: list[Part] = []
    system: list[Part] = []
    messages: list[Message] = []
    for i, b in enumerate(draft.blocks):
        if not keep(b) or is_empty_text(b):
            continue
        part = Part(b, i)
        if b.kind == "tool":
            tools.append(part)
        elif b.role == "system" and not messages:
            system.append(part)
        else:
            role = "assistant" if b.role == "assistant" else "user"
            if not messages or messages[-1].role != role:
                messages.append(Message(role))
            messages[-1].parts.append(part)
    for m in messages:
        if m.role == "user":  # tool results first; stable, so each group keeps its order
            m.parts.sort(key=lambda p: p.block.kind != "tool_result")
    out = Layout(tools, system, messages)
    for pos, p in enumerate(out.parts()):
        p.position = pos
    _place(out, draft.breakpoints, cacheable, max_breakpoints)
    return out


def _place(out: Layout, breakpoints: list[Breakpoint], cacheable: Callable[[Block], bool],
           max_breakpoints: int | None) -> None:
    parts = out.parts()
    targets: dict[int, str] = {}
    for bp in breakpoints:
        covering = [p for p in parts if p.index <= bp.index and cacheable(p.block)]
        if not covering:
            continue  # nothing before it reaches the wire
        target = max(covering, key=lambda p: p.position)
        targets.setdefault(target.position, bp.ttl)  # the first (longest) TTL wins
    if max_breakpoints is not None and len(targets) > max_breakpoints:
        raise UserError(
            f"the draft asks for {len(targets)} cache breakpoints; the provider allows "
            f"{max_breakpoints}. Let the pipeline place them (profile cache rules) or mark "
            "fewer blocks with cache=")
    seen_short = False
    for pos in sorted(targets):
        ttl = targets[pos]
        if ttl == "5m":
            seen_short = True
        elif seen_short:  # the API requires longer TTLs first: never extend past a 5m
            ttl = "5m"
        parts[pos].ttl = ttl
