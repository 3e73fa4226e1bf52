"""Fusion and reranking: reciprocal-rank fusion of the BM25 and embedding lists, the
Reranker protocol, and the rerankers that need no model of their own (embedding
similarity, MMR diversity, a chain of rerankers).

Owns the order of a shortlist. Knows nothing of how the lists were produced; embedding
rerankers read the vectors the index hands over in the Shortlist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from .._errors import UserError
from ._types import Query, SearchHit


def rrf(lists: Sequence[Sequence[int]], k: float = 60.0,
        weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: ``Σ w / (k + rank)`` over the lists, best first.

    Ties break by first appearance (list order, then rank), so equal input, equal output.
    """
    if k <= 0:
        raise UserError(f"RRF k must be > 0, got {k}")
    w = list(weights) if weights is not None else [1.0] * len(lists)
    score: dict[int, float] = {}
    for lst, wt in zip(lists, w, strict=True):
        for rank, item in enumerate(lst, 1):
            score[item] = score.get(item, 0.0) + wt / (k + rank)
    first = {item: n for n, item in enumerate(dict.fromkeys(x for lst in lists for x in lst))}
    return sorted(score.items(), key=lambda kv: (-kv[1], first[kv[0]]))


@dataclass(slots=True)
class Shortlist:
    """What a reranker reorders.

    Attributes:
        query: the (rewritten) query.
        hits: fused candidates, best first.
        vectors: (len(hits), dim) unit vectors of the hits' chunks, or None (lexical-only).
        query_vector: (dim,) unit vector of ``query.text``, or None.
    """

    query: Query
    hits: list[SearchHit]
    vectors: Any = None
    query_vector: Any = None


class Reranker(Protocol):
    """Reorders a shortlist; returns at least the best ``k`` hits, best first, with
    ``score`` set to the reranker's score. One that asks a model may also offer
    ``async acall(shortlist, k)``, which ``Index.asearch`` awaits."""

    def __call__(self, shortlist: Shortlist, k: int) -> list[SearchHit]: ...


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


class EmbeddingReranker:
    """Blend the fused score with cosine similarity to the query (both min-max scaled).

    Args:
        weight: share of the similarity in the blend (0: fused order, 1: embedding order).
    """

    def __init__(self, weight: float = 0.5) -> None:
        if not 0.0 <= weight <= 1.0:
            raise UserError(f"EmbeddingReranker weight must be in [0, 1], got {weight}")
        self.weight = weight

    def __call__(self, shortlist: Shortlist, k: int) -> list[SearchHit]:
        hits = shortlist.hits
        if not hits or shortlist.vectors is None or shortlist.query_vector is None:
            return list(hits)
        fused = _minmax(np.array([h.score for h in hits], dtype=np.float64))
        sim = _minmax(np.asarray(shortlist.vectors, np.float64) @ shortlist.query_vector)
        blend = (1 - self.weight) * fused + self.weight * sim
        order = sorted(range(len(hits)), key=lambda i: (-blend[i], i))
        return [replace(hits[i], score=float(blend[i])) for i in order]


class MMR:
    """Maximal marginal relevance: pick, one at a time, the hit that best trades relevance
    (its current score, min-max scaled) against similarity to the hits already picked.

    Args:
        lambda_: 1.0 is pure relevance; lower values favour diversity.
    """

    def __init__(self, lambda_: float = 0.7) -> None:
        if not 0.0 <= lambda_ <= 1.0:
            raise UserError(f"MMR lambda_ must be in [0, 1], got {lambda_}")
        self.lambda_ = lambda_

    def __call__(self, shortlist: Shortlist, k: int) -> list[SearchHit]:
        hits = shortlist.hits
        if len(hits) < 2 or shortlist.vectors is None:
            return list(hits)
        rel = _minmax(np.array([h.score for h in hits], dtype=np.float64))
        vec = np.asarray(shortlist.vectors, dtype=np.float64)
        sims = vec @ vec.T
        chosen: list[int] = []
        best_sim = np.full(len(hits), -np.inf)
        left = list(range(len(hits)))
        while left and len(chosen) < k:
            penalty = np.where(np.isfinite(best_sim), best_sim, 0.0)
            mmr = self.lambda_ * rel - (1 - self.lambda_) * penalty
            i = max(left, key=lambda j: (mmr[j], -j))
            chosen.append(i)
            left.remove(i)
            best_sim = np.maximum(best_sim, sims[i])
        n = len(chosen)
        out = [replace(hits[i], score=float(n - r) / n) for r, i in enumerate(chosen)]
        return out + [replace(hits[i], score=0.0) for i in left]


class ChainedReranker:
    """Apply rerankers in order (e.g. a cross-encoder, then MMR)."""

    def __init__(self, *rerankers: Reranker) -> None:
        self.rerankers = rerankers

    def __call__(self, shortlist: Shortlist, k: int) -> list[SearchHit]:
        hits = shortlist.hits
        for rr in self.rerankers:
            hits = rr(self._step(shortlist, hits), k)
        return hits

    async def acall(self, shortlist: Shortlist, k: int) -> list[SearchHit]:
        """The async form: each reranker's ``acall`` is awaited when it has one."""
        hits = shortlist.hits
        for rr in self.rerankers:
            acall = getattr(rr, "acall", None)
            step = self._step(shortlist, hits)
            hits = await acall(step, k) if callable(acall) else rr(step, k)
        return hits

    @staticmethod
    def _step(shortlist: Shortlist, hits: list[SearchHit]) -> Shortlist:
        by_id = None
        if shortlist.vectors is not None:
            by_id = {h.chunk.id: v for h, v in zip(shortlist.hits, shortlist.vectors,
                                                   strict=True)}
        vecs = np.stack([by_id[h.chunk.id] for h in hits]) if by_id and hits else None
        return Shortlist(shortlist.query, hits, vecs, shortlist.query_vector)
