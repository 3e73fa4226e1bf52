"""The write path of the memory store: validation, redaction, dedupe, bulk inserts.

Owns turning one ``write`` call's arguments into the rows to insert (the record, its terms
for the lexical index, its derivations, its audit line), what makes two writes the same
memory (canonical content hash, tier, trust, key, and the session for episodic records),
and the scope check on every inserted row. Knows nothing of search.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.orm import Session

from .._errors import StoreError, UserError
from ._models import AuditRow, RecordRow
from ._redact import redact, redact_value
from ._scope import SOURCES, TIERS, TRUST, UNTRUSTED_SOURCES, Scope, check_text
from ._text import content_hash, term_counts

#: the largest content one record takes (characters): bigger text is split or summarized
#: first; redaction, hashing and indexing of one record stay well under a second below it
MAX_CONTENT = 200_000
MAX_REF = 2_000
MAX_META = 20_000
WRITE_KEYS = {"content", "tier", "kind", "source", "source_ref", "trust", "ttl", "key",
              "derived_from", "meta", "actor"}


def prepare(scope: Scope, item: str | Mapping[str, Any], now: float, *, secrets: bool,
            pii: bool, max_content: int = MAX_CONTENT) -> dict[str, Any]:
    """Validate and redact one write; the row to insert, its terms and its dedupe key."""
    it: dict[str, Any] = {"content": item} if isinstance(item, str) else dict(item)
    unknown = set(it) - WRITE_KEYS
    if unknown:
        raise UserError(f"unknown write fields {sorted(unknown)}; use {sorted(WRITE_KEYS)}")
    content = it.get("content")
    if not isinstance(content, str) or not content.strip():
        raise UserError("memory content must be a non-empty str")
    check_text("memory content", content)
    if len(content) > max_content:
        raise UserError(f"memory content of {len(content):,} characters is over the "
                        f"{max_content:,} a record takes; split it into several records or "
                        "store a summary (MemoryStore(max_content=...) raises the cap)")
    tier = it.get("tier") or "episodic"
    source = it.get("source") or "agent"
    if tier not in TIERS:
        raise UserError(f"tier {tier!r} is not one of {list(TIERS)}")
    if source not in SOURCES:
        raise UserError(f"source {source!r} is not one of {list(SOURCES)}")
    trust = it.get("trust") or ("untrusted" if source in UNTRUSTED_SOURCES else "trusted")
    if trust not in TRUST:
        raise UserError(f"trust {trust!r} is not one of {list(TRUST)}")
    ttl = it.get("ttl")
    if isinstance(ttl, timedelta):
        ttl = ttl.total_seconds()
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))
                            or not math.isfinite(ttl) or ttl <= 0):
        raise UserError(f"ttl must be a finite number of seconds > 0 (or a timedelta), got "
                        f"{ttl!r}; pass ttl=None for a record that does not expire")
    meta = it.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise UserError(f"meta must be a mapping (a dict of JSON values), got "
                        f"{type(meta).__name__}")
    meta = dict(meta)
    try:
        dumped = json.dumps(meta, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise UserError(f"meta must be JSON-serializable (finite numbers): {exc}") from exc
    check_text("meta", dumped)
    size = len(dumped)
    if size > MAX_META:
        raise UserError(f"meta is {size:,} characters of JSON, over {MAX_META:,}; keep "
                        "metadata small and put the text in content")
    ref, key = it.get("source_ref"), it.get("key")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF):
        raise UserError(f"source_ref must be a str of at most {MAX_REF} characters")
    if key is not None and len(str(key)) > 200:
        raise UserError("key must be at most 200 characters; it names a slot, not a value")
    for name, value in (("kind", it.get("kind")), ("source_ref", ref), ("key", key),
                        ("actor", it.get("actor"))):
        if isinstance(value, str):
            check_text(name, value)
    # every stored string passes the redactor, not only the content
    red = redact(content, secrets=secrets, pii=pii)
    text = red.text
    found = list(red.kinds)
    ref = redact_value(ref, secrets=secrets, pii=pii, found=found)
    key = redact_value(str(key), secrets=secrets, pii=pii, found=found) \
        if key is not None else None
    meta = redact_value(meta, secrets=secrets, pii=pii, found=found)
    kind = redact_value(str(it.get("kind") or "note")[:64], secrets=secrets, pii=pii,
                        found=found)
    actor = redact_value(it.get("actor") or source, found=found)
    parents = [str(x) for x in (it.get("derived_from") or ())]
    h = content_hash(text)
    counts = term_counts(text)
    # a plain namespace, not an ORM object: rows are bulk-inserted as dicts
    row = SimpleNamespace(
        id=uuid.uuid4().hex, tenant=scope.tenant, user_id=scope.user,
        session=scope.session, tier=tier, kind=kind,
        content=text, content_hash=h, source=source, source_ref=ref,
        trust=trust, created_at=now, valid_until=now + ttl if ttl else None,
        fact_key=str(key) if key is not None else None,
        review="pending" if tier == "semantic" and trust == "untrusted" else "none",
        derived_from=parents, redactions=found, meta=meta,
        num_terms=sum(counts.values()), vectorized=False, reviewed_at=None,
        reviewed_by=None, revoked_at=None, revoked_reason=None, revoked_by=None)
    return {"row": row, "terms": counts, "dedupe": dedupe_key(row), "actor": actor}


def audit_row(scope: Scope, at: float, action: str, record_id: str | None,
               actor: str | None, detail: dict[str, Any], *, clean: bool = False
               ) -> dict[str, Any]:
    """One audit line as a dict. The log is append-only, so it cannot be cleaned later:
    actor and detail pass the redactor, whatever the store's settings, unless the caller
    says they are ``clean`` (already redacted, or only figures ctxkit computed)."""
    detail = {k: v for k, v in detail.items() if v is not None}
    return {"tenant": scope.tenant, "user_id": scope.user, "session": scope.session, "at": at,
            "action": action, "record_id": record_id,
            "actor": actor if clean else redact_value(actor), "reason": None,
            "detail": detail if clean else redact_value(detail)}


def audit(scope: Scope, at: float, action: str, record_id: str | None, actor: str | None,
           reason: str | None, detail: dict[str, Any]) -> AuditRow:
    return AuditRow(**{**audit_row(scope, at, action, record_id, actor, detail),
                       "reason": redact_value(reason)})


def insert_rows(db: Session, scope: Scope, table: Any, rows: list[dict[str, Any]]) -> None:
    """Core executemany insert (ORM bulk inserts cost ~1 ms a record); the scope guard for
    inserts is here: every row must carry the session's tenant and user."""
    if not rows:
        return
    if any((r["tenant"], r["user_id"]) != (scope.tenant, scope.user) for r in rows):
        raise StoreError("refusing to write a memory row outside the session's scope "
                         "(this is a bug in ctxkit.memory)")
    db.connection().execute(insert(table.__table__), rows)


@cache
def _same_content_stmt() -> Any:
    # built once (bound parameters): dedupe runs on every write
    return select(RecordRow).where(
        RecordRow.content_hash.in_(bindparam("hashes", expanding=True)),
        RecordRow.revoked_at.is_(None),
        or_(RecordRow.valid_until.is_(None), RecordRow.valid_until > bindparam("now")),
    ).order_by(RecordRow.created_at, RecordRow.id)


def same_content(db: Session, hashes: set[str], now: float) -> dict[str, list[RecordRow]]:
    """Live records of the scope with one of ``hashes``, oldest first, by hash."""
    out: dict[str, list[RecordRow]] = {}
    for row in db.scalars(_same_content_stmt(), {"hashes": sorted(hashes), "now": now}):
        out.setdefault(row.content_hash, []).append(row)
    return out


def dedupe_key(row: Any) -> tuple[Any, ...]:
    """What makes two writes the same memory (see ``_prepare``)."""
    return (row.tier, row.trust, row.content_hash, row.fact_key,
            row.session if row.tier == "episodic" else None)


def check_parents(db: Session, prepared: list[dict[str, Any]]) -> None:
    wanted = {x for p in prepared for x in p["row"].derived_from}
    if not wanted:
        return
    found = set(db.scalars(select(RecordRow.id).where(RecordRow.id.in_(wanted))).all())
    missing = sorted(wanted - found)
    if missing:
        raise UserError(f"derived_from names records {missing} that this scope does not "
                        "hold; derive only from records of the same tenant and user")
