"""Packing: choose what goes into the token budget, and where.

``KnapsackPacker`` maximizes Σ (relevance + freshness bonus − redundancy) under the budget
and per-layer caps — exact 0/1 dynamic programming where the instance is small, greedy by
value per token with local repair where it is large — after reserving must-keep items and
dropping candidates below a relevance threshold. ``edges_order`` puts the best evidence at
the start and end of a section (lost-in-the-middle).

    from ctxkit import ContextPipeline
    from ctxkit.packing import KnapsackPacker
    pipe = ContextPipeline(backend, layers, packer=KnapsackPacker(min_score=0.2))
"""

from ._knapsack import Item, KnapsackPacker, Packing, jaccard, shingles
from ._order import edges_order, position
from ._solve import solve_exact, solve_greedy

__all__ = ["Item", "KnapsackPacker", "Packing", "edges_order", "jaccard", "position",
           "shingles", "solve_exact", "solve_greedy"]
