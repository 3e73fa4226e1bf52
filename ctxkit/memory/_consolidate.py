"""Consolidation: episodic memories become semantic facts, newest wins, untrusted waits.

Owns the step that reads a scope's episodic records not yet consolidated, asks an
extractor which facts they state, and writes those facts to the semantic tier with
``derived_from`` pointing at their episodes (so revoking an episode revokes its facts). A
fact with a ``key`` supersedes older facts of that key (they stay, with superseded-by).
Facts drawn from untrusted records (tool output, documents) are written untrusted and so
wait in ``review_queue`` until approved: nothing untrusted is promoted without review.
The default extractor is rule-based; ``ModelExtractor`` (``_extract``) asks a model, and
its facts go through the same writes, links and review.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from .._errors import UserError
from ._models import DerivationRow, RecordRow
from ._scope import MemoryRecord, Scope, check_scope
from ._visibility import to_record, visible

if TYPE_CHECKING:
    from ._store import MemoryStore


@dataclass(frozen=True, slots=True)
class ExtractedFact:
    """A fact an extractor found in an episodic record.

    Attributes:
        content: the fact, stated on its own ("prefers pytest over unittest").
        key: the slot it fills ("test_framework"); a newer fact of the same key wins.
        kind: the semantic record's kind (fact, preference, decision...).
        evidence: the record's own words that state the fact (kept in the fact's meta).
        source_id: the id of the record it was drawn from, when the extractor names it;
            consolidation refuses a fact that names another record.
    """

    content: str
    key: str | None = None
    kind: str = "fact"
    evidence: str | None = None
    source_id: str | None = None


Extractor = Callable[[MemoryRecord], "list[ExtractedFact] | ExtractedFact | None"]

_MY = re.compile(r"\bmy ([a-z][a-z ]{1,30}?) (?:is|are) ([^.!?\n]{1,120})", re.I)
_PREFER = re.compile(r"\b(?:i|we) (?:prefer|always use|never use|like to use) ([^.!?\n]{1,120})",
                     re.I)
_MARKED = ("fact", "preference", "decision")


def rule_extractor(rec: MemoryRecord) -> list[ExtractedFact]:
    """Facts from explicit marks and plain first-person statements.

    A record of kind fact/preference/decision, or with ``meta["salient"]``, is a fact as
    a whole (``meta["key"]`` names its slot). Otherwise "my X is Y" gives a fact keyed
    ``X``, and "I prefer ..." a preference.
    """
    if rec.kind in _MARKED or rec.meta.get("salient"):
        key = rec.meta.get("key") or rec.key
        return [ExtractedFact(rec.content, str(key) if key else None,
                     rec.kind if rec.kind in _MARKED else "fact")]
    out: list[ExtractedFact] = []
    for m in _MY.finditer(rec.content):
        out.append(ExtractedFact(f"my {m.group(1)} is {m.group(2).strip()}",
                        key=" ".join(m.group(1).lower().split())))
    for m in _PREFER.finditer(rec.content):
        out.append(ExtractedFact(f"prefers {m.group(1).strip()}", kind="preference"))
    return out


@dataclass(slots=True)
class Consolidation:
    """What one consolidation pass did.

    Attributes:
        promoted: semantic records written and usable now.
        pending: semantic records written but waiting for review (untrusted origin).
        superseded: older facts that a promoted fact now supersedes.
        considered: episodic records read.
    """

    promoted: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    considered: int = 0


def consolidate(self: MemoryStore, scope: Scope, *, extractor: Extractor | None = None,
                since: float | None = None, actor: str = "consolidation") -> Consolidation:
    """Promote facts from ``scope``'s unconsolidated episodic records to semantic memory."""
    scope = check_scope(scope)
    extract = extractor or rule_extractor
    now = self.clock()
    report = Consolidation()
    with self.session(scope) as db:
        fact = aliased(RecordRow)
        done = exists().where(DerivationRow.parent_id == RecordRow.id,
                              DerivationRow.child_id == fact.id, fact.tier == "semantic")
        q = select(RecordRow).where(visible(RecordRow, now, tier="episodic"), ~done)
        if since is not None:
            q = q.where(RecordRow.created_at >= since)
        rows = db.scalars(q.order_by(RecordRow.created_at, RecordRow.id)).all()
        episodes = [to_record(r, now) for r in rows]
    report.considered = len(episodes)
    for ep in episodes:
        found = extract(ep)
        facts = [found] if isinstance(found, ExtractedFact) else list(found or [])
        for f in facts:
            if not isinstance(f, ExtractedFact) or not f.content.strip():
                raise UserError(f"extractor returned {f!r}; return ExtractedFact(content, key=...) "
                                "objects (or None)")
            if f.source_id is not None and f.source_id != ep.id:
                raise UserError(f"extractor returned a fact of record {f.source_id!r} for record "
                                f"{ep.id!r}; a fact's source_id must be the record it was "
                                "extracted from (or None)")
            meta = {"consolidated_from": ep.id}
            if f.evidence:
                meta["evidence"] = f.evidence
            before = _current(self, scope, f.key) if f.key else None
            rec = self.write(scope.with_session(ep.scope.session), f.content, tier="semantic",
                             kind=f.kind, source=ep.source, source_ref=ep.source_ref,
                             trust=ep.trust, key=f.key, derived_from=[ep.id], actor=actor,
                             meta=meta)
            if rec.review == "pending":
                report.pending.append(rec.id)
                continue
            report.promoted.append(rec.id)
            if before is not None and before != rec.id:
                report.superseded.append(before)
    return report


def _current(self: MemoryStore, scope: Scope, key: str) -> str | None:
    now = self.clock()
    with self.session(scope) as db:
        return db.scalars(select(RecordRow.id).where(
            visible(RecordRow, now, tier="semantic"), RecordRow.fact_key == key)
            .order_by(RecordRow.created_at.desc()).limit(1)).first()
