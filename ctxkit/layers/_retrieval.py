"""Retrieval layer: search an Index with this turn's query and propose the hits as
candidates for the pipeline's one packing step.

Owns building the query (user turn + the state's current plan step + the latest error in
the transcript; an LLM rewriter is awaited under ``arun``), dropping hits below the
relevance threshold, and proposing the rest with their value in the knapsack, the layer's
share of the budget as the group's cap, and ``order="edges"`` (the packing step puts the
best evidence at the start and end of the section). It logs query, rewrite, ids, scores,
what was packed, where, and why the rest was dropped with ``draft.note("retrieval", ...)``,
resolved against the packed draft. Knows nothing of how the index ranks or how the
packer chooses.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any

from .._block import Block, Provenance
from .._draft import Draft
from .._errors import UserError
from .._types import Turn
from ..packing import position

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


def _asks_model(reranker: Any) -> bool:
    from ..retrieval import LLMReranker

    if isinstance(reranker, LLMReranker):
        return True
    return any(_asks_model(r) for r in getattr(reranker, "rerankers", ()))


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
                    h["dropped"] = draft.why_dropped.get(key, "budget")
                hits.append(h)
            method = {"method": draft.packing_method or "none"}
            out.append({k: v for k, v in s.items() if k not in ("keys", "hits")} | method
                       | {"hits": hits})
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
        order: "edges" (best at the start and end) or "score" (best first).
        state: a ctxkit.WorkingState (or anything with ``plan``): its current step joins the query.
        rewriter: turns (message, plan_step, error) into a Query; default
            ``ctxkit.retrieval.rewrite_query`` (an ``LLMQueryRewriter`` also fits; its
            async form is awaited under ``arun``).
        name: the layer name (blocks' ``layer`` and the cap group).

    The hits are chosen by the pipeline's packer, with every other layer's candidates
    (``ContextPipeline(packer=KnapsackPacker(redundancy=...))`` tunes it).
    """

    def __init__(self, index: Any, *, k: int = 40, max_tokens: int | None = None,
                 min_score: float = 0.2, sharpness: float = 4.0, packer: Any = None,
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
        if packer is not None:
            raise UserError("Retrieval(packer=...) is gone: packing is one step for the whole "
                            "call; pass the packer to ContextPipeline(packer=...)")
        self.order = order
        self.state = state
        self.rewriter = rewriter
        self.name = name

    def _inputs(self, turn: Turn) -> tuple[str, str | None, str | None] | None:
        message = turn.message
        if message is None:
            message = next((b.content for b in reversed(turn.session.transcript)
                            if b.role == "user" and b.kind == "text"), None)
        if not message:
            return None
        step = current_step(self.state) if self.state is not None else None
        return message, step, latest_error(turn.session.transcript)

    def _rewriter(self, turn: Turn) -> Callable[..., Any]:
        from ..retrieval import LLMQueryRewriter, rewrite_query

        rewrite = self.rewriter or rewrite_query
        if turn.dry_run and isinstance(rewrite, LLMQueryRewriter):
            return rewrite_query  # a dry run calls no model: the rule-based part only
        return rewrite

    def query_for(self, turn: Turn) -> Any:
        """The Query this layer would search with for ``turn`` (None: nothing to search)."""
        inputs = self._inputs(turn)
        if inputs is None:
            return None
        message, step, error = inputs
        return self._rewriter(turn)(message, plan_step=step, error=error)

    async def aquery_for(self, turn: Turn) -> Any:
        """``query_for`` for ``arun``: a rewriter's async form is awaited."""
        inputs = self._inputs(turn)
        if inputs is None:
            return None
        message, step, error = inputs
        rewrite = self._rewriter(turn)
        acall = getattr(rewrite, "acall", None)
        out = (acall if callable(acall) else rewrite)(message, plan_step=step, error=error)
        return await out if inspect.isawaitable(out) else out

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        query = self.query_for(turn)
        if query is None:
            return draft
        return self._propose(draft, query,
                             self.index.search(query, k=self.k, **self._no_model(turn)))

    async def acall(self, draft: Draft, turn: Turn) -> Draft:
        """The async form ``arun`` awaits: the rewriter and an LLM reranker are awaited."""
        query = await self.aquery_for(turn)
        if query is None:
            return draft
        asearch = getattr(self.index, "asearch", None)
        kw = self._no_model(turn)
        hits = await asearch(query, k=self.k, **kw) if callable(asearch) \
            else self.index.search(query, k=self.k, **kw)
        return self._propose(draft, query, hits)

    def _no_model(self, turn: Turn) -> dict[str, Any]:
        """In a dry run, the search options that keep a model-asking reranker out."""
        if turn.dry_run and _asks_model(getattr(self.index, "reranker", None)):
            return {"rerank": False}
        return {}

    def _propose(self, draft: Draft, query: Any, hits: list[Any]) -> Draft:
        top = max((h.score for h in hits), default=0.0)
        blocks = [self._block(h, h.score / top if top > 0 else 0.0) for h in hits]
        cap = self.max_tokens or draft.budget.caps.get(self.name) or \
            max(0, draft.budget.available(draft.profile) // 4)
        tokens = [draft.tokens(b) for b in blocks]
        noise = {i for i, b in enumerate(blocks) if (b.score or 0.0) < self.min_score}
        pool = [i for i in range(len(blocks)) if i not in noise]
        draft.propose([blocks[i] for i in pool],
                      values=[float(blocks[i].score or 0.0) ** self.sharpness for i in pool],
                      cap=cap, order="edges" if self.order == "edges" else "given")
        log = draft.notes.get("retrieval")
        if not isinstance(log, _RetrievalLog):
            log = _RetrievalLog()
            draft.note("retrieval", log)
        log.searches.append({
            "layer": self.name, "query": query.source, "rewritten": query.text,
            "lexical": query.lexical, "cap_tokens": cap,
            "keys": [b.key for b in blocks],
            "hits": [{"id": h.chunk.id, "ref": h.chunk.ref, "score": round(h.score, 6),
                      "tokens": tokens[i], "dropped": "below_threshold" if i in noise else None}
                     for i, h in enumerate(hits)],
        })
        return draft

    def _block(self, hit: Any, relevance: float) -> Block:
        c = hit.chunk
        return Block(layer=self.name, role="user", content=f"--- {c.ref} ---\n{c.text}",
                     key=f"chunk:{c.id}", trust="untrusted", must_keep=False,
                     score=round(relevance, 6),
                     provenance=Provenance(source="retrieval", ref=c.ref, at=c.mtime or None))
