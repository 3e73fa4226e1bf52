"""The one noun of packing — Candidate — the outcome — Packing — and the Packer protocol.

Owns what competes for the budget (tokens, a relevance, a cap group, must-keep, the text
for the redundancy penalty, an age for the freshness bonus, and the block it stands for,
if any) and what a packer answers. Knows nothing of how a packer chooses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .._errors import UserError

if TYPE_CHECKING:
    from .._block import Block


@dataclass(frozen=True, slots=True, init=False)
class Candidate:
    """One thing competing for the budget.

    Made from a block (``Candidate(block, tokens)``: relevance, group, must-keep, text and
    age come from the block unless given) or from numbers alone
    (``Candidate(tokens=120, relevance=0.8, group="retrieval")``).

    Attributes:
        tokens: its cost.
        relevance: its value to the packer (higher is better; thresholds apply to it).
        group: the cap group it counts against.
        must_keep: reserved before anything else is considered.
        text: its content, for the redundancy penalty (empty: never redundant).
        at: when its source was last written (unix seconds), for the freshness bonus.
        block: the block it stands for, when it came from a draft.
    """

    tokens: int
    relevance: float
    group: str
    must_keep: bool
    text: str
    at: float | None
    block: Block | None

    def __init__(self, block: Block | None = None, tokens: int | None = None, *,
                 relevance: float | None = None, group: str | None = None,
                 must_keep: bool | None = None, text: str | None = None,
                 at: float | None = None) -> None:
        if tokens is None:
            raise UserError("a Candidate needs its token cost: Candidate(block, tokens) or "
                            "Candidate(tokens=..., relevance=...)")
        put = object.__setattr__
        put(self, "tokens", tokens)
        put(self, "block", block)
        if relevance is None:
            relevance = block.score if block is not None and block.score is not None else 0.0
        put(self, "relevance", float(relevance))
        put(self, "group", group if group is not None else (block.group if block else ""))
        put(self, "must_keep", must_keep if must_keep is not None
            else (block.must_keep if block is not None else False))
        put(self, "text", text if text is not None else (block.content if block else ""))
        if at is None and block is not None and block.provenance is not None:
            at = block.provenance.at
        put(self, "at", at)

    @property
    def value(self) -> float:
        """The relevance (the name the budget step's first packers used)."""
        return self.relevance


@dataclass(slots=True)
class Packing:
    """A packer's answer: chosen indices (sorted), each candidate's value, and why the
    others were dropped (``below_threshold``, ``redundant``, ``too_large``, ``budget``)."""

    chosen: list[int]
    values: list[float]
    dropped: dict[int, str] = field(default_factory=dict)
    method: str = "exact"
    tokens: int = 0


@runtime_checkable
class Packer(Protocol):
    """Chooses which candidates to keep, once per call, for the pipeline's budget step.

    ``pack`` returns a Packing whose chosen candidates' tokens sum to at most ``budget``
    and, per cap group, to at most ``caps[group]``. Order of the chosen indices is
    ignored: kept blocks stay where their layer put them (or where their layer's
    ``order`` puts them within its section).
    """

    def pack(self, candidates: Sequence[Candidate], budget: int,
             caps: Mapping[str, int] | None = None) -> Packing: ...
