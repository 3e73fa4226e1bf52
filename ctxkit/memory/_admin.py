"""Repair of memory: revocation (by id, source, reference, session, time window) with its
cascade to derived records, and the review step for untrusted content.

Owns the operator's write paths. Revocation is a timestamp, never a delete, so
``as_of`` can still answer for earlier times and the audit log names who revoked what and
why. These functions are bound as ``MemoryStore`` methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from .._errors import StoreError, UserError
from ._links import revoke_links
from ._models import DerivationRow, RecordRow
from ._redact import redact_value
from ._scope import SOURCES, MemoryRecord, Scope, check_number, check_scope
from ._visibility import to_record
from ._write import audit

if TYPE_CHECKING:
    from ._store import MemoryStore


def revoke(self: MemoryStore, scope: Scope, ids: Sequence[str] | str | None = None, *,
           source: str | None = None, source_ref: str | None = None,
           session: str | None = None, since: float | None = None,
           until: float | None = None, reason: str | None = None,
           by: str = "operator") -> list[str]:
    """Revoke records of ``scope`` and everything derived from them; returns revoked ids.

    Filters combine (AND): ``ids``, ``source`` (e.g. every tool result), ``source_ref``
    (e.g. one poisoned document), ``session``, and a creation window ``[since, until]``.
    Records derived from a revoked record (consolidated facts, summaries) are revoked
    too, transitively. Already-revoked records are left as they are.

    Args:
        reason: why (required: it goes to the audit log and to ``ctxkit memory show``).
        by: who revokes.
    """
    scope = check_scope(scope)
    if not reason or not str(reason).strip():
        raise UserError("revoke needs reason='...': it is kept in the audit log")
    if isinstance(ids, str):
        ids = [ids]
    if ids is not None and (not isinstance(ids, (list, tuple, set, frozenset)) or
                            not all(isinstance(i, str) for i in ids)):
        raise UserError(f"ids must be a record id or a list of them, got {ids!r}")
    for name, value in (("since", since), ("until", until)):
        if value is not None:  # NaN or a str would match no record and revoke nothing
            check_number(name, value, "unix seconds (a finite number)")
    if since is not None and until is not None and since > until:
        raise UserError(f"since is after until ({since} > {until}), so no record is in "
                        "that window; swap them")
    if ids is None and source is None and source_ref is None and session is None \
            and since is None and until is None:
        raise UserError("revoke needs a filter: ids, source, source_ref, session, since or "
                        "until (to revoke everything of a user, pass since=0)")
    if source is not None and source not in SOURCES:
        raise UserError(f"source {source!r} is not one of {list(SOURCES)}")
    # the reason and the revoker are stored on the record and in the audit log
    reason, by = redact_value(str(reason)), redact_value(str(by))
    now = self.clock()
    with self.session(scope) as db:
        q = select(RecordRow).where(RecordRow.revoked_at.is_(None))
        if ids is not None:
            ids = list(ids)
            known = set(db.scalars(select(RecordRow.id).where(RecordRow.id.in_(ids))).all())
            missing = [i for i in ids if i not in known]
            if missing:
                raise StoreError(f"no memory records {missing} for tenant {scope.tenant!r}, "
                                 f"user {scope.user!r}; nothing was revoked")
            q = q.where(RecordRow.id.in_(ids))
        if source is not None:
            q = q.where(RecordRow.source == source)
        if source_ref is not None:
            q = q.where(RecordRow.source_ref == source_ref)
        if session is not None:
            q = q.where(RecordRow.session == session)
        if since is not None:
            q = q.where(RecordRow.created_at >= since)
        if until is not None:
            q = q.where(RecordRow.created_at <= until)
        direct = list(db.scalars(q.order_by(RecordRow.created_at, RecordRow.id)).all())
        revoked: list[str] = []
        filt = {"ids": ids, "source": source, "source_ref": source_ref, "session": session,
                "since": since, "until": until}
        for row in direct:
            _mark(self, db, scope, row, now, reason, by, {"filter": filt})
            revoked.append(row.id)
        frontier = list(revoked)
        while frontier:  # the cascade: whatever was derived from a revoked record
            edges = db.execute(select(DerivationRow.child_id, DerivationRow.parent_id).where(
                DerivationRow.parent_id.in_(frontier))).all()
            parent_of = {c: p for c, p in edges}
            children = db.scalars(select(RecordRow).where(
                RecordRow.id.in_(list(parent_of)), RecordRow.revoked_at.is_(None))
                .order_by(RecordRow.created_at, RecordRow.id)).all()
            frontier = []
            for row in children:
                _mark(self, db, scope, row, now, f"derived from revoked {parent_of[row.id]}: "
                      f"{reason}", by, {"cascade_from": parent_of[row.id]})
                revoked.append(row.id)
                frontier.append(row.id)
    return revoked


def _mark(self: MemoryStore, db: object, scope: Scope, row: RecordRow, now: float,
          reason: str, by: str, detail: dict[str, object]) -> None:
    row.revoked_at, row.revoked_reason, row.revoked_by = now, reason, by
    revoke_links(db, row.id, now)  # type: ignore[arg-type]
    db.add(audit(scope, now, "revoke", row.id, by, reason, detail))  # type: ignore[attr-defined]


def approve(self: MemoryStore, scope: Scope | str, record_id: str | None = None, *,
            by: str = "operator", reason: str | None = None) -> MemoryRecord:
    """Let a record waiting in ``review_queue`` act as semantic memory from now on.

    ``store.approve(scope, id)``, or ``store.approve(id)`` for a reviewer working from
    the operator's ``review_queue()``: the record's own scope is then used.
    """
    scope, record_id = _scope_and_id(self, scope, record_id)
    return _review(self, scope, record_id, "approved", by, reason)


def reject(self: MemoryStore, scope: Scope | str, record_id: str | None = None, *,
           by: str = "operator", reason: str | None = None) -> MemoryRecord:
    """Refuse a record waiting for review; it is revoked (and what derives from it)."""
    scope, record_id = _scope_and_id(self, scope, record_id)
    rec = _review(self, scope, record_id, "rejected", by, reason)
    revoke(self, scope, [record_id], reason=reason or "rejected in review", by=by)
    return rec


def _scope_and_id(self: MemoryStore, scope: Scope | str, record_id: str | None
                  ) -> tuple[Scope, str]:
    if isinstance(scope, Scope):
        if record_id is None:
            raise UserError("approve/reject(scope, record_id): the record id is missing")
        return scope, record_id
    if record_id is not None or not isinstance(scope, str):
        raise UserError("call approve/reject(scope, record_id) or approve/reject(record_id)")
    with self._maintenance("operator review") as db:
        row = db.get(RecordRow, scope)
        if row is None:
            raise StoreError(f"no memory record {scope!r}; see store.review_queue()")
        return Scope(tenant=row.tenant, user=row.user_id), scope


def _review(self: MemoryStore, scope: Scope, record_id: str, verdict: str, by: str,
            reason: str | None) -> MemoryRecord:
    scope = check_scope(scope)
    now = self.clock()
    with self.session(scope) as db:
        row = db.get(RecordRow, record_id)
        if row is None:
            raise StoreError(f"no memory record {record_id!r} for tenant {scope.tenant!r}, "
                             f"user {scope.user!r}; see store.review_queue(scope)")
        if row.review != "pending" or row.revoked_at is not None:
            raise UserError(f"record {record_id} is not waiting for review (review="
                            f"{row.review}, revoked={row.revoked_at is not None}); see "
                            "store.review_queue(scope)")
        by = redact_value(str(by))
        row.review, row.reviewed_at, row.reviewed_by = verdict, now, by
        action = {"approved": "approve", "rejected": "reject"}[verdict]
        db.add(audit(scope, now, action, row.id, by, reason, {}))
        return to_record(row, now)
