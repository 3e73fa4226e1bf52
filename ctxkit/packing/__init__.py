"""Packing: choose what goes into the token budget, and where — one step per call.

Layers propose candidates (``draft.propose(blocks, values=..., cap=..., order=...)``);
the pipeline's budget step reserves the must-keep blocks and asks one ``Packer`` to
choose among every layer's candidates at once, under the budget and per-group caps.
``Candidate`` is the one noun for what competes; ``Packing`` is the answer.

``KnapsackPacker`` (the default) maximizes Σ (relevance + freshness bonus − redundancy)
under the budget and caps — exact 0/1 dynamic programming where the instance is small,
greedy by value per token with local repair where it is large — after dropping
candidates below a relevance threshold. ``GreedyPacker`` takes the best first while they
fit. ``edges_order`` puts the best evidence at the start and end of a section
(lost-in-the-middle); a layer asks for it with ``order="edges"``.

    from ctxkit import ContextPipeline
    from ctxkit.packing import KnapsackPacker
    pipe = ContextPipeline(backend, layers, packer=KnapsackPacker(min_score=0.2))
"""

from ._candidate import Candidate, Packer, Packing
from ._greedy import GreedyPacker
from ._knapsack import KnapsackPacker, jaccard, shingles
from ._order import edges_order, position
from ._solve import solve_exact, solve_greedy

__all__ = ["Candidate", "GreedyPacker", "KnapsackPacker", "Packer", "Packing", "edges_order",
           "jaccard", "position", "shingles", "solve_exact", "solve_greedy"]

from .._deprecated import aliases  # noqa: E402

__getattr__ = aliases(__name__, {"Item": ("ctxkit.packing.Candidate", Candidate)})
