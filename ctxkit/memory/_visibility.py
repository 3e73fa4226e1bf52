"""What the store shows at a time ``t``: visibility predicates and the record view.

Owns the one definition of "visible at t" that search, list and ``as_of`` share:
created at or before t, not revoked by t, not expired by t, reviewed-and-approved by t if
it needed review, and (for semantic facts with a key) not superseded by a newer visible
fact of the same key. Nothing is ever overwritten in place — revocation, review and TTL
are timestamps — so the same predicate answers for any past t exactly. Supersession is
derived, not stored: revoking the newest fact brings the previous one back. Knows
nothing of ranking.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from ._models import RecordRow
from ._scope import MemoryRecord, Scope


def base_visible(r: Any, t: Any) -> ColumnElement[bool]:
    """Visible at ``t`` ignoring supersession (``r``: RecordRow or an alias; ``t``: unix
    seconds or a bound parameter)."""
    return and_(
        r.created_at <= t,
        or_(r.revoked_at.is_(None), r.revoked_at > t),
        or_(r.valid_until.is_(None), r.valid_until > t),
        or_(r.review == "none", and_(r.review == "approved", r.reviewed_at <= t)),
    )


def not_superseded(r: Any, t: Any) -> ColumnElement[bool]:
    """No newer visible semantic record of the same key exists at ``t``."""
    newer = aliased(RecordRow)
    return or_(r.fact_key.is_(None), r.tier != "semantic", ~exists().where(
        newer.tenant == r.tenant, newer.user_id == r.user_id, newer.tier == "semantic",
        newer.fact_key == r.fact_key,
        or_(newer.created_at > r.created_at,
            and_(newer.created_at == r.created_at, newer.id > r.id)),
        base_visible(newer, t)))


def visible(r: Any, t: float, *, tier: str | None = None, session: str | None = None,
            kinds: Iterable[str] | None = None) -> ColumnElement[bool]:
    """The full predicate, with the optional read filters."""
    conds = [base_visible(r, t), not_superseded(r, t)]
    if tier is not None:
        conds.append(r.tier == tier)
    if session is not None:
        conds.append(r.session == session)
    if kinds is not None:
        conds.append(r.kind.in_(list(kinds)))
    return and_(*conds)


def successors(db: Session, rows: Iterable[RecordRow], t: float) -> dict[str, str]:
    """For rows that are superseded at ``t``: row id -> the id of the next newer fact."""
    keys = {r.fact_key for r in rows if r.fact_key and r.tier == "semantic"}
    if not keys:
        return {}
    facts = db.scalars(select(RecordRow).where(
        RecordRow.tier == "semantic", RecordRow.fact_key.in_(keys),
        RecordRow.created_at <= t)).all()
    out: dict[str, str] = {}
    by_key: dict[str, list[RecordRow]] = {}
    for f in facts:
        by_key.setdefault(str(f.fact_key), []).append(f)
    for group in by_key.values():
        group.sort(key=lambda f: (f.created_at, f.id))
        live = [f for f in group if _live(f, t)]
        for f in group:
            later = [g for g in live if (g.created_at, g.id) > (f.created_at, f.id)]
            if later:
                out[f.id] = later[0].id
    return out


def _live(r: RecordRow, t: float) -> bool:
    return (r.created_at <= t and (r.revoked_at is None or r.revoked_at > t)
            and (r.valid_until is None or r.valid_until > t)
            and (r.review == "none" or (r.review == "approved"
                                         and r.reviewed_at is not None and r.reviewed_at <= t)))


def to_record(row: RecordRow, t: float, superseded_by: str | None = None) -> MemoryRecord:
    """The public view of ``row`` as it stood at ``t``."""
    revoked = row.revoked_at is not None and row.revoked_at <= t
    review = row.review
    if review in ("approved", "rejected") and (row.reviewed_at is None or row.reviewed_at > t):
        review = "pending"
    return MemoryRecord(
        id=row.id, scope=Scope(tenant=row.tenant, user=row.user_id, session=row.session),
        tier=row.tier, kind=row.kind, content=row.content, source=row.source,
        source_ref=row.source_ref, trust=row.trust, created_at=row.created_at,
        valid_until=row.valid_until, key=row.fact_key, superseded_by=superseded_by,
        revoked_at=row.revoked_at if revoked else None,
        revoked_reason=row.revoked_reason if revoked else None,
        revoked_by=row.revoked_by if revoked else None,
        derived_from=tuple(row.derived_from or ()), redactions=tuple(row.redactions or ()),
        review=review, content_hash=row.content_hash, meta=dict(row.meta or {}))
