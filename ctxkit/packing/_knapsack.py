"""KnapsackPacker: choose the candidates that maximize value under the token budget.

Owns the value of a candidate — relevance + freshness bonus − redundancy — the relevance
threshold, must-keep reservation, and the choice of solver (exact DP when the instance is
small, greedy with local repair when it is large). It is the pipeline's default packer
(``ContextPipeline(..., packer=KnapsackPacker(...))`` configures it) and is usable alone
through ``pack``. Knows nothing of layers: a candidate is tokens, a score, a group, text.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence

from .._errors import BudgetError, UserError
from ._candidate import Candidate, Packing
from ._solve import dp_work, solve_exact, solve_greedy

_WORDS = re.compile(r"\w+")


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
    little, an exact copy (with ``redundancy=1``) nothing. A candidate with no value at all
    (relevance 0, e.g. a block without a score) neither helps nor hurts: it fills room left
    after the solve, in order; a negative value is dropped.

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
        """Indices of the candidates to keep (``pack(...).chosen``)."""
        return self.pack(candidates, budget, caps).chosen

    def values(self, items: Sequence[Candidate]) -> tuple[list[float], dict[int, str]]:
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

    def pack(self, items: Sequence[Candidate], budget: int,
             caps: Mapping[str, int] | None = None) -> Packing:
        """Choose among ``items`` under ``budget`` tokens and ``caps`` per group.

        The last answer is also kept in ``self.last``."""
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
            elif values[i] <= 0 and not (values[i] == 0 and items[i].relevance == 0):
                dropped[i] = "redundant" if items[i].relevance > 0 else "below_threshold"
        # worth exactly nothing (no score): neither helps nor hurts; fills leftover room
        fillers = [i for i in pool if i not in dropped and values[i] == 0]
        pool = [i for i in pool if i not in dropped and values[i] != 0]
        w = [max(0, items[i].tokens) for i in pool]
        v = [values[i] for i in pool]
        groups = [items[i].group for i in pool]
        solve_left, solve_room = _binding(w, groups, left, room)
        if dp_work(w, groups, solve_left, solve_room) <= self.max_exact_work:
            picked, method = solve_exact(w, v, groups, solve_left, solve_room), "exact"
        else:
            picked, method = solve_greedy(w, v, groups, solve_left, solve_room), "greedy"
        taken = [pool[j] for j in picked]
        spent = sum(items[i].tokens for i in taken)
        used: dict[str, int] = {}
        for i in taken:
            used[items[i].group] = used.get(items[i].group, 0) + items[i].tokens
        for i in fillers:
            g, n = items[i].group, items[i].tokens
            if spent + n <= left and (g not in room or used.get(g, 0) + n <= room[g]):
                taken.append(i)
                spent += n
                used[g] = used.get(g, 0) + n
        pool += fillers
        chosen = sorted(must + taken)
        kept = set(chosen)
        for i in pool:
            if i not in kept:
                dropped[i] = "budget"
        self.last = Packing(chosen=chosen, values=values, dropped=dict(sorted(dropped.items())),
                            method=method, tokens=sum(items[i].tokens for i in chosen))
        return self.last


def _binding(weights: Sequence[int], groups: Sequence[str], budget: int,
             caps: Mapping[str, int]) -> tuple[int, dict[str, int]]:
    """The budget and caps that can bind: a limit above what the candidates could ever use
    is lifted, which leaves the feasible sets — and so the answer — unchanged, and keeps
    one packing step over the whole prompt as small as a packing of one section."""
    by_group: dict[str, int] = {}
    for w, g in zip(weights, groups, strict=True):
        by_group[g] = by_group.get(g, 0) + w
    usable = sum(min(caps[g], n) if g in caps else n for g, n in by_group.items())
    budget = min(budget, usable)
    return budget, {g: c for g, c in caps.items()
                    if g in by_group and c < min(budget, by_group[g])}
