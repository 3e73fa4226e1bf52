"""SQLAlchemy models of the memory store, the engine, and the scope guard.

Owns the tables (records, terms of the lexical index, derivations, the append-only audit
log, store metadata), engine creation for any SQLAlchemy URL (SQLite in WAL mode by
default, PostgreSQL through psycopg), and the *query-layer* isolation: every ORM statement
on a scoped table must carry a Scope, which is added to it as WHERE criteria on every
occurrence of every scoped table (aliases and subqueries included). A statement without a
scope raises, so no caller can forget one. Knows nothing of ranking or vectors.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    create_engine,
    event,
    insert,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)

from .._errors import StoreError, UserError
from ._scope import Scope

SCHEMA_VERSION = "1"


class Base(DeclarativeBase):
    pass


class Scoped:
    """Mixin of every table that holds a tenant's data: the guard filters on these."""

    tenant: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(String(200))


class RecordRow(Scoped, Base):
    __tablename__ = "memory_records"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tier: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    trust: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    valid_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    fact_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    review: Mapped[str] = mapped_column(String(16), default="none")
    reviewed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    derived_from: Mapped[list[str]] = mapped_column(JSON, default=list)
    redactions: Mapped[list[str]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    num_terms: Mapped[int] = mapped_column(Integer, default=0)
    vectorized: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_memrec_scope_created", "tenant", "user_id", "created_at"),
        Index("ix_memrec_scope_hash", "tenant", "user_id", "content_hash"),
        Index("ix_memrec_scope_key", "tenant", "user_id", "fact_key"),
        Index("ix_memrec_vectorized", "vectorized"),
    )


class TermRow(Scoped, Base):
    """The lexical index: term frequencies per record, searched inside one scope."""

    __tablename__ = "memory_terms"

    record_id: Mapped[str] = mapped_column(ForeignKey("memory_records.id"), primary_key=True)
    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    tf: Mapped[int] = mapped_column(Integer)

    # record_id last: the planner probes (scope, term, record) per candidate record
    __table_args__ = (Index("ix_memterm_scope_term", "tenant", "user_id", "term",
                            "record_id"),)


class DerivationRow(Scoped, Base):
    """``child`` was derived from ``parent`` (consolidation, summaries): revocation follows."""

    __tablename__ = "memory_derivations"

    child_id: Mapped[str] = mapped_column(ForeignKey("memory_records.id"), primary_key=True)
    parent_id: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_memderiv_scope_parent", "tenant", "user_id", "parent_id"),)


class LinkRow(Scoped, Base):
    """``record`` mentions ``entity`` (``kind:name``), or shares an event with a neighbour:
    the edges read-time expansion follows. Provenance on every link: the extractor that
    made it and when; a revoked record's links are revoked with it (``revoked_at``).
    Time links carry the UTC range the record's date names (``event_start/_end``)."""

    __tablename__ = "memory_links"

    record_id: Mapped[str] = mapped_column(ForeignKey("memory_records.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    extractor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    event_start: Mapped[float | None] = mapped_column(Float, nullable=True)
    event_end: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_memlink_scope_entity", "tenant", "user_id", "entity",
                            "record_id"),)


class AuditRow(Scoped, Base):
    """The append-only audit log (UPDATE and DELETE are refused by the database)."""

    __tablename__ = "memory_audit"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    session: Mapped[str | None] = mapped_column(String(200), nullable=True)
    record_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_memaudit_scope_record", "tenant", "user_id", "record_id"),
        Index("ix_memaudit_scope_at", "tenant", "user_id", "at"),
        # search snapshots read the changes after the last line they applied
        Index("ix_memaudit_scope_seq", "tenant", "user_id", "seq"),
    )


class MetaRow(Base):
    """Store-wide settings (schema version, the embedder the vectors were built with)."""

    __tablename__ = "memory_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS memory_audit_no_update BEFORE UPDATE ON memory_audit "
        "BEGIN SELECT RAISE(ABORT, 'memory_audit is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS memory_audit_no_delete BEFORE DELETE ON memory_audit "
        "BEGIN SELECT RAISE(ABORT, 'memory_audit is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION memory_audit_refuse() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'memory_audit is append-only'; END $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS memory_audit_append_only ON memory_audit",
        "CREATE TRIGGER memory_audit_append_only BEFORE UPDATE OR DELETE ON memory_audit "
        "FOR EACH ROW EXECUTE FUNCTION memory_audit_refuse()",
    ],
}


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL, NORMAL sync and a busy timeout."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    try:
        engine = create_engine(url, future=True)
    except ImportError as exc:  # e.g. psycopg missing for a PostgreSQL URL
        raise StoreError(f"cannot open {url.split('@')[-1]!r}: {exc}; for PostgreSQL run: "
                         "pip install 'ctxkit[memory]' (it brings psycopg)") from exc
    except Exception as exc:
        raise UserError(f"{url!r} is not a SQLAlchemy URL ({exc}); use e.g. "
                        "'sqlite:///agent.db' or 'postgresql://user@host/db'") from exc
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer; a killed writer loses nothing committed.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


def create_schema(engine: Engine, name: str) -> None:
    """Create missing tables and the audit log's append-only triggers (idempotent, also
    when several processes open a fresh database at once)."""
    last: Exception | None = None
    for attempt in range(8):
        try:
            _create(engine)
            analyze(engine)
            return
        except OperationalError as exc:  # unreachable, locked, read-only
            last = exc
            if "already exists" not in str(exc) and "locked" not in str(exc):
                raise StoreError(f"cannot open memory store {name}: {exc.orig}; check the "
                                 "URL and that the database is reachable and writable"
                                 ) from exc
        except (ProgrammingError, IntegrityError) as exc:
            last = exc  # PostgreSQL: a concurrent CREATE won (duplicate table/type)
        # another process created part of the schema between our check and our CREATE:
        # check again (create_all skips what exists now)
        time.sleep(0.05 * (attempt + 1))
    raise StoreError(f"cannot create the memory schema in {name} ({last}); another process "
                     "keeps changing it: retry, or create it once with MemoryStore(url) "
                     "before starting workers") from last


# indexes added after stores were first created (create_all adds tables, not indexes)
_LATER_INDEXES = ["CREATE INDEX IF NOT EXISTS ix_memaudit_scope_seq ON memory_audit "
                  "(tenant, user_id, seq)"]


def _create(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            # concurrent openers would race on CREATE TABLE/FUNCTION; serialize them
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            Base.metadata.create_all(conn)
            for sql in _APPEND_ONLY["postgresql"] + _LATER_INDEXES:
                conn.exec_driver_sql(sql)
        return
    Base.metadata.create_all(engine)
    statements = _APPEND_ONLY.get(engine.dialect.name, []) + _LATER_INDEXES
    if statements:
        with engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)


def analyze(engine: Engine) -> None:
    """Refresh SQLite's planner statistics (sampled: milliseconds). Without them, a lookup
    by id inside one big scope is planned as a scan of the scope (130 ms at 10k records
    instead of 0.2 ms). Best effort: a read-only file keeps its old statistics."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=400")
            conn.exec_driver_sql("ANALYZE")
    except Exception:  # noqa: BLE001 - statistics are an optimization
        pass


def insert_ignore(dialect: str, table: Any, key: str, value: str) -> Any:
    """``INSERT`` of one meta row that does nothing if the key is already there."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(key=key, value=value).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).values(key=key, value=value).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE").values(key=key, value=value)  # MySQL


# The scope criteria hold no values, only bound parameters that the guard fills in per
# execution: one option object for every scope, so SQLAlchemy's statement cache (and ours,
# below) stays warm instead of re-keying each statement for each tenant.
_SCOPE_CRITERIA = with_loader_criteria(
    Scoped, lambda cls: and_(cls.tenant == bindparam("ctxkit_scope_tenant"),
                             cls.user_id == bindparam("ctxkit_scope_user")),
    include_aliases=True, track_closure_variables=False)
_guarded: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _with_scope(statement: Any) -> Any:
    try:
        hit = _guarded.get(statement)
    except TypeError:  # not weak-referenceable: guard without memo
        return statement.options(_SCOPE_CRITERIA)
    if hit is None:
        hit = _guarded[statement] = statement.options(_SCOPE_CRITERIA)
    return hit


def scoped_sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose every ORM statement on a scoped table needs a scope.

    Open sessions with ``factory(info={"scope": scope})``; internal maintenance that must
    see all rows (vector reconciliation) opens with ``info={"unscoped": "<why>"}``.
    """
    factory = sessionmaker(engine, expire_on_commit=False)

    @event.listens_for(factory, "do_orm_execute")
    def _guard(state: ORMExecuteState) -> None:
        if state.is_column_load or state.is_relationship_load:
            return
        scope = state.session.info.get("scope")
        if scope is None:
            if state.session.info.get("unscoped"):
                return
            if _touches_scoped(state):
                raise StoreError("a memory query ran without a Scope; open the session "
                                 "through MemoryStore (this is a bug in ctxkit.memory)")
            return
        if state.is_insert:  # bulk inserts: every row must belong to the scope
            given: Any = state.parameters
            rows = given if isinstance(given, list) else [given or {}]
            if any((r.get("tenant"), r.get("user_id")) != (scope.tenant, scope.user)
                   for r in rows if "tenant" in r or "user_id" in r):
                raise StoreError("refusing to write a memory row outside the session's "
                                 "scope (this is a bug in ctxkit.memory)")
            return
        if not (state.is_select or state.is_update or state.is_delete):
            return
        current: Any = state.parameters
        if isinstance(current, list):
            raise StoreError("scoped executemany is not supported (bug in ctxkit.memory)")
        params = dict(current or {})
        params["ctxkit_scope_tenant"] = scope.tenant
        params["ctxkit_scope_user"] = scope.user
        state.parameters = params
        state.statement = _with_scope(state.statement)

    @event.listens_for(factory, "before_flush")
    def _stamp(session: Session, _ctx: Any, _instances: Any) -> None:
        scope = session.info.get("scope")
        for obj in session.new:
            if isinstance(obj, Scoped):
                if scope is None or (obj.tenant, obj.user_id) != (scope.tenant, scope.user):
                    raise StoreError("refusing to write a memory row outside the session's "
                                     "scope (this is a bug in ctxkit.memory)")

    return factory


def _touches_scoped(state: ORMExecuteState) -> bool:
    mappers = list(state.all_mappers) if state.is_select else []
    if not state.is_select:
        mapper = getattr(state, "bind_mapper", None)
        mappers = [mapper] if mapper is not None else []
    return any(m is not None and issubclass(m.class_, Scoped) for m in mappers) or \
        not mappers


def scope_session(factory: sessionmaker[Session], scope: Scope) -> Session:
    """A session bound to ``scope``: its queries see only that tenant and user."""
    return factory(info={"scope": scope})
