"""Scope and the record types of memory: who a record belongs to, and what a record is.

Owns ``Scope`` (tenant, user, session), the public ``MemoryRecord`` and ``AuditEntry``
views, ``MemoryHit`` (a search result) and the vocabularies (tiers, sources, trust). Knows
nothing of SQL or vectors: the store builds these from its rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .._block import Provenance
from .._errors import UserError

TIERS = ("episodic", "semantic")
SOURCES = ("user", "agent", "tool", "system", "compaction", "document")
#: sources whose content an outside party could have written: untrusted by default.
UNTRUSTED_SOURCES = frozenset({"tool", "document"})
TRUST = ("trusted", "untrusted")
REVIEW = ("none", "pending", "approved", "rejected")
_MAX_ID = 200


def _check_id(what: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"Scope.{what} must be a non-empty string, got {value!r}; every "
                        "memory read and write names its tenant and user")
    if len(value) > _MAX_ID or any(ord(c) < 32 for c in value):
        raise UserError(f"Scope.{what} {value[:40]!r} must be at most {_MAX_ID} printable "
                        "characters")
    check_text(f"Scope.{what}", value)


def check_whole(what: str, value: object, low: int = 1) -> None:
    """Refuse anything but a whole number >= ``low`` (a bool or ``2.5`` too)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{what} must be a whole number >= {low}, got {value!r}")


def check_number(what: str, value: object, hint: str = "") -> None:
    """Refuse anything but a finite number (NaN would compare false and match nothing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise UserError(f"{what} must be {hint or 'a finite number'}, got {value!r}")


def check_names(what: str, value: object) -> None:
    """Refuse a bare str where a list of names is meant (it would read as its letters)."""
    if value is not None and (not isinstance(value, (list, tuple, set, frozenset)) or
                              not all(isinstance(v, str) for v in value)):
        raise UserError(f"{what} must be a list of names ({what}=['fact']), got {value!r}")


def check_text(what: str, value: str) -> None:
    """Refuse text with no UTF-8 form (a lone surrogate: bytes decoded with
    ``errors="surrogateescape"``), which no database or hash can take."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UserError(f"{what} is not valid Unicode: a lone surrogate {value[exc.start]!r} "
                        f"at index {exc.start} (bytes decoded with errors='surrogateescape'?);"
                        " decode the bytes properly or replace it first") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """Whose memory an operation touches. Required on every store call.

    Reads see exactly the records of ``(tenant, user)``; nothing crosses a tenant or a
    user. ``session`` stamps the records this scope writes (and the audit entries of its
    reads); it does not narrow reads: pass ``session=`` to a read to do that.

    Attributes:
        tenant: the organisation or deployment; the hard isolation boundary.
        user: the end user within the tenant.
        session: the conversation writing through this scope, if any.
    """

    tenant: str
    user: str
    session: str | None = None

    def __post_init__(self) -> None:
        _check_id("tenant", self.tenant)
        _check_id("user", self.user)
        _check_id("session", self.session, optional=True)

    def with_session(self, session: str | None) -> Scope:
        """The same tenant and user, writing as ``session``."""
        return Scope(tenant=self.tenant, user=self.user, session=session)


def check_scope(scope: object) -> Scope:
    """``scope`` itself, or a UserError that says how to build one."""
    if not isinstance(scope, Scope):
        raise UserError(f"expected a ctxkit.memory.Scope, got {type(scope).__name__}; pass "
                        "Scope(tenant=..., user=..., session=...) as the first argument")
    return scope


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryRecord:
    """One stored memory, as the store saw it (at ``as_of`` time, for a replayed view).

    Attributes:
        id: the record id (32 hex characters).
        scope: tenant, user and the session that wrote it.
        tier: ``episodic`` (events, tool traces, compacted turns) or ``semantic`` (facts).
        kind: free label: ``note``, ``turn``, ``tool_result``, ``summary``, ``fact``...
        content: the stored text, after redaction.
        source: user, agent, tool, system, compaction or document.
        source_ref: what it came from: a call id, a tool name, a document path.
        trust: ``untrusted`` for content an outside party could have written.
        created_at: unix seconds.
        valid_until: TTL expiry (unix seconds), None for no expiry.
        key: the fact slot for semantic records; a newer record with the same key
            supersedes this one.
        superseded_by: the id of the record that supersedes this one, if any.
        revoked_at, revoked_reason, revoked_by: the revocation, if any.
        derived_from: ids of the records this one was derived from.
        redactions: kinds of secrets or PII removed before storing.
        review: ``none``, ``pending`` (untrusted content waiting for approval before it is
            used as semantic memory), ``approved`` or ``rejected``.
        content_hash: hash of the canonical content (what dedupe compares).
        meta: free JSON-able metadata given at write time.
    """

    id: str
    scope: Scope
    tier: str
    kind: str
    content: str
    source: str
    source_ref: str | None
    trust: str
    created_at: float
    valid_until: float | None = None
    key: str | None = None
    superseded_by: str | None = None
    revoked_at: float | None = None
    revoked_reason: str | None = None
    revoked_by: str | None = None
    derived_from: tuple[str, ...] = ()
    redactions: tuple[str, ...] = ()
    review: str = "none"
    content_hash: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def provenance(self) -> Provenance:
        """Who wrote it, from what, when — in the core's Provenance shape."""
        return Provenance(source=self.source, ref=self.source_ref, at=self.created_at)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_redacted(self) -> bool:
        return bool(self.redactions)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryLink:
    """A record's link to an entity or an event, with its provenance.

    Attributes:
        record_id: the linked record.
        entity: ``kind:name`` (``person:caroline``, ``time:2023-05-07``, ``event:<id>``).
        kind: person, name, thing, object, time or event.
        extractor: what made the link (``rules-v1``, ``batch-neighbours``).
        created_at: when it was made (the record's write).
        event_start: for time links, the start of the UTC range the record's date names
            (relative dates resolved against the write time).
        event_end: its end (exclusive).
        revoked_at: when it was revoked with its record, or None.
    """

    record_id: str
    entity: str
    kind: str
    extractor: str
    created_at: float
    event_start: float | None = None
    event_end: float | None = None
    revoked_at: float | None = None


class MemoryHit(NamedTuple):
    """A search result: unpacks as ``record, score``; score in (0, 1], higher is better."""

    record: MemoryRecord
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One line of the append-only audit log.

    Attributes:
        seq: position in the log (increasing).
        at: unix seconds.
        action: write, dedupe, read, revoke, approve, reject, consolidate.
        record_id: the record concerned (None for a read that found nothing).
        actor: who did it: a source (user, agent, tool...), ``operator``, a name.
        reason: why, when one was given.
        session: the session of the scope that acted.
        detail: what else is known: the query, the score and rank of a read, the filter
            of a revocation.
    """

    seq: int
    at: float
    action: str
    record_id: str | None
    actor: str | None
    reason: str | None
    session: str | None
    detail: dict[str, Any] = field(default_factory=dict)
