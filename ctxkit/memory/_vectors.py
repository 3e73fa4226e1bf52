"""The vector half of memory: a LanceDB table of embeddings keyed by record id.

Owns the table's schema, appends and deletes, and nearest-neighbour search that is
*pre*-filtered by scope (tenant and user always; session, tier and the as-of time when
asked) so ranking never sees another tenant's rows. It stores no content: the SQL store is
the source of truth and re-creates missing vectors after a crash. Every LanceDB failure
(a lost or corrupted directory) surfaces as ``StoreError`` naming the fix, never as a raw
lance error. Knows nothing of visibility rules beyond time (revocation, TTL, review are
checked in SQL).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from .._errors import MissingExtraError, StoreError
from ._scope import Scope

TABLE = "memory_vectors"


@contextmanager
def lance_errors(path: Path, doing: str) -> Iterator[None]:
    """Turn a LanceDB failure into a StoreError that says how to recover."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - lance raises RuntimeError/OSError/ValueError
        raise StoreError(
            f"the memory vectors at {path} could not be {doing} ({str(exc)[:200]}); the "
            "records are safe in SQL and the vectors are rebuilt from them: call "
            "store.rebuild_vectors() (or move the directory away and reopen the store)"
        ) from exc


def _lit(value: str) -> str:
    """A SQL string literal for LanceDB's filter language (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


class VectorIndex:
    """Embeddings of memory records in one LanceDB directory.

    Args:
        path: the LanceDB directory (created if missing).
        dim: the embedding dimension; an existing table of another dimension is refused.
    """

    def __init__(self, path: str | os.PathLike[str], dim: int) -> None:
        os.environ.setdefault("LANCEDB_LOG", "error")
        try:
            import lancedb
            import pyarrow as pa
        except ImportError as exc:
            raise MissingExtraError("memory", "lancedb") from exc
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        with lance_errors(self.path, "opened"):
            self._open(lancedb, pa, dim)

    def _open(self, lancedb: Any, pa: Any, dim: int) -> None:
        # another process may append (flushes are serialized by a lock, not by process):
        # check for a newer table version on every read
        self._db = lancedb.connect(str(self.path), read_consistency_interval=timedelta(0))
        self._pa = pa
        schema = pa.schema([
            pa.field("id", pa.string()), pa.field("tenant", pa.string()),
            pa.field("user_id", pa.string()), pa.field("session", pa.string()),
            pa.field("tier", pa.string()), pa.field("created_at", pa.float64()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ])
        names = self._db.list_tables()
        names = getattr(names, "tables", names)
        if TABLE in names:
            self._table = self._db.open_table(TABLE)
            self._table.count_rows()  # reads the manifest: a corrupted one fails here
            have = self._table.schema.field("vector").type.list_size
            if have != dim:
                raise StoreError(f"the vectors at {self.path} have dimension {have}, the "
                                 f"embedder gives {dim}; pass the embedder the store was "
                                 "built with, or a fresh vectors= directory")
        else:
            self._table = self._db.create_table(TABLE, schema=schema, exist_ok=True)
        self._num_adds = 0
        try:
            self._indexed = len(list(self._table.list_indices())) >= 2
        except Exception:  # noqa: BLE001 - unknown: optimize() will (re)create them
            self._indexed = False

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Append rows (id, tenant, user_id, session, tier, created_at, vector)."""
        if not rows:
            return
        with lance_errors(self.path, "written"):
            self._table.add(rows)
        self._num_adds += 1
        if self._num_adds % 32 == 0:
            self.optimize()

    def delete(self, ids: list[str]) -> None:
        with lance_errors(self.path, "written"):
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                self._table.delete("id IN (" + ", ".join(_lit(x) for x in chunk) + ")")

    def optimize(self) -> None:
        """Compact small fragments (each append makes one) and keep the scope columns
        indexed, so the scope pre-filter reads one user's rows, not the whole table."""
        try:
            self._table.optimize()
            if not self._indexed and self.count() >= 1024:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    for column in ("tenant", "user_id"):
                        self._table.create_scalar_index(column, index_type="BTREE",
                                                        replace=True)
                self._indexed = True
        except Exception:  # noqa: BLE001 - an optimization, never a failure
            pass

    def count(self) -> int:
        with lance_errors(self.path, "read"):
            return int(self._table.count_rows())

    def id_counts(self) -> Counter[str]:
        """How many rows each record id has (more than one: a duplicate)."""
        with lance_errors(self.path, "read"):
            n = int(self._table.count_rows())
            if not n:
                return Counter()
            tbl = self._table.search().select(["id"]).limit(n + 1).to_arrow()
            return Counter(tbl.column("id").to_pylist())

    def ids(self) -> set[str]:
        return set(self.id_counts())

    def vectors_of(self, scope: Scope, ids: list[str] | None = None) -> tuple[list[str], Any]:
        """The stored vectors of ``scope`` (all, or those of ``ids``): (ids, matrix)."""
        import numpy as np

        where = f"tenant = {_lit(scope.tenant)} AND user_id = {_lit(scope.user)}"
        out_ids: list[str] = []
        parts: list[Any] = []
        chunks = [None] if ids is None else [ids[i:i + 500] for i in range(0, len(ids), 500)]
        with lance_errors(self.path, "read"):
            for chunk in chunks:
                cond = where if chunk is None else where + " AND id IN (" + ", ".join(
                    _lit(x) for x in chunk) + ")"
                n = self.count() if chunk is None else len(chunk) * 2
                tbl = (self._table.search().where(cond).select(["id", "vector"])
                       .limit(max(n, 1)).to_arrow())
                if tbl.num_rows:
                    out_ids += tbl.column("id").to_pylist()
                    flat = tbl.column("vector").combine_chunks().flatten().to_numpy()
                    parts.append(np.asarray(flat, dtype=np.float32).reshape(-1, self.dim))
        vecs = np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)
        return out_ids, vecs

    def search(self, scope: Scope, vector: Any, *, limit: int, at: float | None = None,
               tier: str | None = None, session: str | None = None) -> list[tuple[str, float]]:
        """Nearest records of ``scope`` by cosine similarity, best first.

        The scope filter is applied before the neighbour search (``prefilter``), so the
        ``limit`` nearest are the nearest *within the scope*.
        """
        where = [f"tenant = {_lit(scope.tenant)}", f"user_id = {_lit(scope.user)}"]
        if at is not None:
            where.append(f"created_at <= {float(at)!r}")
        if tier is not None:
            where.append(f"tier = {_lit(tier)}")
        if session is not None:
            where.append(f"session = {_lit(session)}")
        with lance_errors(self.path, "searched"):
            query: Any = self._table.search(vector, vector_column_name="vector")
            rows = (query
                    .distance_type("cosine").where(" AND ".join(where), prefilter=True)
                    .select(["id", "_distance"]).limit(limit).to_list())
        return [(r["id"], 1.0 - float(r["_distance"])) for r in rows]
