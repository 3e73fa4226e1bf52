"""GreedyPacker: the simplest packer — highest relevance first, skip what does not fit.

Owns that rule only. It is what ``KnapsackPacker`` is measured against, and a choice for
callers who want "best first until full" and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._candidate import Candidate, Packing


class GreedyPacker:
    """Highest relevance first; skip what does not fit (its budget or its group's cap)."""

    def pack(self, candidates: Sequence[Candidate], budget: int,
             caps: Mapping[str, int] | None = None) -> Packing:
        caps = caps or {}
        order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].relevance, i))
        used: dict[str, int] = {}
        left = budget
        chosen: list[int] = []
        dropped: dict[int, str] = {}
        for i in order:
            c = candidates[i]
            cap = caps.get(c.group)
            if c.tokens > left or (cap is not None and used.get(c.group, 0) + c.tokens > cap):
                too_large = c.tokens > budget or (cap is not None and c.tokens > cap)
                dropped[i] = "too_large" if too_large else "budget"
                continue
            chosen.append(i)
            left -= c.tokens
            used[c.group] = used.get(c.group, 0) + c.tokens
        return Packing(chosen=sorted(chosen), values=[c.relevance for c in candidates],
                       dropped=dict(sorted(dropped.items())), method="greedy",
                       tokens=budget - left)

    def __call__(self, candidates: Sequence[Candidate], budget: int,
                 caps: Mapping[str, int]) -> list[int]:
        """The chosen indices alone, in the order they were taken."""
        return _taken_order(candidates, self.pack(candidates, budget, caps).chosen)


def _taken_order(candidates: Sequence[Candidate], chosen: list[int]) -> list[int]:
    return sorted(chosen, key=lambda i: (-candidates[i].relevance, i))
