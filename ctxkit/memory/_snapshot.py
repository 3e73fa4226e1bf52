"""An in-process snapshot of one scope for search: what BM25 and cosine need, in arrays.

Owns the fast path of hybrid search on SQLite. A scope's records (their visibility fields,
lengths, terms and vectors) are loaded once and kept in step with the database by the
audit log: every change to a record (write, revoke, approve, reject) appends an audit line
in the same transaction, so before each search the snapshot reads the lines after the
last one it applied and reloads just those records. SQLite serializes writers, so audit
order is commit order and a snapshot never skips a change made by another process.
Visibility at ``t`` (created, revoked, expired, reviewed, superseded) is computed over the
arrays with the same rules as ``_visibility``; BM25 uses the same formula with document
frequencies over the visible records only, and cosine is exact over the scope's vectors,
so results equal the SQL path's (a test checks). Snapshots are kept per scope in an LRU
bounded in bytes. Knows nothing of fusion (``_search``) or of auditing reads (``_view``).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ._models import AuditRow, RecordRow, TermRow
from ._scope import Scope
from ._text import terms
from ._vectors import VectorIndex

CHANGES = ("write", "revoke", "approve", "reject")
_COLS = (RecordRow.id, RecordRow.created_at, RecordRow.revoked_at, RecordRow.valid_until,
         RecordRow.review, RecordRow.reviewed_at, RecordRow.fact_key, RecordRow.tier,
         RecordRow.session, RecordRow.kind, RecordRow.num_terms)
_NAN = float("nan")
_REVIEW = {"none": 0, "pending": 1, "approved": 2, "rejected": 3}


def _num(x: float | None) -> float:
    return _NAN if x is None else float(x)


@dataclass(slots=True)
class Snapshot:
    """One scope's search data; rows are appended in write order and never removed."""

    seq: int = 0
    ids: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    postings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    vectors: np.ndarray | None = None  # (capacity, dim) float32, unit rows
    has_vec: list[bool] = field(default_factory=list)
    num_missing: int = 0  # rows without a vector yet
    num_postings: int = 0
    _arrays: dict[str, Any] | None = None
    _np_postings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def num_bytes(self) -> int:
        vec = 0 if self.vectors is None else self.vectors.nbytes
        return vec + 200 * len(self.ids) + 24 * self.num_postings

    def put(self, row: Any) -> int | None:
        """Add or update one record's fields; returns its index if it is new."""
        values = (_num(row.created_at), _num(row.revoked_at), _num(row.valid_until),
                  row.review, _num(row.reviewed_at), row.fact_key, row.tier, row.session,
                  row.kind, int(row.num_terms or 0))
        self._arrays = None
        i = self.index.get(row.id)
        if i is not None:
            self.rows[i] = values
            return None
        i = len(self.ids)
        self.ids.append(row.id)
        self.index[row.id] = i
        self.rows.append(values)
        self.has_vec.append(False)
        self.num_missing += 1
        return i

    def add_terms(self, i: int, term: str, tf: int) -> None:
        self.postings.setdefault(term, []).append((i, tf))
        self.num_postings += 1
        self._np_postings.pop(term, None)

    def arrays(self) -> dict[str, Any]:
        if self._arrays is None:
            cols = list(zip(*self.rows, strict=True)) if self.rows else [()] * 10
            self._arrays = {
                "created": np.array(cols[0], dtype=np.float64),
                "revoked": np.array(cols[1], dtype=np.float64),
                "valid": np.array(cols[2], dtype=np.float64),
                "review": np.array([_REVIEW[r] for r in cols[3]], dtype=np.int8),
                "reviewed": np.array(cols[4], dtype=np.float64),
                "key": list(cols[5]),
                "semantic": np.array([x == "semantic" for x in cols[6]], dtype=bool),
                "tier": np.array(cols[6], dtype=object),
                "session": np.array(cols[7], dtype=object),
                "kind": np.array(cols[8], dtype=object),
                "length": np.array(cols[9], dtype=np.float64),
                "has_vec": np.array(self.has_vec, dtype=bool)}
        return self._arrays

    def term(self, t: str) -> tuple[np.ndarray, np.ndarray]:
        hit = self._np_postings.get(t)
        if hit is None:
            pairs = self.postings.get(t, [])
            idx = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
            tf = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
            hit = self._np_postings[t] = (idx, tf)
        return hit

    def set_vectors(self, ids: list[str], vecs: np.ndarray) -> None:
        if not ids:
            return
        n, dim = len(self.ids), vecs.shape[1]
        if self.vectors is None or self.vectors.shape[0] < n or self.vectors.shape[1] != dim:
            grown = np.zeros((max(n, 16) * 5 // 4 + 16, dim), dtype=np.float32)
            if self.vectors is not None and self.vectors.shape[1] == dim:
                grown[:self.vectors.shape[0]] = self.vectors
            self.vectors = grown
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        unit = vecs / np.where(norms == 0, 1.0, norms)
        for j, rid in enumerate(ids):
            i = self.index.get(rid)
            if i is not None:
                self.vectors[i] = unit[j]
                if not self.has_vec[i]:
                    self.has_vec[i] = True
                    self.num_missing -= 1
        self._arrays = None

    def visible(self, t: float, *, tier: str | None, session: str | None,
                kinds: list[str] | None) -> np.ndarray:
        """The ``_visibility.visible`` predicate at ``t`` over every row (bool array)."""
        a = self.arrays()
        with np.errstate(invalid="ignore"):
            ok: np.ndarray = ((a["created"] <= t) & (np.isnan(a["revoked"]) | (a["revoked"] > t))
                  & (np.isnan(a["valid"]) | (a["valid"] > t))
                  & ((a["review"] == 0) | ((a["review"] == 2) & (a["reviewed"] <= t))))
        newest: dict[str, int] = {}  # semantic facts of a key: only the newest visible one
        for i in np.flatnonzero(ok & a["semantic"]).tolist():
            key = a["key"][i]
            if key is None:
                continue
            j = newest.get(key)
            if j is None or (a["created"][i], self.ids[i]) > (a["created"][j], self.ids[j]):
                if j is not None:
                    ok[j] = False
                newest[key] = i
            else:
                ok[i] = False
        if tier is not None:
            ok &= a["tier"] == tier
        if session is not None:
            ok &= a["session"] == session
        if kinds is not None:
            ok &= np.isin(a["kind"], list(kinds))
        return ok


def lexical(snap: Snapshot, query: str, ok: np.ndarray, *, limit: int
            ) -> list[tuple[str, float]]:
    """BM25 over the visible rows, as ``_search.lexical`` computes it (same bound)."""
    q = terms(query)
    num_docs = int(ok.sum())
    if not q or not num_docs:
        return []
    k1, b = 1.2, 0.75
    length = snap.arrays()["length"]
    avg = float(length[ok].mean()) or 1.0
    weight: dict[str, int] = {}
    for t in q:
        weight[t] = weight.get(t, 0) + 1
    scores = np.zeros(len(snap.ids), dtype=np.float64)
    touched = np.zeros(len(snap.ids), dtype=bool)
    bound = 0.0
    for t, w in weight.items():
        idx, tf = snap.term(t)
        keep = ok[idx]
        idx, tf = idx[keep], tf[keep]
        df = len(idx)
        idf = math.log(1.0 + (num_docs - df + 0.5) / (df + 0.5))
        bound += w * idf * (k1 + 1)
        if df:
            norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * length[idx] / avg))
            np.add.at(scores, idx, w * idf * norm)
            touched[idx] = True
    ranked = _top(snap, np.flatnonzero(touched), scores, limit)
    return [(rid, sc / bound if bound else 0.0) for rid, sc in ranked]


def dense(snap: Snapshot, qvec: Any, ok: np.ndarray, *, limit: int
          ) -> list[tuple[str, float]]:
    """Exact cosine over the visible rows that have a vector, best first."""
    if snap.vectors is None:
        return []
    n = len(snap.ids)
    rows = np.flatnonzero(ok & snap.arrays()["has_vec"])
    if not len(rows):
        return []
    q = np.asarray(qvec, dtype=np.float32)
    qn = float(np.linalg.norm(q)) or 1.0
    # every row, no copy; einsum rather than BLAS: a threaded gemv on a busy machine costs
    # 30-60 ms where a single thread takes ~1 ms
    sims = np.einsum("ij,j->i", snap.vectors[:n], q / qn).astype(np.float64)
    return _top(snap, rows, sims, limit)


def _top(snap: Snapshot, rows: np.ndarray, scores: np.ndarray, limit: int
         ) -> list[tuple[str, float]]:
    """The ``limit`` best of ``rows`` by score, ties by id (as the SQL path orders)."""
    if len(rows) > limit:
        vals = scores[rows]
        cut = np.partition(vals, len(vals) - limit)[len(vals) - limit]
        rows = rows[vals >= cut]  # ties at the cut all stay, so id order decides
    return sorted(((snap.ids[i], float(scores[i])) for i in rows.tolist()),
                  key=lambda kv: (-kv[1], kv[0]))[:limit]


class SnapshotCache:
    """Snapshots of recently searched scopes, least recently used dropped past ``max_bytes``.

    Args:
        max_bytes: the memory the snapshots may hold together (vectors dominate: a scope
            of 10,000 records with 384-dim vectors is about 17 MB).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._snaps: OrderedDict[tuple[str, str], Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, db: Session, scope: Scope, vectors: VectorIndex | None) -> Snapshot:
        """The scope's snapshot, brought up to date inside ``db``'s transaction."""
        key = (scope.tenant, scope.user)
        with self._lock:
            snap = self._snaps.pop(key, None)
            if snap is None:
                snap = _load(db)
            else:
                _catch_up(db, snap)
            if vectors is not None and snap.num_missing:
                missing = [rid for rid, has in zip(snap.ids, snap.has_vec, strict=True)
                           if not has]
                ids, vecs = vectors.vectors_of(scope, None if len(missing) == len(
                    snap.ids) else missing)
                snap.set_vectors(ids, vecs)
            self._snaps[key] = snap
            total = sum(s.num_bytes for s in self._snaps.values())
            while total > self.max_bytes and len(self._snaps) > 1:
                _, old = self._snaps.popitem(last=False)
                total -= old.num_bytes
            return snap

    def offer_vectors(self, scope: Scope, ids: list[str], vecs: np.ndarray) -> None:
        """Vectors this process just embedded: no need to read them back from LanceDB."""
        with self._lock:
            snap = self._snaps.get((scope.tenant, scope.user))
            if snap is not None:
                snap.set_vectors(ids, vecs)


def _max_seq(db: Session) -> int:
    return int(db.scalar(select(func.max(AuditRow.seq))) or 0)


def _load(db: Session) -> Snapshot:
    snap = Snapshot(seq=_max_seq(db))
    for row in db.execute(select(*_COLS).order_by(RecordRow.created_at, RecordRow.id)):
        snap.put(row)
    for rid, term, tf in db.execute(select(TermRow.record_id, TermRow.term, TermRow.tf)):
        i = snap.index.get(rid)
        if i is not None:
            snap.add_terms(i, term, tf)
    return snap


def _catch_up(db: Session, snap: Snapshot) -> None:
    # the log's end first: reads append audit lines too, and a snapshot that only moved
    # on at changes would rescan every read since the last write before each search
    top = _max_seq(db)
    if top <= snap.seq:
        return
    changes = db.execute(select(AuditRow.seq, AuditRow.record_id).where(
        AuditRow.seq > snap.seq, AuditRow.seq <= top, AuditRow.action.in_(CHANGES))).all()
    snap.seq = top
    if not changes:
        return
    ids = sorted({rid for _, rid in changes if rid})
    new: list[int] = []
    for i in range(0, len(ids), 500):
        for row in db.execute(select(*_COLS).where(RecordRow.id.in_(ids[i:i + 500]))):
            j = snap.put(row)
            if j is not None:
                new.append(j)
    fresh = [snap.ids[j] for j in new]
    for i in range(0, len(fresh), 500):
        for rid, term, tf in db.execute(select(TermRow.record_id, TermRow.term, TermRow.tf)
                                        .where(TermRow.record_id.in_(fresh[i:i + 500]))):
            snap.add_terms(snap.index[rid], term, tf)
