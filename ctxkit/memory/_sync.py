"""Keeping LanceDB in step with SQL: the lazy embedding backlog, the check on open, and
the rebuild after a lost or corrupted vectors directory.

Owns ``flush`` (embed and append every record not yet in LanceDB, under a lock between
processes so two flushers never append one record twice), ``reconcile`` (on opening the
vectors, compare LanceDB's ids with SQL's: records flagged as embedded whose vector is
missing are flagged again and re-embedded, duplicates and rows of no record are dropped,
with a log line saying how many) and ``rebuild_vectors`` (move an unreadable directory
aside and re-embed everything). SQL is the source of truth throughout; nothing here
changes a record. These functions are bound as ``MemoryStore`` methods.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from .._errors import StoreError
from ._lock import file_lock
from ._models import RecordRow, analyze
from ._scope import Scope
from ._vectors import VectorIndex

if TYPE_CHECKING:
    from ._store import MemoryStore

log = logging.getLogger("ctxkit.memory")
_CHUNK = 256


def lock_path(vectors: Path) -> Path:
    return vectors.with_name(vectors.name + ".lock")


def open_index(self: MemoryStore, path: Path, dim: int) -> VectorIndex:
    """Open (or create) the vectors and check them against SQL, under the flush lock."""
    with file_lock(lock_path(path)):
        index = VectorIndex(path, dim)
        reconcile(self, index)
        return index


def reconcile(self: MemoryStore, index: VectorIndex) -> dict[str, int]:
    """Repair LanceDB against SQL; returns what was found (missing, duplicated, orphaned).
    The caller holds the flush lock."""
    have = index.id_counts()
    with self._maintenance("vector check") as db:
        rows = db.execute(select(RecordRow.id, RecordRow.vectorized)).all()
    flagged = {rid for rid, done in rows if done}
    known = {rid for rid, _ in rows}
    missing = flagged - set(have)
    dupes = {rid for rid, n in have.items() if n > 1 and rid in known}
    orphans = set(have) - known
    if dupes or orphans:
        index.delete(sorted(dupes | orphans))
    stale = sorted(missing | dupes)
    for i in range(0, len(stale), 500):
        with self._maintenance("vector check") as db:
            db.execute(update(RecordRow).where(RecordRow.id.in_(stale[i:i + 500]))
                       .values(vectorized=False))
    found = {"missing": len(missing), "duplicated": len(dupes), "orphaned": len(orphans)}
    if stale or orphans:
        log.warning("memory vectors at %s were out of step with %s: %d missing, %d "
                    "duplicated, %d of no record; %d records will be re-embedded before the "
                    "next search", index.path, _safe_url(self.url), found["missing"],
                    found["duplicated"], found["orphaned"], len(stale))
    return found


def flush(self: MemoryStore) -> int:
    """Embed and index every record not yet in LanceDB; returns how many."""
    with self._lock:
        if self._vectors is None and self._vectors_path is not None:
            self.vector_index()  # opening checks LanceDB against SQL: may add a backlog
        if not _pending_ids(self, limit=1):
            return 0
        index = self.vector_index()
        with file_lock(lock_path(index.path)):
            # read the backlog under the lock: another process may have just flushed it
            with self._maintenance("vector backlog") as db:
                pending = db.execute(select(
                    RecordRow.id, RecordRow.tenant, RecordRow.user_id, RecordRow.session,
                    RecordRow.tier, RecordRow.created_at, RecordRow.content,
                ).where(RecordRow.vectorized.is_(False)).order_by(RecordRow.created_at)).all()
            if not pending:
                return 0
            if not self._recovered:
                # a crash between the LanceDB append and the SQL flag leaves rows behind
                index.delete([p.id for p in pending])
                self._recovered = True
            for i in range(0, len(pending), _CHUNK):
                chunk = pending[i:i + _CHUNK]
                vecs = self.embedder.embed([p.content for p in chunk])
                if self.snapshots is not None:
                    _offer(self.snapshots, chunk, vecs)
                index.add([{"id": p.id, "tenant": p.tenant, "user_id": p.user_id,
                            "session": p.session, "tier": p.tier, "created_at": p.created_at,
                            "vector": vecs[j]} for j, p in enumerate(chunk)])
                with self._maintenance("vector backlog") as db:
                    db.execute(update(RecordRow).where(RecordRow.id.in_(
                        [p.id for p in chunk])).values(vectorized=True))
        if len(pending) >= 1000:
            analyze(self._engine)  # a bulk load changed the tables' shape
        return len(pending)


def rebuild_vectors(self: MemoryStore) -> int:
    """Re-create the vectors from SQL: the directory is moved aside (kept, renamed
    ``<dir>.broken-<time>``) and every record re-embedded. Returns how many."""
    with self._lock:
        path = self._vectors_path
        if path is None:
            raise StoreError("this store has no vectors directory to rebuild; pass vectors=")
        with file_lock(lock_path(path)):
            self._vectors = None
            if path.exists():
                aside = path.with_name(f"{path.name}.broken-{int(time.time())}")
                path.rename(aside)
                log.warning("memory vectors at %s moved to %s; re-embedding from SQL",
                            path, aside)
            with self._maintenance("vector rebuild") as db:
                db.execute(update(RecordRow).values(vectorized=False))
    return flush(self)


def _offer(cache: Any, chunk: Any, vecs: Any) -> None:
    by_scope: dict[tuple[str, str], list[int]] = {}
    for j, p in enumerate(chunk):
        by_scope.setdefault((p.tenant, p.user_id), []).append(j)
    for (tenant, user), js in by_scope.items():
        cache.offer_vectors(Scope(tenant=tenant, user=user), [chunk[j].id for j in js],
                            vecs[js])


def _pending_ids(self: MemoryStore, limit: int) -> list[str]:
    with self._maintenance("vector backlog") as db:
        return list(db.scalars(select(RecordRow.id).where(RecordRow.vectorized.is_(False))
                               .limit(limit)).all())


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
