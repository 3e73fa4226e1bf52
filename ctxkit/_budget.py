"""The budget step: must-keep blocks first, then flexible candidates under per-layer caps.

Owns the seam between layers that *propose* candidates (blocks with ``must_keep=False``
and a ``score``) and the Packer that chooses among them. The default GreedyPacker takes
candidates by score while they fit; a knapsack packer plugs in through the same protocol.
Knows nothing of what the candidates contain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ._block import Block
from ._draft import Draft
from ._errors import BudgetError, CtxkitError


@dataclass(frozen=True, slots=True)
class Candidate:
    """A flexible block competing for the budget, with its token cost."""

    block: Block
    tokens: int

    @property
    def value(self) -> float:
        return self.block.score if self.block.score is not None else 0.0


class Packer(Protocol):
    """Chooses which candidates to keep.

    Returns indices into ``candidates``; their tokens must sum to at most ``budget`` and,
    per cap group, to at most ``caps[group]``. Order of the returned indices is ignored:
    kept blocks stay where their layer put them.
    """

    def __call__(self, candidates: Sequence[Candidate], budget: int,
                 caps: Mapping[str, int]) -> list[int]: ...


class GreedyPacker:
    """Highest score first; skip what does not fit (its budget or its group's cap)."""

    def __call__(self, candidates: Sequence[Candidate], budget: int,
                 caps: Mapping[str, int]) -> list[int]:
        order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].value, i))
        used: dict[str, int] = {}
        left = budget
        chosen: list[int] = []
        for i in order:
            c = candidates[i]
            group = c.block.group
            cap = caps.get(group)
            if c.tokens > left or (cap is not None and used.get(group, 0) + c.tokens > cap):
                continue
            chosen.append(i)
            left -= c.tokens
            used[group] = used.get(group, 0) + c.tokens
        return chosen


def apply_budget(draft: Draft, packer: Packer) -> None:
    """Drop flexible blocks until the draft fits; raise BudgetError if must-keeps alone don't."""
    available = draft.budget.available(draft.profile) - draft.framing_tokens
    must_tokens = 0
    by_layer: dict[str, int] = {}
    candidates: list[Candidate] = []
    positions: list[int] = []
    for i, b in enumerate(draft.blocks):
        n = draft.tokens(b)
        if b.must_keep:
            must_tokens += n
            by_layer[b.layer] = by_layer.get(b.layer, 0) + n
        else:
            candidates.append(Candidate(b, n))
            positions.append(i)
    if must_tokens > available:
        sizes = ", ".join(f"{k}={v:,}" for k, v in sorted(by_layer.items(), key=lambda kv: -kv[1]))
        raise BudgetError(
            f"must-keep blocks need {must_tokens:,} tokens but the budget allows {available:,} "
            f"({sizes}). Compact the history, shrink the prefix, or raise Budget(window=...)"
        )
    if not candidates:
        return
    caps = draft.budget.caps
    chosen = sorted(set(packer(candidates, available - must_tokens, caps)))
    if any(i < 0 or i >= len(candidates) for i in chosen):
        raise CtxkitError(f"packer {packer!r} returned an index out of range")
    spent = sum(candidates[i].tokens for i in chosen)
    if spent > available - must_tokens:
        raise CtxkitError(f"packer {packer!r} exceeded the budget ({spent} > "
                          f"{available - must_tokens}); this is a bug in the packer")
    keep = {positions[i] for i in chosen}
    drop = set(positions) - keep
    draft.dropped = [draft.blocks[i] for i in sorted(drop)]
    draft.blocks = [b for i, b in enumerate(draft.blocks) if i not in drop]
