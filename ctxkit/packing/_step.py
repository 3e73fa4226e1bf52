"""The budget step: must-keep blocks first, then one packing of every layer's candidates.

Owns the seam between layers that *propose* candidates (``draft.propose``: flexible blocks
with a value, a cap group, a cap and an order) and the Packer that chooses among them —
once per call, for the whole prompt. It reserves the must-keep blocks, merges each
group's proposed cap with ``Budget.caps`` (the lower wins), asks the packer, drops the
rest (``draft.dropped``, with reasons in ``draft.why_dropped``) and applies each group's
order to what was kept (``"edges"``: the best at the start and end of its section).
Knows nothing of what the candidates contain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._draft import Draft
from .._errors import BudgetError, CtxkitError, UserError
from ._candidate import Candidate, Packer, Packing
from ._order import edges_order


class _CallablePacker:
    """A packer written for the first protocol (a callable returning indices)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def pack(self, candidates: Sequence[Candidate], budget: int,
             caps: Mapping[str, int] | None = None) -> Packing:
        chosen = sorted(set(self.fn(candidates, budget, dict(caps or {}))))
        kept = set(chosen)
        return Packing(chosen=chosen, values=[c.relevance for c in candidates],
                       dropped={i: "budget" for i in range(len(candidates)) if i not in kept},
                       method="custom",
                       tokens=sum(candidates[i].tokens for i in chosen
                                  if 0 <= i < len(candidates)))

    def __repr__(self) -> str:
        return repr(self.fn)


def as_packer(packer: Any) -> Packer:
    """``packer`` as a Packer: one with ``pack``, or a plain callable of the first protocol
    (``packer(candidates, budget, caps) -> indices``), which is wrapped."""
    if isinstance(packer, Packer):
        return packer
    if callable(packer):
        from .._deprecated import warn_once

        warn_once("callable packer", "a packer that is only callable is deprecated; give "
                  "it pack(candidates, budget, caps) -> ctxkit.packing.Packing")
        return _CallablePacker(packer)
    raise UserError(f"packer must be a ctxkit.packing Packer (e.g. KnapsackPacker()), got "
                    f"{type(packer).__name__}")


def apply_budget(draft: Draft, packer: Packer) -> None:
    """Drop candidates until the draft fits; raise BudgetError if must-keeps alone don't."""
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
            proposal = draft.proposals.get(id(b))
            candidates.append(Candidate(b, n, relevance=proposal.value if proposal else None))
            positions.append(i)
    if must_tokens > available:
        sizes = ", ".join(f"{k}={v:,}" for k, v in sorted(by_layer.items(), key=lambda kv: -kv[1]))
        raise BudgetError(
            f"must-keep blocks need {must_tokens:,} tokens but the budget allows {available:,} "
            f"({sizes}). Compact the history, shrink the prefix, or raise Budget(window=...)"
        )
    if not candidates:
        return
    caps = dict(draft.budget.caps)
    for g, cap in draft.caps.items():
        caps[g] = min(cap, caps.get(g, cap))
    packing = packer.pack(candidates, available - must_tokens, caps)
    chosen = sorted(set(packing.chosen))
    if any(i < 0 or i >= len(candidates) for i in chosen):
        raise CtxkitError(f"packer {packer!r} returned an index out of range")
    spent = sum(candidates[i].tokens for i in chosen)
    if spent > available - must_tokens:
        raise CtxkitError(f"packer {packer!r} exceeded the budget ({spent} > "
                          f"{available - must_tokens}); this is a bug in the packer")
    keep = {positions[i] for i in chosen}
    drop = set(positions) - keep
    draft.packing_method = packing.method
    draft.why_dropped = {candidates[j].block.key: packing.dropped.get(j, "budget")  # type: ignore[union-attr]
                         for j, i in enumerate(positions) if i in drop}
    draft.dropped = [draft.blocks[i] for i in sorted(drop)]
    draft.blocks = [b for i, b in enumerate(draft.blocks) if i not in drop]
    _order(draft, {id(c.block): c.relevance for c in candidates})


def _order(draft: Draft, values: dict[int, float]) -> None:
    """Rearrange each "edges" group's kept candidates within the slots they hold."""
    slots: dict[str, list[int]] = {}
    for i, b in enumerate(draft.blocks):
        p = draft.proposals.get(id(b))
        if p is not None and p.order == "edges" and not b.must_keep:
            slots.setdefault(b.group, []).append(i)
    for where in slots.values():
        blocks = [draft.blocks[i] for i in where]
        perm = edges_order([values.get(id(b), 0.0) for b in blocks])
        for i, j in zip(where, perm, strict=True):
            draft.blocks[i] = blocks[j]
