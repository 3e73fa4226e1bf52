"""KnapsackPacker: choose the candidates that maximize value under the token budget.

Owns the value of a candidate — relevance + freshness bonus − redundancy — the relevance
threshold, must-keep reservation, and the choice of solver (exact DP when the instance is
small, greedy with local repair when it is large). Plugs into the pipeline's budget step
as its ``Packer`` (``ContextPipeline(..., packer=KnapsackPacker())``) and is usable alone
through ``pack``. Knows nothing of layers: a candidate is tokens, a score, a group, text.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .._budget import Candidate
from .._errors import BudgetError, UserError
from ._solve import dp_work, solve_exact, solve_greedy

_WORDS = re.compile(r"\w+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One thing competing for the budget.

    Attributes:
        tokens: its cost.
        relevance: its score (higher is better; the threshold applies to it).
        group: the cap group it counts against.
        must_keep: reserved before anything else is considered.
        text: its content, for the redundancy penalty (empty: never redundant).
        at: when its source was last written (unix seconds), for the freshness bonus.
    """

    tokens: int
    relevance: float = 0.0
    group: str = ""
    must_keep: bool = False
    text: str = ""
    at: float | None = None


@dataclass(slots=True)
class Packing:
    """The outcome: chosen indices (sorted), each item's value, and why others were dropped
    (``below_threshold``, ``redundant``, ``too_large``, ``budget``)."""

    chosen: list[int]
    values: list[float]
    dropped: dict[int, str] = field(default_factory=dict)
    method: str = "exact"
    tokens: int = 0


def shingles(text: str, n: int = 3) -> frozenset[int]:
    """Hashed word n-grams of ``text`` (lowercased): the redundancy fingerprint."""
    words = _WORDS.findall(text.lower())
    if len(words) < n:
        return frozenset({zlib.crc32(" ".join(words).encode())}) if words else frozenset()
    return frozenset(zlib.crc32(" ".join(words[i:i + n]).encode())
                     for i in range(len(words) - n + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class KnapsackPacker:
    """Maximize Σ value under the budget and per-group caps.

    value = relevance + freshness·0.5^(age/half_life) − redundancy·(max similarity to a
    more valuable candidate)·(relevance + bonus): a near-copy of a better candidate is worth
    little, an exact copy (with ``redundancy=1``) nothing.

    Args:
        min_score: candidates with relevance below this are dropped even if budget is left.
        redundancy: weight of the near-duplicate penalty (0 disables it).
        freshness: the bonus of a candidate written just now (0 disables it).
        half_life_s: age at which the freshness bonus halves.
        max_exact_work: DP cells (items × budget, plus caps) up to which the exact solver runs.
        clock: seconds since the epoch (injectable for tests).
    """

    def __init__(self, *, min_score: float = 0.0, redundancy: float = 0.5,
                 freshness: float = 0.0, half_life_s: float = 7 * 86400.0,
                 max_exact_work: int = 4_000_000,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0.0 <= redundancy <= 1.0:
            raise UserError(f"redundancy must be in [0, 1], got {redundancy}")
        if freshness < 0 or half_life_s <= 0:
            raise UserError("freshness must be >= 0 and half_life_s > 0")
        self.min_score = min_score
        self.redundancy = redundancy
        self.freshness = freshness
        self.half_life_s = half_life_s
        self.max_exact_work = max_exact_work
        self.clock = clock
        self.last: Packing | None = None

    def __call__(self, candidates: Sequence[Candidate], budget: int,
                 caps: Mapping[str, int]) -> list[int]:
        """The pipeline's Packer protocol: indices of the candidates to keep."""
        items = [Item(tokens=c.tokens, relevance=c.value, group=c.block.group,
                      must_keep=c.block.must_keep, text=c.block.content,
                      at=c.block.provenance.at if c.block.provenance else None)
                 for c in candidates]
        self.last = self.pack(items, budget, caps)
        return self.last.chosen

    def values(self, items: Sequence[Item]) -> tuple[list[float], dict[int, str]]:
        """Each item's value, and the items dropped before solving (threshold, redundant)."""
        now = self.clock()
        base: list[float] = []
        for it in items:
            bonus = 0.0
            if self.freshness and it.at is not None:
                bonus = self.freshness * 0.5 ** (max(0.0, now - it.at) / self.half_life_s)
            base.append(it.relevance + bonus)
        dropped: dict[int, str] = {}
        for i, it in enumerate(items):
            if not it.must_keep and it.relevance < self.min_score:
                dropped[i] = "below_threshold"
        values = list(base)
        if self.redundancy > 0:
            order = sorted((i for i in range(len(items)) if i not in dropped),
                           key=lambda i: (-base[i], i))
            prints = {i: shingles(items[i].text) for i in order if items[i].text}
            for pos, i in enumerate(order):
                if items[i].must_keep or i not in prints:
                    continue
                sim = max((jaccard(prints[i], prints[j]) for j in order[max(0, pos - 64):pos]
                           if j in prints), default=0.0)
                values[i] = base[i] - self.redundancy * sim * abs(base[i])
                if sim >= 0.999 and self.redundancy >= 1.0:
                    dropped[i] = "redundant"
        return values, dropped

    def pack(self, items: Sequence[Item], budget: int,
             caps: Mapping[str, int] | None = None) -> Packing:
        """Choose among ``items`` under ``budget`` tokens and ``caps`` per group."""
        caps = dict(caps or {})
        if budget < 0:
            raise UserError(f"budget must be >= 0, got {budget}")
        must = [i for i, it in enumerate(items) if it.must_keep]
        must_tokens = sum(items[i].tokens for i in must)
        if must_tokens > budget:
            raise BudgetError(f"must-keep items need {must_tokens:,} tokens but the budget "
                              f"is {budget:,}; raise the budget or mark fewer must-keep")
        left = budget - must_tokens
        room = dict(caps)
        for i in must:  # must-keeps use up their group's cap first
            g = items[i].group
            if g in room:
                room[g] = max(0, room[g] - items[i].tokens)
        values, dropped = self.values(items)
        pool = [i for i in range(len(items)) if not items[i].must_keep and i not in dropped]
        for i in pool:
            g = items[i].group
            if items[i].tokens > left or (g in room and items[i].tokens > room[g]):
                dropped[i] = "too_large"
            elif values[i] <= 0:
                dropped[i] = "redundant" if items[i].relevance > 0 else "below_threshold"
        pool = [i for i in pool if i not in dropped]
        w = [max(0, items[i].tokens) for i in pool]
        v = [values[i] for i in pool]
        groups = [items[i].group for i in pool]
        if dp_work(w, groups, left, room) <= self.max_exact_work:
            picked, method = solve_exact(w, v, groups, left, room), "exact"
        else:
            picked, method = solve_greedy(w, v, groups, left, room), "greedy"
        chosen = sorted(must + [pool[j] for j in picked])
        kept = set(chosen)
        for i in pool:
            if i not in kept:
                dropped[i] = "budget"
        return Packing(chosen=chosen, values=values, dropped=dict(sorted(dropped.items())),
                       method=method, tokens=sum(items[i].tokens for i in chosen))
