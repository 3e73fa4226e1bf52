"""Knapsack solvers: exact 0/1 dynamic programming with per-group caps, and greedy by
value per token with local repair.

Owns the optimization only: integer weights, float values, a budget, caps per group.
Knows nothing of blocks, relevance or redundancy (``_knapsack`` computes the values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where the DP runs: `import ctxkit.layers` stays slim
    import numpy as np


def dp_work(weights: Sequence[int], groups: Sequence[str], budget: int,
            caps: Mapping[str, int]) -> int:
    """Cells the exact solver would touch (how ``KnapsackPacker`` decides it is small)."""
    capped = {g for g in groups if g in caps}
    work = len(weights) * (budget + 1)
    for g in capped:
        work += (min(caps[g], budget) + 1) * (budget + 1)
    return work


def _curve(weights: list[int], values: list[float], cap: int) -> tuple[np.ndarray, np.ndarray]:
    """best[c]: the most value with total weight <= c; take[i, c] for the trace back."""
    import numpy as np

    best = np.zeros(cap + 1, dtype=np.float64)
    take = np.zeros((len(weights), cap + 1), dtype=bool)
    for i, (w, v) in enumerate(zip(weights, values, strict=True)):
        if w > cap:
            continue
        cand = best[: cap + 1 - w] + v
        better = cand > best[w:] + 1e-12
        take[i, w:] = better
        best[w:] = np.where(better, cand, best[w:])
    return best, take


def _trace(weights: list[int], take: np.ndarray, cap: int) -> list[int]:
    chosen: list[int] = []
    c = cap
    for i in range(len(weights) - 1, -1, -1):
        if take[i, c]:
            chosen.append(i)
            c -= weights[i]
    return chosen


def solve_exact(weights: Sequence[int], values: Sequence[float], groups: Sequence[str],
                budget: int, caps: Mapping[str, int]) -> list[int]:
    """Optimal 0/1 selection under ``budget`` and ``caps`` (groups not in caps share the
    budget freely). Capped groups are solved alone, then their value-by-tokens curves are
    combined with the rest by a max-plus convolution over the budget."""
    import numpy as np

    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g if g in caps else "", []).append(i)
    order = sorted(members, key=lambda g: (g != "", g))  # the uncapped pool first
    curves: list[tuple[str, np.ndarray, np.ndarray]] = []
    for g in order:
        idx = members[g]
        cap = budget if g == "" else min(caps[g], budget)
        best, take = _curve([weights[i] for i in idx], [values[i] for i in idx], cap)
        curves.append((g, best, take))
    # total[c] = best over the groups so far using <= c tokens; split[k][c] = tokens of group k
    splits: list[np.ndarray] = []
    total = np.zeros(budget + 1, dtype=np.float64)
    for k, (_, best, _) in enumerate(curves):
        if k == 0:  # nothing to share with yet: the first group may use any c it fits
            total[: len(best)] = best
            total[len(best):] = best[-1]
            splits.append(np.minimum(np.arange(budget + 1), len(best) - 1))
            continue
        new = total.copy()  # a = 0 tokens for this group
        arg = np.zeros(budget + 1, dtype=np.int64)
        for a in range(1, len(best)):
            cand = np.full(budget + 1, -np.inf)
            cand[a:] = total[: budget + 1 - a] + best[a]
            better = cand > new + 1e-12
            new = np.where(better, cand, new)
            arg = np.where(better, a, arg)
        total = new
        splits.append(arg)
    chosen: list[int] = []
    c = int(np.argmax(total)) if len(total) else 0
    for (g, _, take), arg in zip(reversed(curves), reversed(splits), strict=True):
        a = int(arg[c])
        idx = members[g]
        chosen.extend(idx[j] for j in _trace([weights[i] for i in idx], take, a))
        c -= a
    return sorted(chosen)


def solve_greedy(weights: Sequence[int], values: Sequence[float], groups: Sequence[str],
                 budget: int, caps: Mapping[str, int], *, max_swaps: int = 200) -> list[int]:
    """Greedy by value per token, then local repair: fill leftover room, swap one chosen
    item for a better unchosen one while that gains value, and keep the best single item
    if it beats the lot (the classic 1/2 guarantee)."""
    n = len(weights)
    used: dict[str, int] = {}
    left = budget
    chosen: set[int] = set()

    def fits(i: int, free_tokens: int = 0, free_group: str | None = None) -> bool:
        g = groups[i]
        room = left + free_tokens
        g_used = used.get(g, 0) - (free_tokens if free_group == g else 0)
        return weights[i] <= room and (g not in caps or g_used + weights[i] <= caps[g])

    def add(i: int) -> None:
        nonlocal left
        chosen.add(i)
        left -= weights[i]
        used[groups[i]] = used.get(groups[i], 0) + weights[i]

    def remove(i: int) -> None:
        nonlocal left
        chosen.discard(i)
        left += weights[i]
        used[groups[i]] -= weights[i]

    ratio = sorted(range(n), key=lambda i: (-values[i] / max(1, weights[i]), -values[i], i))
    for i in ratio:
        if values[i] > 0 and fits(i):
            add(i)
    by_value = sorted(range(n), key=lambda i: (-values[i], i))
    swaps = 0
    improved = True
    while improved and swaps < max_swaps:
        improved = False
        for u in by_value:
            if u in chosen or values[u] <= 0:
                continue
            if fits(u):
                add(u)
                improved = True
                continue
            for c in sorted(chosen, key=lambda i: (values[i], i)):
                if values[c] >= values[u]:
                    break
                if fits(u, weights[c], groups[c]):
                    remove(c)
                    add(u)
                    swaps += 1
                    improved = True
                    break
    total = sum(values[i] for i in chosen)
    single = max((i for i in range(n) if values[i] > 0 and weights[i] <= budget
                  and (groups[i] not in caps or weights[i] <= caps[groups[i]])),
                 key=lambda i: (values[i], -i), default=None)
    if single is not None and values[single] > total:
        return [single]
    return sorted(chosen)
