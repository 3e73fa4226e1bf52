"""Lost-in-the-middle ordering: the best evidence at the edges of a section.

Models use what sits at the start and the end of a long context better than what sits in
the middle (Liu et al., "Lost in the Middle", 2023). Owns the permutation only; knows
nothing of blocks.
"""

from __future__ import annotations

from collections.abc import Sequence


def edges_order(scores: Sequence[float]) -> list[int]:
    """Indices arranged best-first at the start, second-best at the end, and so on inward:
    ranks 1, 3, 5, ..., 6, 4, 2. Ties keep input order (deterministic)."""
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    head = ranked[0::2]
    tail = ranked[1::2]
    return head + tail[::-1]


def position(index: int, count: int) -> str:
    """Where item ``index`` of ``count`` sits: "start", "middle" or "end" (thirds)."""
    if count <= 0 or not 0 <= index < count:
        raise ValueError(f"index {index} out of range for {count} items")
    third = index * 3 // count
    return ("start", "middle", "end")[third]
