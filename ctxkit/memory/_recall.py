"""Recall: a question decomposed, searched part by part, fused, and expanded along links.

Owns the read path ``Recall`` uses (``store.recall``), above hybrid search. A question is
split (``decompose``) into the people and things it names, its relation part (the rest:
what it asks about them) and the dates it names; "when"-questions are marked temporal.
Each part is searched inside the scope: the whole question; the relation part among the
records linked to the named entities (the second hop shares no words with the question,
only the entity); and, for temporal questions, the text hits dated in the named range (or
carrying any date) are boosted. The scores are combined (weighted sums, see
``RecallParams``); the best hits lift the turns next to them in their exchange
(``_links.neighbours``: an answer often comes a turn after the question that matches) and
are expanded along their entity and event links (``_links.expand``) into lower-scored
candidates the packer may choose under the budget. An opt-in ``LLMDecomposer`` asks a
model for the parts (sync and async); a reply that is not the JSON asked for falls back to
the rules with a warning. Knows nothing of storage (``_links``, ``_search``) or of prompts.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._entities import query_names, resolve_times
from ._links import dated, expand, in_ranges, linked, neighbours
from ._search import Ranked, hybrid

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ._scope import Scope
    from ._search import SearchParams
    from ._store import MemoryStore

_TEMPORAL = re.compile(r"^\s*(when|how long|what (year|month|day|date|time)|which "
                       r"(year|month|day)|since when)\b|\b(before|after|during|ago|last|"
                       r"first time|how many (days|weeks|months|years))\b", re.I)
_QWORDS = re.compile(r"^\s*(what|who|whom|whose|which|where|when|why|how|did|does|do|is|"
                     r"are|was|were|has|have|had|would|will|could|can|should)\b\s*", re.I)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryParts:
    """A question split for recall.

    Attributes:
        entities: the people and named things it asks about (casefolded).
        relation: what it asks about them (the question without the names), or "".
        times: UTC ``(start, end)`` ranges the question names.
        temporal: it asks *when* (dated records are preferred).
        queries: extra search queries (an LLM rewrite's paraphrases).
    """

    entities: tuple[str, ...] = ()
    relation: str = ""
    times: tuple[tuple[float, float], ...] = ()
    temporal: bool = False
    queries: tuple[str, ...] = field(default_factory=tuple)


def decompose(question: str, *, now: float) -> QueryParts:
    """The rule-based split: names from ``_entities``, the relation part is the question
    without them and its question word, dates resolved against ``now``."""
    names = query_names(question)
    rel = question
    for n in sorted(names, key=len, reverse=True):
        rel = re.sub(rf"\b{re.escape(n)}(?:'s|’s)?\b", " ", rel, flags=re.I)
    rel = _QWORDS.sub("", rel)
    rel = re.sub(r"\s+", " ", rel).strip(" ?.!,")
    times = tuple((e.start, e.end) for e in resolve_times(question, now)
                  if e.start is not None and e.end is not None)
    return QueryParts(entities=tuple(names), relation=rel if names else "", times=times,
                      temporal=bool(times) or bool(_TEMPORAL.search(question)))


@dataclass(frozen=True, slots=True, kw_only=True)
class RecallParams:
    """Weights of recall's fusion (chosen on the LoCoMo dev conversations only).

    Scores are combined, not ranks: the packer maximizes the sum of scores under the
    budget, so a score must say *how* relevant a record is (reciprocal-rank scores are
    nearly flat and let many short, weak records crowd out a long, strong one).

    Attributes:
        relation_weight: weight of the relation part's score, for records linked to an
            entity the question names.
        query_weight: weight of an extra query's score (an LLM rewrite's).
        time_boost: a temporal question's hits dated in its range (or, without a range,
            carrying any date) score this much more (a factor).
        expand_seeds: how many of the best are expanded along links.
        expand_share: the most of ``k`` records reached through a shared entity may
            fill (they compete on their score, no room is set aside). 0 by default: on
            the dev split every setting tried cost recall (0.884 / 0.937 at 2k / 4k
            without, 0.878 / 0.930 at ``expand_weight`` 0.25, 0.861 / 0.924 at 0.6).
        expand_weight: a reached record scores its seed's score times this (times the
            link's own weight).
        sharpen: scores are raised to this power before packing (> 1 widens the gap
            between strong and weak hits).
        neighbour_weights: the best ``expand_seeds`` hits lift the records next to them in
            their exchange (the same session's batch, along event links): a record ``h``
            turns away scores at least the hit's score times the ``h``-th weight (a
            question is often answered a turn or two after the turn that matches it).
            Empty: no neighbour step.
    """

    relation_weight: float = 0.5
    query_weight: float = 0.5
    time_boost: float = 0.5
    expand_seeds: int = 10
    expand_share: float = 0.0
    expand_weight: float = 0.6
    sharpen: float = 3.0
    neighbour_weights: tuple[float, ...] = (0.6, 0.35)

    def __post_init__(self) -> None:
        weights = tuple(self.neighbour_weights)
        if not all(isinstance(w, (int, float)) and 0.0 <= w <= 1.0 for w in weights):
            from .._errors import UserError

            raise UserError(f"RecallParams.neighbour_weights must be numbers in [0, 1] (one "
                            f"per turn away), got {self.neighbour_weights!r}")
        object.__setattr__(self, "neighbour_weights", weights)


def fuse(store: MemoryStore, db: Session, scope: Scope, question: str, parts: QueryParts,
         t: float, *, k: int, tier: str | None, params: SearchParams,
         rparams: RecallParams, expand_links: bool) -> list[Ranked]:
    """The ``k`` best records for ``question`` and its parts, expanded along links."""
    texts = [question] + [q for q in (parts.relation, *parts.queries) if q and q != question]
    vectors = store.vector_index()
    qvecs = store.embedder.embed(texts)
    depth = max(params.depth, k)
    run: dict[str, list[Ranked]] = {}
    for text, vec in zip(texts, qvecs, strict=True):
        run[text] = hybrid(db, vectors, vec, scope, text, t, k=depth, tier=tier,
                           params=params, snapshots=store.snapshots)
    rows = {r.row.id: r for rs in run.values() for r in rs}
    score: dict[str, float] = {r.row.id: r.score for r in run[question]}
    total = 1.0
    for q in parts.queries:
        if q in run:
            total += rparams.query_weight
            for r in run[q]:
                score[r.row.id] = score.get(r.row.id, 0.0) + rparams.query_weight * r.score
    if parts.entities and parts.relation and parts.relation in run:
        ents = [f"{kind}:{e}" for e in parts.entities for kind in ("person", "name", "thing")]
        own = linked(db, ents, t)
        if own:
            total += rparams.relation_weight
            for r in run[parts.relation]:
                if r.row.id in own:
                    score[r.row.id] = score.get(r.row.id, 0.0) \
                        + rparams.relation_weight * r.score
    if parts.temporal and rparams.time_boost:
        ids = sorted(score, key=lambda rid: -score[rid])[:depth]
        ok = in_ranges(db, ids, parts.times, t) if parts.times else dated(db, ids, t)
        for rid in ok:
            score[rid] *= 1.0 + rparams.time_boost
        total *= 1.0 + rparams.time_boost
    norm = {rid: min(1.0, sc / total) ** rparams.sharpen for rid, sc in score.items()}
    order = sorted(norm, key=lambda rid: (-norm[rid], rid))
    if expand_links and rparams.neighbour_weights and order:
        seeds = [(rid, norm[rid]) for rid in order[:rparams.expand_seeds]]
        near = neighbours(db, seeds, t, rparams.neighbour_weights)
        new = [rid for rid, (sc, _) in near.items() if rid not in rows]
        if new:
            from ._models import RecordRow

            for new_row in db.query(RecordRow).filter(RecordRow.id.in_(new)):
                if tier is None or new_row.tier == tier:
                    rows[new_row.id] = Ranked(new_row, 0.0, {})
        for rid, (sc, via) in near.items():
            if rid in rows and sc > norm.get(rid, 0.0):
                norm[rid] = sc
                rows[rid] = Ranked(rows[rid].row, rows[rid].score,
                                   {**rows[rid].detail, "via_link": via})
        order = sorted(norm, key=lambda rid: (-norm[rid], rid))
    num_expand = int(k * rparams.expand_share) if expand_links else 0
    if num_expand and order:
        # records reached through a shared entity compete on their score with the hits:
        # no room is set aside for them (reserved room went to weak second hops and
        # pushed out better first hops)
        seeds = [(rid, norm[rid]) for rid in order[:rparams.expand_seeds]]
        num_docs = max(len(rows), _num_visible(store, db, scope, t))
        extra = expand(db, seeds, t, limit=num_expand + len(seeds), num_docs=num_docs)
        extra = [x for x in extra if x[1] * rparams.expand_weight > norm.get(x[0], 0.0)]
        extra = extra[:num_expand]
        new = [rid for rid, _, _ in extra if rid not in rows]
        if new:
            from ._models import RecordRow

            for new_row in db.query(RecordRow).filter(RecordRow.id.in_(new)):
                if tier is None or new_row.tier == tier:
                    rows[new_row.id] = Ranked(new_row, 0.0, {})
        for rid, sc, via in extra:
            if rid in rows:
                norm[rid] = sc * rparams.expand_weight
                rows[rid] = Ranked(rows[rid].row, rows[rid].score,
                                   {**rows[rid].detail, "via_link": via})
        order = sorted(norm, key=lambda rid: (-norm[rid], rid))
    return [Ranked(rows[rid].row, round(norm[rid], 6), rows[rid].detail)
            for rid in order[:k]]


def _num_visible(store: MemoryStore, db: Session, scope: Scope, t: float) -> int:
    if store.snapshots is not None:
        snap = store.snapshots.get(db, scope, None)
        return int(snap.visible(t, tier=None, session=None, kinds=None).sum())
    from sqlalchemy import func, select

    from ._models import RecordRow
    from ._visibility import visible

    return int(db.scalar(select(func.count(RecordRow.id)).where(visible(RecordRow, t))) or 0)


# -- the opt-in model decomposer --------------------------------------------------------

_PROMPT = ("Split the user's question about past conversations for a memory search. Answer "
           "with one JSON object only: {\"entities\": [names of people, places or things "
           "it asks about], \"relation\": \"what it asks about them, without the names\", "
           "\"queries\": [up to 3 short search queries for the facts that answer it]}.")
MAX_ITEMS = 8
MAX_TEXT = 300


class LLMDecomposer:
    """Ask a model for a question's parts; keeps the rule-based dates and temporal mark.

    Args:
        backend: any ctxkit Backend (a small, cheap model is enough).

    A reply that is not the JSON object asked for (prose, wrong types, oversized or
    instruction-bearing strings) is refused: the rule-based parts are used and a
    ``UserWarning`` says why. ``acall`` is the async form (``arun`` awaits it).
    """

    def __init__(self, backend: Any) -> None:
        from .._backend import Backend

        if not isinstance(backend, Backend):
            from .._errors import UserError

            raise UserError(f"LLMDecomposer needs a ctxkit Backend, got "
                            f"{type(backend).__name__}; see ctxkit.backends or "
                            "ctxkit.testing.ScriptedBackend")
        self.backend = backend

    def __call__(self, question: str, *, now: float) -> QueryParts:
        return self._merge(question, now, self._ask(question))

    async def acall(self, question: str, *, now: float) -> QueryParts:
        reply = await self.backend.acomplete(self._draft(question))
        return self._merge(question, now, str(reply.text or ""))

    def _ask(self, question: str) -> str:
        return str(self.backend.complete(self._draft(question)).text or "")

    def _draft(self, question: str) -> Any:
        from .._block import Block, Provenance
        from .._draft import Budget, Draft

        draft = Draft(profile=self.backend.profile, counter=self.backend.counter(),
                      budget=Budget())
        draft.add(Block(layer="recall", role="system", key="system", content=_PROMPT,
                        provenance=Provenance(source="system")),
                  Block(layer="recall", role="user", key="ask", content=question,
                        provenance=Provenance(source="memory")))
        return draft

    @staticmethod
    def _merge(question: str, now: float, reply: str) -> QueryParts:
        rules = decompose(question, now=now)
        try:
            parsed = _parse(reply)
        except ValueError as exc:
            warnings.warn(f"LLMDecomposer: the model's reply was refused ({exc}); using the "
                          "rule-based decomposition", UserWarning, stacklevel=3)
            return rules
        entities = tuple(dict.fromkeys([*rules.entities, *parsed["entities"]]))
        return QueryParts(entities=entities, relation=parsed["relation"] or rules.relation,
                          times=rules.times, temporal=rules.temporal,
                          queries=tuple(parsed["queries"]))


def _parse(reply: str) -> dict[str, Any]:
    text = reply.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"a JSON {type(obj).__name__}, not an object")
    ents, rel, queries = obj.get("entities", []), obj.get("relation", ""), \
        obj.get("queries", [])
    if not isinstance(ents, list) or not all(isinstance(e, str) for e in ents):
        raise ValueError("entities must be a list of strings")
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise ValueError("queries must be a list of strings")
    if not isinstance(rel, str):
        raise ValueError("relation must be a string")
    if len(ents) > MAX_ITEMS or len(queries) > MAX_ITEMS:
        raise ValueError(f"more than {MAX_ITEMS} entities or queries")
    for s in [*ents, rel, *queries]:
        if len(s) > MAX_TEXT or "\n" in s:
            raise ValueError(f"a string over {MAX_TEXT} characters or with line breaks")
    return {"entities": [e.strip().casefold() for e in ents if e.strip()],
            "relation": rel.strip(), "queries": [q.strip() for q in queries if q.strip()]}

