"""MemoryStore: records, provenance and audit in SQL; vectors in LanceDB.

Owns opening a store from any SQLAlchemy URL, every write (validation, redaction, dedupe
by canonical content hash, the lexical index, the audit line) and keeping LanceDB in step
with SQL. SQL is the source of truth: a write returns once its transaction committed;
its vector is embedded lazily, in batches, before the next search (and again after a
crash, from the ``vectorized`` flag). Reads live in ``_view``, revocation and review in
``_admin``, consolidation in ``_consolidate``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from .._block import Block
from .._errors import StoreError, UserError
from . import _admin, _consolidate, _links, _sync
from ._models import (
    SCHEMA_VERSION,
    AuditRow,
    DerivationRow,
    LinkRow,
    MetaRow,
    RecordRow,
    TermRow,
    create_schema,
    insert_ignore,
    make_engine,
    scoped_sessions,
)
from ._redact import redact_value
from ._scope import MemoryRecord, Scope, check_scope
from ._search import SearchParams
from ._snapshot import SnapshotCache
from ._vectors import VectorIndex
from ._view import MemoryView
from ._visibility import to_record
from ._write import (
    MAX_CONTENT,
    audit_row,
    check_parents,
    dedupe_key,
    insert_rows,
    prepare,
    same_content,
)


class MemoryStore(MemoryView):
    """Scoped, audited agent memory.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///agent.db`` (WAL mode), ``sqlite://`` (in
            memory), ``postgresql://user@host/db`` (psycopg).
        vectors: the LanceDB directory; defaults to ``<db file>.vectors`` for SQLite files,
            a temporary directory for in-memory SQLite; other databases need it once
            something is searched (operators can list, audit and revoke without it).
        embedder: any ``ctxkit.embeddings.Embedder``; default: the packaged MiniLM, loaded
            on first need (listing and auditing never load it).
        clock: unix seconds (injectable, for TTL and ``as_of`` tests).
        redact_secrets: replace API keys, tokens, private keys, passwords before storing.
        redact_pii: replace e-mail addresses, phone/card/SSN/IBAN numbers before storing.
        search_params: tuning of hybrid search.
        max_content: the most characters one record's content may have (larger writes
            are refused with a clear error: split or summarize them first).
        search_cache_mb: memory for the per-scope search snapshots (SQLite only; 0 turns
            them off and every search runs in SQL and LanceDB).
    """

    def __init__(self, url: str = "sqlite:///memory.db", *,
                 vectors: str | os.PathLike[str] | None = None, embedder: Any = None,
                 clock: Callable[[], float] = time.time, redact_secrets: bool = True,
                 redact_pii: bool = True, search_params: SearchParams | None = None,
                 max_content: int = MAX_CONTENT, search_cache_mb: int = 512) -> None:
        super().__init__(self, None)
        if not isinstance(url, str):
            raise UserError(f"MemoryStore url must be a str SQLAlchemy URL, got {url!r}")
        self.url = url
        self.clock = clock
        self.redact_secrets = redact_secrets
        self.redact_pii = redact_pii
        self.search_params = search_params or SearchParams()
        self.max_content = max_content
        self._engine = make_engine(url)
        create_schema(self._engine, _safe(url))
        self._factory = scoped_sessions(self._engine)
        # SQLite serializes writers, so its audit order is commit order: snapshots can
        # follow it; other databases search in SQL
        self.snapshots = SnapshotCache(search_cache_mb << 20) if search_cache_mb > 0 \
            and self._engine.dialect.name == "sqlite" else None
        self._vectors_path = _vectors_dir(url, vectors, self._engine.dialect.name)
        self._embedder = embedder
        self._vectors: VectorIndex | None = None
        self._lock = threading.RLock()
        self._recovered = False
        self._check_meta()

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def session(self, scope: Scope) -> Iterator[Session]:
        """A transaction whose every query is confined to ``scope`` (internal)."""
        with self._factory(info={"scope": scope}) as db, db.begin():
            yield db

    def _lock_for_write(self, db: Session) -> None:
        """Take SQLite's write lock before a write reads what it dedupes against: the
        driver begins a transaction only at the first INSERT, so that lookup would read
        outside it and two processes writing one memory at once could both insert it."""
        if self._engine.dialect.name == "sqlite":
            db.connection().exec_driver_sql("BEGIN IMMEDIATE")

    @contextmanager
    def _maintenance(self, why: str) -> Iterator[Session]:
        with self._factory(info={"unscoped": why}) as db, db.begin():
            yield db

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from ..embeddings import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def embed_query(self, text: str) -> Any:
        return self.embedder.embed([text])[0]

    def vector_index(self) -> VectorIndex:
        with self._lock:
            if self._vectors is None:
                if self._vectors_path is None:
                    raise UserError(f"a {self._engine.dialect.name} memory store needs "
                                    "vectors=PATH (a LanceDB directory) for its embeddings")
                emb = self.embedder
                self._check_embedder(emb)
                # a lost or stale directory is repaired here, before any search
                self._vectors = _sync.open_index(self, self._vectors_path, int(emb.dim))
            return self._vectors

    def _meta(self, key: str, value: str) -> str:
        """The stored value of ``key``, writing ``value`` first if there is none. Two
        processes opening a fresh store both get the one value that won."""
        with self._maintenance(f"store meta {key}") as db:
            db.execute(insert_ignore(self._engine.dialect.name, MetaRow, key, value))
            return str(db.get(MetaRow, key).value)  # type: ignore[union-attr]

    def _check_meta(self) -> None:
        have = self._meta("schema", SCHEMA_VERSION)
        if have != SCHEMA_VERSION:
            raise StoreError(f"memory store {_safe(self.url)} has schema {have}, "
                             f"this ctxkit reads {SCHEMA_VERSION}; upgrade ctxkit")

    def _check_embedder(self, emb: Any) -> None:
        want = json.dumps({"name": str(getattr(emb, "name", "?")), "dim": int(emb.dim)})
        have = self._meta("embedder", want)
        if have != want:
            raise StoreError(f"memory store {_safe(self.url)} was embedded with {have}, "
                             f"not {want}; pass the same embedder, or open a fresh store")

    def close(self) -> None:
        """Dispose of connections (records are already durable)."""
        self._engine.dispose()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def as_of(self, t: float) -> MemoryView:
        """The store exactly as it was at unix time ``t`` (read-only)."""
        if not isinstance(t, (int, float)) or not math.isfinite(t):
            raise UserError(f"as_of takes unix seconds (a finite number), got {t!r}")
        return MemoryView(self, float(t))

    # -- writes --------------------------------------------------------------------------

    def write(self, scope: Scope, content: str, *, tier: str = "episodic", kind: str = "note",
              source: str = "agent", source_ref: str | None = None, trust: str | None = None,
              ttl: float | timedelta | None = None, key: str | None = None,
              derived_from: Sequence[str] = (), meta: Mapping[str, Any] | None = None,
              actor: str | None = None) -> MemoryRecord:
        """Store one memory and return it (or the identical one already stored).

        Args:
            scope: whose memory; its session stamps the record.
            content: the text; secrets and PII are redacted first.
            tier: ``episodic`` or ``semantic``.
            kind: a free label (note, turn, tool_result, summary, fact, preference...).
            source: user, agent, tool, system, compaction or document.
            source_ref: what it came from (a tool call id, a tool name, a document path).
            trust: defaults to ``untrusted`` for tool and document sources. Untrusted
                semantic records wait in ``review_queue`` until ``approve``d.
            ttl: seconds (or a timedelta) until the record stops being returned.
            key: for semantic facts, the slot it fills; the newest fact of a key wins.
            derived_from: ids of the records it was derived from (revocation follows).
            meta: JSON-able metadata.
            actor: who writes, for the audit log (defaults to ``source``).
        """
        return self.write_many(scope, [dict(
            content=content, tier=tier, kind=kind, source=source, source_ref=source_ref,
            trust=trust, ttl=ttl, key=key, derived_from=derived_from, meta=meta,
            actor=actor)])[0]

    def write_many(self, scope: Scope, items: Sequence[str | Mapping[str, Any]]
                   ) -> list[MemoryRecord]:
        """Write several memories in one transaction; items are texts or ``write`` kwargs."""
        scope = check_scope(scope)
        if isinstance(items, (str, bytes, Mapping)):  # one item would read as its parts
            raise UserError(f"write_many takes a list of texts or write kwargs, got one "
                            f"{type(items).__name__}; wrap it in a list, or call write()")
        now = self.clock()
        prepared = [prepare(scope, it, now, secrets=self.redact_secrets, pii=self.redact_pii,
                            max_content=self.max_content) for it in items]
        out: list[MemoryRecord] = []
        records: list[dict[str, Any]] = []
        terms: list[dict[str, Any]] = []
        derivations: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        fresh: list[Any] = []
        fresh_terms: list[Any] = []
        who = {"tenant": scope.tenant, "user_id": scope.user}
        with self.session(scope) as db:
            self._lock_for_write(db)
            check_parents(db, prepared)
            candidates = same_content(db, {p["row"].content_hash for p in prepared}, now)
            batch: dict[tuple[Any, ...], Any] = {}
            for p in prepared:
                row = p["row"]
                existing = batch.get(p["dedupe"]) or next(
                    (c for c in candidates.get(row.content_hash, ()) if dedupe_key(c)
                     == p["dedupe"]), None)
                if existing is not None:
                    audit.append(audit_row(scope, now, "dedupe", existing.id, p["actor"], {
                        "source": row.source, "source_ref": row.source_ref}))
                    out.append(to_record(existing, now))
                    continue
                records.append(vars(row))
                terms += [{"record_id": row.id, "term": t, "tf": n, **who}
                          for t, n in p["terms"].items()]
                derivations += [{"child_id": row.id, "parent_id": x, **who}
                                for x in row.derived_from]
                audit.append(audit_row(scope, now, "write", row.id, p["actor"], {
                    "tier": row.tier, "kind": row.kind, "source": row.source,
                    "source_ref": row.source_ref, "trust": row.trust, "review": row.review,
                    "redactions": row.redactions, "derived_from": row.derived_from}))
                batch[p["dedupe"]] = row
                fresh.append(row)
                fresh_terms.append(p["terms"])
                out.append(to_record(row, now))
            links = _links.link_rows(scope, fresh, now, fresh_terms)
            # bulk inserts, one statement per table, each row checked against the scope
            for table, rows in ((RecordRow, records), (TermRow, terms),
                                (DerivationRow, derivations), (LinkRow, links),
                                (AuditRow, audit)):
                insert_rows(db, scope, table, rows)
        return out

    def write_episodes(self, scope: Scope, blocks: Sequence[Block | str], *,
                       source: str = "compaction", source_ref: str | None = None,
                       refs: Sequence[str | None] | None = None, kind: str = "turn",
                       ttl: float | timedelta | None = None) -> list[str]:
        """Write blocks (or texts) to episodic memory; returns their record ids, in order.

        The seam for write-on-compaction: call it with the turns about to be dropped
        *before* rewriting the session. A block keeps its trust (tool results stay
        untrusted) and its provenance ref (or its key) as the record's ``source_ref``
        unless ``refs`` names one per block. Empty blocks are skipped (id ``""``).
        """
        if refs is not None and len(refs) != len(blocks):
            raise UserError(f"refs has {len(refs)} entries for {len(blocks)} blocks")
        items: list[dict[str, Any]] = []
        index: list[int] = []
        for i, b in enumerate(blocks):
            text, trust, ref, meta = b, None, source_ref, {}
            if isinstance(b, Block):
                text, trust = b.content, b.trust
                ref = source_ref or (b.provenance.ref if b.provenance else None) or b.key
                meta = {"role": b.role, "block_kind": b.kind, "key": b.key}
                if b.name:
                    meta["tool"] = b.name
            elif not isinstance(b, str):
                raise UserError(f"write_episodes takes Blocks or str, got {type(b).__name__}")
            if refs is not None and refs[i] is not None:
                ref = refs[i]
            if not str(text).strip():
                continue
            items.append(dict(content=text, tier="episodic", kind=kind, source=source,
                              source_ref=ref, trust=trust, ttl=ttl, meta=meta))
            index.append(i)
        ids = [""] * len(blocks)
        for i, rec in zip(index, self.write_many(scope, items), strict=True):
            ids[i] = rec.id
        return ids

    # -- audit, revocation, review, consolidation ---------------------------------------

    def audit_reads(self, db: Session, scope: Scope,
                    hits: Sequence[tuple[str, float | None, dict[str, Any]]], *, via: str,
                    actor: str, extra: dict[str, Any]) -> None:
        """Log a read: one audit line per record returned (or one saying none was)."""
        now = self.clock()
        # the read's details are ctxkit's own figures and a query digest; the actor and the
        # extra fields are redacted once for the whole read
        actor = redact_value(actor)
        extra = redact_value(extra)
        rows = [audit_row(scope, now, "read", None, actor, {"via": via, **extra}, clean=True)
                ] if not hits else [
            audit_row(scope, now, "read", rid, actor,
                      {"via": via, "rank": rank, "score": score, **detail, **extra}, clean=True)
            for rank, (rid, score, detail) in enumerate(hits, 1)]
        insert_rows(db, scope, AuditRow, rows)

    flush = _sync.flush
    rebuild_vectors = _sync.rebuild_vectors
    revoke = _admin.revoke
    approve = _admin.approve
    reject = _admin.reject
    consolidate = _consolidate.consolidate


def _vectors_dir(url: str, vectors: str | os.PathLike[str] | None, dialect: str
                 ) -> Path | None:
    if vectors is not None:
        return Path(vectors)
    if dialect == "sqlite":
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            return Path(path.split("?", 1)[0] + ".vectors")
        return Path(tempfile.mkdtemp(prefix="ctxkit-memory-vectors-"))
    return None  # required only once something is embedded or searched


_safe = _sync._safe_url  # the URL without its password
