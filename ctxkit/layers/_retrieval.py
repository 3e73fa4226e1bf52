"""Retrieval layer: search an Index with this turn's query and propose the best chunks as
flexible candidates, ordered with the best evidence at the edges of the section.

Owns building the query (user turn + the state's current plan step + the latest error in
the transcript), packing the hits into the layer's share of the budget with the knapsack
packer, ordering the chosen blocks best-at-the-edges (so they stay at the edges even if the
pipeline's budget step later drops some: a subsequence of an edges order is still
edges-shaped), and logging query, rewrite, ids, scores, packed and dropped under
``draft.extras["retrieval"]``, which the CallRecord keeps. Knows nothing of how the index
ranks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .._block import Block, Provenance
from .._draft import Draft
from .._errors import UserError
from .._types import Turn
from ..packing import Item, KnapsackPacker, edges_order, position

_ERRORISH = re.compile(r"Traceback \(most recent call last\)|\b\w*(Error|Exception)\b|FAILED")


def latest_error(transcript: Sequence[Block], *, lookback: int = 12) -> str | None:
    """The last tool result in the recent transcript, if it reports a failure."""
    for b in reversed(transcript[-lookback:]):
        if b.kind == "tool_result":
            return b.content if (b.is_error or _ERRORISH.search(b.content)) else None
    return None


def current_step(state: Any) -> str | None:
    """The plan step in progress (else the first not done) of a ctxkit.WorkingState-like object."""
    plan = getattr(state, "plan", None) or []
    for wanted in (("doing", "in_progress", "active"), ("todo", "pending")):
        for step in plan:
            if getattr(step, "status", None) in wanted:
                return str(getattr(step, "text", step))
    return None


class _RetrievalLog:
    """The retrieval part of a call's extras, resolved against the final (packed) draft."""

    def __init__(self) -> None:
        self.searches: list[dict[str, Any]] = []

    def __call__(self, draft: Draft) -> dict[str, Any]:
        keys = [b.key for b in draft.blocks]
        kept = set(keys)
        out = []
        for s in self.searches:
            mine = set(s["keys"])
            section = [k for k in keys if k in mine]
            hits = []
            for h, key in zip(s["hits"], s["keys"], strict=True):
                h = dict(h)
                h["packed"] = key in kept
                if key in kept:
                    h["position"] = position(section.index(key), len(section))
                elif h.get("dropped") is None:
                    h["dropped"] = "budget"  # dropped by the pipeline's budget step
                hits.append(h)
            out.append({k: v for k, v in s.items() if k not in ("keys", "hits")} | {"hits": hits})
        return {"searches": out}


class Retrieval:
    """Retrieved chunks for this turn, as flexible candidates.

    Args:
        index: a ``ctxkit.retrieval.Index``.
        k: hits to fetch per search.
        max_tokens: the layer's share of the budget; default: ``Budget.caps["retrieval"]``,
            else a quarter of the prompt budget.
        min_score: hits scoring below this fraction of the best hit are dropped (noise).
        sharpness: a hit's value in the knapsack is (score / best score) ** sharpness; fused
            scores are flat, and a flat value makes the knapsack trade the best hit for
            several mediocre small ones (tuned on SciFact train: docs/retrieval.md).
        packer: chooses among the hits (default: KnapsackPacker with redundancy 0.5).
        order: "edges" (best at the start and end) or "score" (best first).
        state: a ctxkit.WorkingState (or anything with ``plan``): its current step joins the query.
        rewriter: turns (message, plan_step, error) into a Query; default
            ``ctxkit.retrieval.rewrite_query`` (an ``LLMQueryRewriter`` also fits).
        name: the layer name (blocks' ``layer`` and the cap group).
    """

    def __init__(self, index: Any, *, k: int = 40, max_tokens: int | None = None,
                 min_score: float = 0.2, sharpness: float = 4.0,
                 packer: KnapsackPacker | None = None,
                 order: str = "edges", state: Any = None,
                 rewriter: Callable[..., Any] | None = None, name: str = "retrieval") -> None:
        if not hasattr(index, "search"):
            raise UserError(f"Retrieval(index) needs a ctxkit.retrieval.Index, got "
                            f"{type(index).__name__}")
        if order not in ("edges", "score"):
            raise UserError(f"Retrieval(order={order!r}) must be 'edges' or 'score'")
        if k < 1:
            raise UserError("Retrieval(k=...) must be >= 1")
        self.index = index
        self.k = k
        self.max_tokens = max_tokens
        if sharpness <= 0:
            raise UserError("Retrieval(sharpness=...) must be > 0")
        self.min_score = min_score
        self.sharpness = sharpness
        self.packer = packer or KnapsackPacker(redundancy=0.5)
        self.order = order
        self.state = state
        self.rewriter = rewriter
        self.name = name

    def query_for(self, turn: Turn) -> Any:
        """The Query this layer would search with for ``turn`` (None: nothing to search)."""
        from ..retrieval import rewrite_query

        message = turn.message
        if message is None:
            message = next((b.content for b in reversed(turn.session.transcript)
                            if b.role == "user" and b.kind == "text"), None)
        if not message:
            return None
        step = current_step(self.state) if self.state is not None else None
        error = latest_error(turn.session.transcript)
        rewrite = self.rewriter or rewrite_query
        return rewrite(message, plan_step=step, error=error)

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        query = self.query_for(turn)
        if query is None:
            return draft
        hits = self.index.search(query, k=self.k)
        top = max((h.score for h in hits), default=0.0)
        blocks = [self._block(h, h.score / top if top > 0 else 0.0) for h in hits]
        cap = self.max_tokens or draft.budget.caps.get(self.name) or \
            max(0, draft.budget.available(draft.profile) // 4)
        items = [Item(tokens=draft.tokens(b), relevance=float(b.score or 0.0) ** self.sharpness,
                      text=b.content, at=h.chunk.mtime or None)
                 for b, h in zip(blocks, hits, strict=True)]
        noise = {i for i, b in enumerate(blocks) if (b.score or 0.0) < self.min_score}
        pool = [i for i in range(len(items)) if i not in noise]
        packing = self.packer.pack([items[i] for i in pool], cap)
        chosen = [pool[j] for j in packing.chosen]
        dropped = {pool[j]: why for j, why in packing.dropped.items()}
        dropped.update({i: "below_threshold" for i in noise})
        if self.order == "edges":
            chosen = [chosen[j] for j in edges_order([items[i].relevance for i in chosen])]
        draft.extend(blocks[i] for i in chosen)
        log = draft.extras.get("retrieval")
        if not isinstance(log, _RetrievalLog):
            log = draft.extras["retrieval"] = _RetrievalLog()
        log.searches.append({
            "layer": self.name, "query": query.source, "rewritten": query.text,
            "lexical": query.lexical, "cap_tokens": cap, "method": packing.method,
            "keys": [b.key for b in blocks],
            "hits": [{"id": h.chunk.id, "ref": h.chunk.ref, "score": round(h.score, 6),
                      "tokens": items[i].tokens, "dropped": dropped.get(i)}
                     for i, h in enumerate(hits)],
        })
        return draft

    def _block(self, hit: Any, relevance: float) -> Block:
        c = hit.chunk
        return Block(layer=self.name, role="user", content=f"--- {c.ref} ---\n{c.text}",
                     key=f"chunk:{c.id}", trust="untrusted", must_keep=False,
                     score=round(relevance, 6),
                     provenance=Provenance(source="retrieval", ref=c.ref, at=c.mtime or None))
