"""Cache hit rate and prompt cost of a session under two layouts, through ctxkit's own
cache model (``ctxkit._cache``): the layout as recorded, and ctxkit's ordering.

Owns building both layouts' blocks and replaying them call by call through ``CacheModel``
and ``place_breakpoints``. Knows nothing of file formats or rendering.

* **recorded**: the blocks as sent. Where the requests carry cache markers (Anthropic
  ``cache_control``) they are used as they are; otherwise the layout gets the breakpoints
  a careful user of it would set: after the leading system/tools blocks and on the last
  block of each prompt.
* **ctxkit**: system first, then tools sorted by name in canonical JSON (the Prefix
  layer); date- and id-like text that changes between calls taken out of the system prompt
  and sent at the end; the history append-only with a moving breakpoint on its last block,
  after which come the blocks the agent itself drops from its next prompt (per-turn text
  such as reminders); a tool output identical to an earlier one replaced by a reference.

Both layouts use 5-minute breakpoints: sessions are replayed one at a time,
``CALL_INTERVAL_S`` apart, so a 1h TTL would only add write cost here (ctxkit's Prefix asks
for 1h in deployment, where sessions share the head). Costs are prompt (input) costs only;
replies are the same under both layouts.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable

from .._block import Block, canonical_json
from .._cache import CacheModel, place_breakpoints
from .._draft import Budget, Draft
from .._drift import _DATE_LIKE, _ID_LIKE
from .._profile import Profile
from .._record import cost_usd
from .._tokens import TokenCounter
from .._types import Usage
from ._model import LayoutEstimate
from ._prompt import RecordedSession, header

CALL_INTERVAL_S = 30.0
_VOLATILE = re.compile(f"(?:{_DATE_LIKE.pattern})|(?:{_ID_LIKE.pattern})", re.IGNORECASE)

Count = Callable[[str], int]


def head_length(blocks: list[Block]) -> int:
    """Number of leading system/tools blocks: the region meant to stay stable."""
    n = 0
    while n < len(blocks) and blocks[n].layer in ("system", "tools"):
        n += 1
    return n


def recorded_layout(session: RecordedSession) -> list[list[Block]]:
    if session.has_cache_markers:
        return [list(c.blocks) for c in session.calls]
    out = []
    for c in session.calls:
        blocks = [b.replace(cache=None) if b.cache else b for b in c.blocks]
        n = head_length(blocks)
        for i in {n - 1, len(blocks) - 1} - {-1}:
            blocks[i] = blocks[i].replace(cache="5m")
        out.append(blocks)
    return out


def _scrub(text: str) -> tuple[str, list[str]]:
    return _VOLATILE.sub("", text), [m.group(0) for m in _VOLATILE.finditer(text)]


def _should_scrub(session: RecordedSession) -> bool:
    """Scrub only where the system text varies and scrubbing makes it vary less."""
    variants = {tuple(b.content for b in c.blocks[:head_length(c.blocks)]
                      if b.layer == "system") for c in session.calls}
    scrubbed = {tuple(_scrub(t)[0] for t in v) for v in variants}
    return len(variants) > 1 and len(scrubbed) < len(variants)


def _canonical_tool(b: Block) -> Block:
    try:
        content = canonical_json(json.loads(b.content))
    except ValueError:
        return b
    return b.replace(content=content)


def ctxkit_layout(session: RecordedSession, parents: list[int | None]) -> list[list[Block]]:
    """Each call's blocks in ctxkit's order (see the module docstring)."""
    scrub = _should_scrub(session)
    calls = session.calls
    child = {p: k for k, p in reversed(list(enumerate(parents))) if p is not None}
    out = []
    for k, call in enumerate(calls):
        blocks = call.blocks
        n = head_length(blocks)
        moved: list[str] = []
        system = []
        for b in blocks[:n]:
            if b.layer == "system" and scrub:
                text, found = _scrub(b.content)
                moved += found
                b = b.replace(content=text)
            if b.layer == "system":
                system.append(b)
        tools = sorted((_canonical_tool(b) for b in blocks[:n] if b.layer == "tools"),
                       key=lambda b: b.name or b.key)
        stable = system + tools
        rest = list(blocks[n:])
        tail = 0
        if k in child:
            kept = {b.hash for b in calls[child[k]].blocks}
            while tail < len(rest) and rest[len(rest) - 1 - tail].hash not in kept:
                tail += 1
        history = _dedupe(rest[:len(rest) - tail], call.where[n:])
        turn = rest[len(rest) - tail:]
        if moved:
            turn.append(Block(layer="user", role="user", key="moved-from-system",
                              content="\n".join(moved)))
        if stable:
            stable[-1] = stable[-1].replace(cache="5m")
        if history:
            history[-1] = history[-1].replace(cache="5m")
        out.append(stable + history + turn)
    return out


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


def simulate(layout: list[list[Block]], profile: Profile, count: Count, *, raw: bool
             ) -> tuple[LayoutEstimate, list[int]]:
    """Replay the calls through ctxkit's cache model; the estimate and each call's reads."""
    cache = CacheModel(profile.cache)
    draft_counter = TokenCounter(None)  # chains only; tokens come from ``count``
    est = LayoutEstimate()
    reads = []
    for k, blocks in enumerate(layout):
        tokens = [count(b.content if raw else header(b) + b.content + "\n") for b in blocks]
        cumulative = list(itertools.accumulate(tokens))
        breakpoints = place_breakpoints(blocks, cumulative, profile.cache)
        draft = Draft(profile=profile, counter=draft_counter, budget=Budget()).extend(blocks)
        chain = draft.chain()
        now = k * CALL_INTERVAL_S
        pred = cache.predict(chain, cumulative, breakpoints, now)
        cache.commit(chain, cumulative, breakpoints, pred.read, now)
        usage = Usage(input_tokens=pred.total, cache_read_tokens=pred.read,
                      cache_write_tokens=pred.write, cache_write_1h_tokens=pred.write_1h)
        est.add(LayoutEstimate(input_tokens=pred.total, cache_read_tokens=pred.read,
                               cache_write_tokens=pred.write,
                               cost_usd=cost_usd(usage, profile.prices)))
        reads.append(pred.read)
    return est, reads
