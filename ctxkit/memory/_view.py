"""Reads of the memory store at one point in time: search, get, list, audit, review queue.

Owns the read API that ``MemoryStore`` (reading *now*) and ``store.as_of(t)`` (reading as
the store stood at ``t``) share, and the audit of every read (query, ids, scores, rank).
Knows nothing of how records are written.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .._errors import StoreError, UserError
from ._models import AuditRow, LinkRow, RecordRow
from ._recall import QueryParts, RecallParams, decompose, fuse
from ._redact import query_digest, redact
from ._scope import (
    TIERS,
    AuditEntry,
    MemoryHit,
    MemoryLink,
    MemoryRecord,
    Scope,
    check_names,
    check_number,
    check_scope,
    check_text,
    check_whole,
)
from ._search import SearchParams, hybrid
from ._visibility import successors, to_record, visible

if TYPE_CHECKING:
    from ._store import MemoryStore


class MemoryView:
    """Read-only access to a store at time ``at`` (None: now, every call).

    Obtain one with ``store.as_of(t)``; the store itself offers the same methods at *now*.
    """

    def __init__(self, store: MemoryStore, at: float | None) -> None:
        self._store = store
        self.at = at

    def _t(self) -> float:
        return self.at if self.at is not None else self._store.clock()

    def search(self, scope: Scope, query: str, *, k: int = 5, tier: str | None = None,
               session: str | None = None, kinds: list[str] | None = None,
               min_score: float = 0.0, actor: str = "agent",
               params: SearchParams | None = None) -> list[MemoryHit]:
        """The ``k`` records of ``scope`` most relevant to ``query`` (hybrid), best first.

        Args:
            scope: whose memory; only this tenant and user's records are considered.
            query: free text.
            k: how many hits at most.
            tier: ``episodic`` or ``semantic`` only; None for both.
            session: only records written by this session.
            kinds: only records of these kinds.
            min_score: drop hits scoring below this (fused score in (0, 1]).
            actor: who reads, for the audit log.
            params: search tuning (depth, weights of the two halves).
        """
        scope = check_scope(scope)
        if not isinstance(query, str):
            raise UserError(f"search query must be str, got {type(query).__name__}")
        check_text("search query", query)
        check_whole("k", k)
        check_number("min_score", min_score)
        check_names("kinds", kinds)
        _check_tier(tier)
        st = self._store
        # a query is user text: a secret pasted into a turn must not reach the store, and
        # the audit log keeps only a digest of it
        digest = query_digest(query)
        query = redact(query).text
        st.flush()
        t = self._t()
        qvec = st.embed_query(query) if query.strip() else None
        with st.session(scope) as db:
            ranked = hybrid(db, st.vector_index(), qvec, scope, query, t, k=k, tier=tier,
                            session=session, kinds=kinds, params=params or st.search_params,
                            snapshots=st.snapshots)
            ranked = [r for r in ranked if r.score >= min_score]
            hits = [MemoryHit(to_record(r.row, t), r.score) for r in ranked]
            st.audit_reads(db, scope, [(r.row.id, r.score, r.detail) for r in ranked],
                           via="search", actor=actor,
                           extra={"query_sha256": digest, "k": k, "as_of": self.at})
        return hits

    def recall(self, scope: Scope, query: str, *, k: int = 8, tier: str | None = None,
               min_score: float = 0.0, actor: str = "agent", parts: QueryParts | None = None,
               expand: bool = True, params: SearchParams | None = None,
               recall_params: RecallParams | None = None) -> list[MemoryHit]:
        """Recall for a question: ``search`` per part of it, fused, expanded along links.

        The question is split into the entities it names, its relation part and its dates
        (``decompose``; or pass ``parts``, e.g. from ``LLMDecomposer``); each part is
        searched inside ``scope`` and the scores are added (``RecallParams``). With
        ``expand`` the best hits lift the turns next to them in their exchange and bring
        records that share an entity with them (links of this scope only) as
        lower-scored candidates. Audited like
        ``search`` (``via="recall"``); ``as_of`` views recall as the store stood.

        Args:
            scope: whose memory; only this tenant and user's records and links are used.
            query: the question.
            k: how many hits at most (expansions included).
            tier: ``episodic`` or ``semantic`` only; None for both.
            min_score: drop hits scoring below this.
            actor: who reads, for the audit log.
            parts: the question's parts; default: the rule-based ``decompose``.
            expand: follow entity and event links from the best hits.
            params: hybrid search tuning.
            recall_params: fusion weights and expansion size.
        """
        scope = check_scope(scope)
        if not isinstance(query, str):
            raise UserError(f"recall query must be str, got {type(query).__name__}")
        check_text("recall query", query)
        check_whole("k", k)
        check_number("min_score", min_score)
        if parts is not None and not isinstance(parts, QueryParts):
            raise UserError(f"parts must be a QueryParts, got {type(parts).__name__}")
        _check_tier(tier)
        st = self._store
        digest = query_digest(query)
        query = redact(query).text
        if not query.strip():
            return []
        st.flush()
        t = self._t()
        parts = parts or decompose(query, now=t)
        with st.session(scope) as db:
            ranked = fuse(st, db, scope, query, parts, t, k=k, tier=tier,
                          params=params or st.search_params,
                          rparams=recall_params or RecallParams(), expand_links=expand)
            ranked = [r for r in ranked if r.score >= min_score]
            hits = [MemoryHit(to_record(r.row, t), r.score) for r in ranked]
            st.audit_reads(db, scope, [(r.row.id, r.score, r.detail) for r in ranked],
                           via="recall", actor=actor,
                           extra={"query_sha256": digest, "k": k, "as_of": self.at,
                                  "entities": len(parts.entities),
                                  "temporal": parts.temporal})
        return hits

    def get(self, scope: Scope, record_id: str, *, actor: str = "agent") -> MemoryRecord:
        """One record of ``scope`` by id, visible or not (revoked records show why)."""
        scope = check_scope(scope)
        t = self._t()
        with self._store.session(scope) as db:
            row = db.get(RecordRow, record_id)
            if row is None or row.created_at > t:
                raise StoreError(f"no memory record {record_id!r} for tenant "
                                 f"{scope.tenant!r}, user {scope.user!r}; list them with "
                                 "store.list(scope) or `ctxkit memory list`")
            rec = to_record(row, t, successors(db, [row], t).get(row.id))
            self._store.audit_reads(db, scope, [(row.id, None, {})], via="get", actor=actor,
                                    extra={"as_of": self.at})
        return rec

    def list(self, scope: Scope, *, tier: str | None = None, session: str | None = None,
             source: str | None = None, kinds: list[str] | None = None,
             include_hidden: bool = False, limit: int | None = None,
             actor: str = "agent") -> list[MemoryRecord]:
        """Records of ``scope`` in creation order.

        Args:
            include_hidden: also revoked, expired, superseded and pending-review records
                (what an operator wants to see); otherwise only what search could return.
            limit: the newest ``limit`` records (None: all).
        """
        scope = check_scope(scope)
        _check_tier(tier)
        check_names("kinds", kinds)
        if limit is not None:
            check_whole("limit", limit, 0)
        t = self._t()
        with self._store.session(scope) as db:
            q = select(RecordRow)
            if include_hidden:
                q = q.where(RecordRow.created_at <= t)
                if tier is not None:
                    q = q.where(RecordRow.tier == tier)
                if session is not None:
                    q = q.where(RecordRow.session == session)
                if kinds is not None:
                    q = q.where(RecordRow.kind.in_(kinds))
            else:
                q = q.where(visible(RecordRow, t, tier=tier, session=session, kinds=kinds))
            if source is not None:
                q = q.where(RecordRow.source == source)
            q = q.order_by(RecordRow.created_at.desc(), RecordRow.id.desc())
            if limit is not None:
                q = q.limit(limit)
            rows = list(reversed(db.scalars(q).all()))
            succ = successors(db, rows, t)
            out = [to_record(r, t, succ.get(r.id)) for r in rows]
            self._store.audit_reads(db, scope, [(r.id, None, {}) for r in rows], via="list",
                                    actor=actor, extra={"as_of": self.at})
        return out

    def links(self, scope: Scope, record_id: str | None = None, *,
              include_revoked: bool = False) -> builtins.list[MemoryLink]:
        """The entity and event links of ``scope`` (or of one record) as they stood at
        this view's time: which record, which entity, which extractor made it, when."""
        scope = check_scope(scope)
        t = self._t()
        with self._store.session(scope) as db:
            q = select(LinkRow).where(LinkRow.created_at <= t)
            if record_id is not None:
                q = q.where(LinkRow.record_id == record_id)
            if not include_revoked:
                q = q.where((LinkRow.revoked_at.is_(None)) | (LinkRow.revoked_at > t))
            rows = db.scalars(q.order_by(LinkRow.created_at, LinkRow.record_id,
                                         LinkRow.entity)).all()
        return [MemoryLink(record_id=r.record_id, entity=r.entity, kind=r.kind,
                           extractor=r.extractor, created_at=r.created_at,
                           event_start=r.event_start, event_end=r.event_end,
                           revoked_at=r.revoked_at if r.revoked_at is not None
                           and r.revoked_at <= t else None) for r in rows]

    def complete_id(self, scope: Scope, prefix: str) -> str:
        """The one record id of ``scope`` that starts with ``prefix`` (for operators)."""
        scope = check_scope(scope)
        p = prefix.strip().lower()
        if not p or any(c not in "0123456789abcdef" for c in p):
            raise UserError(f"{prefix!r} is not a record id (32 hex characters or a prefix)")
        with self._store.session(scope) as db:
            ids = db.scalars(select(RecordRow.id).where(RecordRow.id.startswith(p))
                             .limit(2)).all()
        if len(ids) != 1:
            raise UserError(f"{'no' if not ids else 'several'} records of tenant "
                            f"{scope.tenant!r}, user {scope.user!r} start with {prefix!r}"
                            + ("; give more of the id" if ids else ""))
        return str(ids[0])

    def review_queue(self, scope: Scope | None = None) -> builtins.list[MemoryRecord]:
        """Records waiting for review before they may act as semantic memory.

        With ``scope``: that scope's queue. Without: the reviewer's queue across every
        tenant (an operator's view, as ``store.approve(id)`` is an operator's action);
        each record carries its own scope.
        """
        t = self._t()
        query = select(RecordRow).where(
            RecordRow.created_at <= t, RecordRow.review != "none",
            (RecordRow.reviewed_at.is_(None)) | (RecordRow.reviewed_at > t),
            (RecordRow.revoked_at.is_(None)) | (RecordRow.revoked_at > t)
        ).order_by(RecordRow.created_at, RecordRow.id)
        if scope is None:
            with self._store._maintenance("operator review queue") as db:
                return [to_record(r, t) for r in db.scalars(query).all()]
        scope = check_scope(scope)
        with self._store.session(scope) as db:
            return [to_record(r, t) for r in db.scalars(query).all()]

    def audit(self, scope: Scope, record_id: str | None = None, *, action: str | None = None,
              limit: int | None = None) -> builtins.list[AuditEntry]:
        """The audit log of ``scope`` (or of one record): who wrote, read, revoked it, why."""
        scope = check_scope(scope)
        if limit is not None:
            check_whole("limit", limit, 0)
        t = self._t()
        with self._store.session(scope) as db:
            q = select(AuditRow).where(AuditRow.at <= t)
            if record_id is not None:
                q = q.where(AuditRow.record_id == record_id)
            if action is not None:
                q = q.where(AuditRow.action == action)
            q = q.order_by(AuditRow.seq.desc())
            if limit is not None:
                q = q.limit(limit)
            rows = list(reversed(db.scalars(q).all()))
        return [AuditEntry(seq=r.seq, at=r.at, action=r.action, record_id=r.record_id,
                           actor=r.actor, reason=r.reason, session=r.session,
                           detail=dict(r.detail or {})) for r in rows]


def _check_tier(tier: Any) -> None:
    if tier is not None and tier not in TIERS:
        raise UserError(f"tier {tier!r} is not one of {list(TIERS)} (or None for both)")
