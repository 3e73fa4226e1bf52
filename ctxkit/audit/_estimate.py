"""Cache hit rate and prompt cost of a session under two layouts, through ctxkit's own
cache model (``ctxkit._cache``): the layout as recorded, and ctxkit's ordering.

Owns building both layouts' blocks and replaying them call by call through ``CacheModel``
and ``place_breakpoints`` (``Simulator``: one call at a time, so a log is never held
whole). Knows nothing of file formats or rendering.

* **recorded**: the blocks as sent. Where the requests carry cache markers (Anthropic
  ``cache_control``) they are used as they are; otherwise the layout gets the breakpoints
  a careful user of it would set: after the leading system/tools blocks and on the last
  block of each prompt.
* **ctxkit**: system first, then tools sorted by name in canonical JSON (the Prefix
  layer); date- and id-like text that changes between calls taken out of the system prompt
  and sent at the end (from the first call where it changes: ``Scrubber``); the history
  append-only with a moving breakpoint on its last block,
  after which come the blocks the agent itself drops from its next prompt (per-turn text
  such as reminders); a tool output identical to an earlier one replaced by a reference.

Both layouts use 5-minute breakpoints: sessions are replayed one at a time,
``CALL_INTERVAL_S`` apart, so a 1h TTL would only add write cost here (ctxkit's Prefix asks
for 1h in deployment, where sessions share the head). Costs are prompt (input) costs only;
replies are the same under both layouts.
"""

from __future__ import annotations

import functools
import itertools
import json
import re

from .._block import Block, canonical_json
from .._cache import CacheModel, place_breakpoints
from .._draft import Budget, Draft
from .._drift import _ID_LIKE
from .._profile import Profile
from .._record import cost_usd
from .._tokens import TokenCounter
from .._types import Usage
from ._causes import DATE_SHAPES
from ._count import SegmentCounter
from ._model import LayoutEstimate

CALL_INTERVAL_S = 30.0
_VOLATILE = re.compile(f"(?:{DATE_SHAPES.pattern})|(?:{_ID_LIKE.pattern})", re.IGNORECASE)



def head_length(blocks: list[Block]) -> int:
    """Number of leading system/tools blocks: the region meant to stay stable."""
    n = 0
    while n < len(blocks) and blocks[n].layer in ("system", "tools"):
        n += 1
    return n


def recorded_blocks(blocks: list[Block], has_cache_markers: bool) -> list[Block]:
    """One call's blocks as recorded, with the breakpoints described above."""
    if has_cache_markers:
        return list(blocks)
    out = [b.replace(cache=None) if b.cache else b for b in blocks]
    n = head_length(out)
    for i in {n - 1, len(out) - 1} - {-1}:
        out[i] = out[i].replace(cache="5m")
    return out


@functools.lru_cache(maxsize=64)
def scrub(text: str) -> tuple[str, tuple[str, ...]]:
    """Date- and id-like text taken out of ``text``, and what was taken (memoized: a
    system prompt repeats call after call)."""
    found = tuple(m.group(0) for m in _VOLATILE.finditer(text))
    return (_VOLATILE.sub("", text) if found else text), found


class Scrubber:
    """Decides, call by call, whether ctxkit's layout takes volatile text out of the system
    prompt: from the first call whose system text differs from the previous call's only in
    date- or id-like text, on (sticky, so the head stays stable from then on)."""

    def __init__(self) -> None:
        self.on = False
        self._last: tuple[str, ...] | None = None

    def update(self, blocks: list[Block]) -> bool:
        system = tuple(b.content for b in blocks[:head_length(blocks)] if b.layer == "system")
        if not self.on and self._last is not None and system != self._last \
                and tuple(scrub(t)[0] for t in system) == tuple(scrub(t)[0]
                                                                for t in self._last):
            self.on = True
        self._last = system
        return self.on


@functools.lru_cache(maxsize=256)
def _canonical_content(content: str) -> str:
    try:
        return canonical_json(json.loads(content))
    except ValueError:
        return content


def _canonical_tool(b: Block) -> Block:
    content = _canonical_content(b.content)
    return b if content == b.content else b.replace(content=content)


def ctxkit_blocks(blocks: list[Block], where: list[str], *, scrubbing: bool,
                  next_hashes: set[str] | None) -> list[Block]:
    """One call's blocks in ctxkit's order (see the module docstring); ``next_hashes`` are
    the block hashes of the call that continues this one, when there is one."""
    n = head_length(blocks)
    moved: list[str] = []
    system = []
    for b in blocks[:n]:
        if b.layer == "system" and scrubbing:
            text, found = scrub(b.content)
            moved += list(found)
            b = b.replace(content=text)
        if b.layer == "system":
            system.append(b)
    tools = sorted((_canonical_tool(b) for b in blocks[:n] if b.layer == "tools"),
                   key=lambda b: b.name or b.key)
    stable = system + tools
    rest = list(blocks[n:])
    tail = 0
    if next_hashes is not None:
        while tail < len(rest) and rest[len(rest) - 1 - tail].hash not in next_hashes:
            tail += 1
    history = _dedupe(rest[:len(rest) - tail], where[n:])
    turn = rest[len(rest) - tail:]
    if moved:
        turn.append(Block(layer="user", role="user", key="moved-from-system",
                          content="\n".join(moved)))
    if stable:
        stable[-1] = stable[-1].replace(cache="5m")
    if history:
        history[-1] = history[-1].replace(cache="5m")
    return stable + history + turn


def _dedupe(blocks: list[Block], where: list[str]) -> list[Block]:
    """Observations identical to an earlier one in the prompt become a reference to it."""
    first: dict[str, str] = {}
    out = []
    for b, at in zip(blocks, where, strict=False):
        if b.layer == "observation":
            seen = first.setdefault(b.content, at)
            ref = f"[identical to the output at {seen}]"
            if seen != at and len(ref) < len(b.content):
                b = b.replace(content=ref)
        out.append(b)
    return out


class Simulator:
    """Replays one layout's calls through ctxkit's cache model, one call at a time."""

    def __init__(self, profile: Profile, count: SegmentCounter, *, raw: bool) -> None:
        self.profile = profile
        self.count = count
        self.raw = raw
        self.cache = CacheModel(profile.cache)
        self.counter = TokenCounter(None)  # chains only; tokens come from ``count``
        self.estimate = LayoutEstimate()
        self.calls = 0

    def step(self, blocks: list[Block]) -> int:
        """Simulate the next call; returns its predicted cache-read tokens."""
        profile = self.profile
        tokens = [self.count.block(b, raw=self.raw) for b in blocks]
        cumulative = list(itertools.accumulate(tokens))
        breakpoints = place_breakpoints(blocks, cumulative, profile.cache)
        chain = Draft(profile=profile, counter=self.counter, budget=Budget()).extend(
            blocks).chain()
        now = self.calls * CALL_INTERVAL_S
        self.calls += 1
        pred = self.cache.predict(chain, cumulative, breakpoints, now)
        self.cache.commit(chain, cumulative, breakpoints, pred.read, now)
        usage = Usage(input_tokens=pred.total, cache_read_tokens=pred.read,
                      cache_write_tokens=pred.write, cache_write_1h_tokens=pred.write_1h)
        self.estimate.add(LayoutEstimate(input_tokens=pred.total, cache_read_tokens=pred.read,
                                         cache_write_tokens=pred.write,
                                         cost_usd=cost_usd(usage, profile.prices)))
        return pred.read
