"""The prefix-cache model: where breakpoints go, and which tokens a call would read from
cache, write to cache, or send uncached, under a profile's cache rules.

Owns the per-session memory of what was cached (hash chain entries with expiry). Knows
nothing of wire formats. Three kinds of rules (see CacheRules):

* explicit (Anthropic): entries are created at breakpoints whose prefix reaches
  ``min_tokens``; a breakpoint hits the longest entry among itself and the
  ``lookback_blocks`` blocks before it; a read refreshes the entry's TTL.
* automatic (OpenAI): the longest previously sent prefix is cached from ``min_tokens`` in
  ``increment`` steps; writes cost nothing extra.
* paged (vLLM, SGLang, the local engine): the longest previously sent prefix, floored to
  whole KV blocks, never the whole prompt (the last token is always computed).

Predictions are made at block granularity, except where a token-prefix cache (automatic,
paged) still holds the start of a block that changed: the caller, which diagnosed the
change, passes a ``PartialHit`` (the tokens of that block before the first difference), so
the predicted read runs to the token, then is floored by the provider's rule (OpenAI: from
1,024 tokens in 128-token steps). Records flag disagreements with reported usage.
Where ctxkit renders the prompt's token ids itself (``Backend.render_ids``: the local
engine, or ``ctxkit serve`` through its ``/tokenize``), ``TokenMirror`` predicts at token
level instead, exactly as the engine's paged prefix cache matches: whole KV blocks of what
it computed before (prompts and replies), in the order the chat template rendered them.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass, field

from ._block import Block
from ._draft import Breakpoint
from ._profile import CacheRules

_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_AUTOMATIC_TTL = 300.0  # OpenAI keeps prefixes 5-10 minutes idle; assume the lower bound


def place_breakpoints(blocks: list[Block], cumulative: list[int], rules: CacheRules
                      ) -> list[Breakpoint]:
    """Breakpoints after blocks that asked for caching, within the profile's rules.

    A longer TTL may not follow a shorter one (the API requires 1h before 5m), so a 1h
    request after a 5m one is downgraded. Prefixes shorter than ``min_tokens`` are not
    cacheable and get no breakpoint. When more are requested than allowed, the last one
    (the moving history breakpoint) is kept and the others are kept where they cover the
    most new tokens.
    """
    if rules.kind != "explicit" or rules.max_breakpoints == 0:
        return []
    wanted: list[Breakpoint] = []
    seen_5m = False
    for i, b in enumerate(blocks):
        if b.cache is None or cumulative[i] < rules.min_tokens:
            continue
        ttl = b.cache if b.cache in rules.ttls else rules.ttls[0]
        if ttl == "5m":
            seen_5m = True
        elif seen_5m:
            ttl = "5m"
        wanted.append(Breakpoint(i, ttl))  # type: ignore[arg-type]
    while len(wanted) > rules.max_breakpoints:
        # drop the breakpoint (never the last) whose span since the previous one is smallest
        def span(k: int) -> int:
            prev = cumulative[wanted[k - 1].index] if k else 0
            return cumulative[wanted[k].index] - prev

        k = min(range(len(wanted) - 1), key=span)
        del wanted[k]
    return wanted


@dataclass(frozen=True, slots=True)
class PartialHit:
    """The start of a changed block that a token-prefix cache still serves.

    The block at ``index`` differs from the one a cached prompt had there, but only after
    its first ``tokens`` tokens; ``key`` is the chain entry of that cached prompt's block
    (its own fingerprint of blocks[0..index]), which must still be cached for the hit.
    """

    index: int
    tokens: int
    key: str


@dataclass(frozen=True, slots=True)
class Prediction:
    """Tokens of the block region of one call, split by how the cache treats them."""

    read: int
    write_5m: int
    write_1h: int
    total: int

    @property
    def write(self) -> int:
        return self.write_5m + self.write_1h

    @property
    def uncached(self) -> int:
        return self.total - self.read - self.write


class TokenMirror:
    """What a paged prefix cache holds, by token: the hash chain of every full KV block of
    the token sequences it computed (the engine's ``BlockManager`` keys blocks the same way).

    ``match`` answers as the engine does: the longest run of cached whole blocks from the
    start, never covering the last token (its logits must be computed). Eviction is not
    modelled; an engine too small for the session reports fewer hits than predicted.
    """

    def __init__(self, block_size: int) -> None:
        self.block_size = block_size
        self.keys: set[bytes] = set()

    def _chain(self, ids: list[int], num_blocks: int) -> list[bytes]:
        bs, parent, out = self.block_size, b"", []
        for i in range(num_blocks):
            parent = hashlib.blake2b(parent + array("q", ids[i * bs:(i + 1) * bs]).tobytes(),
                                     digest_size=16).digest()
            out.append(parent)
        return out

    def match(self, ids: list[int]) -> int:
        """Prompt tokens the cache would serve for ``ids``."""
        hits = 0
        for key in self._chain(ids, max(0, len(ids) - 1) // self.block_size):
            if key not in self.keys:
                break
            hits += 1
        return hits * self.block_size

    def commit(self, ids: list[int]) -> None:
        """Remember that the K/V of ``ids`` were computed (full blocks become cached)."""
        self.keys.update(self._chain(ids, len(ids) // self.block_size))


@dataclass
class _Entry:
    tokens: int
    expires: float
    ttl: float


@dataclass
class CacheModel:
    """What one session has cached, and what the next call would read or write."""

    rules: CacheRules
    entries: dict[str, _Entry] = field(default_factory=dict)
    mirror: TokenMirror | None = None

    def predict_ids(self, ids: list[int]) -> Prediction:
        """The prediction for a prompt whose exact token ids are known (paged caches)."""
        if self.rules.kind != "paged" or not self.rules.block_size:
            return Prediction(0, 0, 0, len(ids))
        if self.mirror is None:
            self.mirror = TokenMirror(self.rules.block_size)
        return Prediction(self.mirror.match(ids), 0, 0, len(ids))

    def commit_ids(self, computed: list[int]) -> None:
        """Remember the token ids whose K/V a call computed (its prompt and its reply)."""
        if self.mirror is not None:
            self.mirror.commit(computed)

    def predict(self, chain: list[str], cumulative: list[int], breakpoints: list[Breakpoint],
                now: float, partial: PartialHit | None = None) -> Prediction:
        """What this call would read and write; ``partial`` (token-prefix caches only)
        extends the hit into the first changed block."""
        total = cumulative[-1] if cumulative else 0
        kind = self.rules.kind
        if kind == "none" or not chain:
            return Prediction(0, 0, 0, total)
        if kind == "explicit":
            return self._predict_explicit(chain, cumulative, breakpoints, now, total)
        hit = self._longest_hit(chain, cumulative, now)
        if partial is not None and 0 <= partial.index < len(cumulative):
            e = self.entries.get(partial.key)
            start = cumulative[partial.index - 1] if partial.index else 0
            if e is not None and e.expires > now and hit == start:
                hit = start + max(0, min(partial.tokens, cumulative[partial.index] - start))
        if kind == "automatic":
            read = 0
            if hit >= self.rules.min_tokens:
                steps = (hit - self.rules.min_tokens) // self.rules.increment
                read = self.rules.min_tokens + steps * self.rules.increment
            return Prediction(read, 0, 0, total)
        bs = self.rules.block_size
        read = (min(hit, total - 1) // bs) * bs if total else 0
        return Prediction(max(0, read), 0, 0, total)

    def _longest_hit(self, chain: list[str], cumulative: list[int], now: float) -> int:
        for i in range(len(chain) - 1, -1, -1):
            e = self.entries.get(chain[i])
            if e is not None and e.expires > now:
                return cumulative[i]
        return 0

    def _predict_explicit(self, chain: list[str], cumulative: list[int],
                          breakpoints: list[Breakpoint], now: float, total: int) -> Prediction:
        read = 0
        for bp in breakpoints:
            lo = max(0, bp.index - self.rules.lookback_blocks)
            for j in range(bp.index, lo - 1, -1):
                e = self.entries.get(chain[j])
                if e is not None and e.expires > now:
                    read = max(read, cumulative[j])
                    break
        write_1h = write_5m = 0
        done = read
        for bp in breakpoints:
            end = cumulative[bp.index]
            if end <= done:
                continue
            if bp.ttl == "1h":
                write_1h += end - done
            else:
                write_5m += end - done
            done = end
        return Prediction(read, write_5m, write_1h, total)

    def commit(self, chain: list[str], cumulative: list[int], breakpoints: list[Breakpoint],
               read: int, now: float) -> None:
        """Remember what a successful call cached (and refresh what it read)."""
        if self.rules.kind == "none":
            return
        if self.rules.kind == "explicit":
            for bp in breakpoints:
                ttl = _TTL_SECONDS[bp.ttl]
                self.entries[chain[bp.index]] = _Entry(cumulative[bp.index], now + ttl, ttl)
            in_chain = set(chain)
            for h, e in self.entries.items():
                if h in in_chain and e.tokens <= read and e.expires > now:
                    e.expires = now + e.ttl
        else:
            ttl = _AUTOMATIC_TTL if self.rules.kind == "automatic" else float("inf")
            for h, n in zip(chain, cumulative, strict=True):
                self.entries[h] = _Entry(n, now + ttl, ttl)
        self.entries = {h: e for h, e in self.entries.items() if e.expires > now}
