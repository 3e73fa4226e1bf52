"""BM25 over sparse term-major segments, with incremental adds and deletes.

Owns the lexical index: a vocabulary, document frequencies, and segments of precomputed
BM25 term weights (``tf·(k1+1) / (tf + k1·(1−b+b·dl/avgdl))``) stored term-major, so a
query sums a few contiguous slices with ``numpy.bincount`` (the scheme bm25s uses, which
measured ~100x faster than rank_bm25 at 100k chunks; see ``bench/retrieval.py``). Unlike
bm25s it grows: an add appends a small segment, a delete clears a row's ``alive`` bit, and
small segments are merged as they pile up — Lucene's design, including counting deleted
rows in the statistics until the index is rebuilt. Knows nothing of chunks or files: rows
are integers the caller assigns in order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._analyze import Analyzer

_MERGE_AT = 8


@dataclass(slots=True)
class _Segment:
    terms: np.ndarray  # (nnz,) int32, sorted
    rows: np.ndarray  # (nnz,) int32, global row ids
    weights: np.ndarray  # (nnz,) float32, BM25 tf part
    indptr: np.ndarray  # (vocab_at_build + 1,) int64: term t is [indptr[t], indptr[t+1])

    @classmethod
    def build(cls, terms: np.ndarray, rows: np.ndarray, weights: np.ndarray,
              vocab_size: int) -> _Segment:
        order = np.argsort(terms, kind="stable")
        terms, rows, weights = terms[order], rows[order], weights[order]
        indptr = np.zeros(vocab_size + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=vocab_size), out=indptr[1:])
        return cls(terms.astype(np.int32), rows.astype(np.int32),
                   weights.astype(np.float32), indptr)


class LexicalIndex:
    """BM25 (Lucene's idf) with append-only rows and tombstones.

    Args:
        analyzer: turns text into terms (the same one for documents and queries).
        k1: term-frequency saturation.
        b: length normalization.
    """

    def __init__(self, analyzer: Analyzer | None = None, *, k1: float = 1.2,
                 b: float = 0.75) -> None:
        self.analyzer = analyzer or Analyzer()
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        self.df = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.total_len = 0
        self.segments: list[_Segment] = []

    @property
    def num_rows(self) -> int:
        return len(self.alive)

    def add(self, texts: Sequence[str]) -> None:
        """Index ``texts`` as rows ``num_rows ..``, in order."""
        if not texts:
            return
        first = self.num_rows
        vocab = self.vocab
        term_ids: list[int] = []
        doc_lens = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            toks = self.analyzer(text)
            doc_lens[i] = len(toks)
            for t in toks:
                tid = vocab.get(t)
                if tid is None:
                    tid = vocab[t] = len(vocab)
                term_ids.append(tid)
        terms = np.asarray(term_ids, dtype=np.int64)
        rows = np.repeat(np.arange(first, first + len(texts), dtype=np.int64), doc_lens)
        # tf per (row, term): unique pairs with counts
        keys, tf = np.unique(rows * len(vocab) + terms, return_counts=True)
        rows, terms = keys // len(vocab), keys % len(vocab)
        self.df = np.concatenate([self.df, np.zeros(len(vocab) - len(self.df), np.int64)])
        np.add.at(self.df, terms, 1)
        self.alive = np.concatenate([self.alive, np.ones(len(texts), dtype=bool)])
        self.total_len += int(doc_lens.sum())
        avgdl = max(1.0, self.total_len / self.num_rows)
        dl = doc_lens[rows - first].astype(np.float32)
        tf32 = tf.astype(np.float32)
        w = tf32 * (self.k1 + 1) / (tf32 + self.k1 * (1 - self.b + self.b * dl / avgdl))
        self.segments.append(_Segment.build(terms, rows, w, len(vocab)))
        if len(self.segments) > _MERGE_AT:
            self._merge_small()

    def delete(self, rows: Sequence[int] | np.ndarray) -> None:
        """Stop returning ``rows`` (their statistics stay until a rebuild, as in Lucene)."""
        self.alive[np.asarray(rows, dtype=np.int64)] = False

    def query_terms(self, query: str) -> np.ndarray:
        ids = [self.vocab[t] for t in dict.fromkeys(self.analyzer(query)) if t in self.vocab]
        return np.asarray(ids, dtype=np.int64)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for ``query`` (0 for rows without a query term)."""
        out = np.zeros(self.num_rows, dtype=np.float32)
        terms = self.query_terms(query)
        if not len(terms) or not self.num_rows:
            return out
        n = self.num_rows
        df = self.df[terms].astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        parts_r: list[np.ndarray] = []
        parts_w: list[np.ndarray] = []
        for seg in self.segments:
            size = len(seg.indptr) - 1
            for t, weight in zip(terms, idf, strict=True):
                if t < size:
                    a, z = seg.indptr[t], seg.indptr[t + 1]
                    if z > a:
                        parts_r.append(seg.rows[a:z])
                        parts_w.append(seg.weights[a:z] * weight)
        if parts_r:
            out = np.bincount(np.concatenate(parts_r), np.concatenate(parts_w),
                              minlength=n).astype(np.float32)
            out[~self.alive] = 0.0
        return out

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` live rows for ``query``, best first: (rows, scores)."""
        s = self.scores(query)
        nz = np.flatnonzero(s > 0)
        if len(nz) > k:
            nz = nz[np.argpartition(-s[nz], k - 1)[:k]]
        order = np.lexsort((nz, -s[nz]))
        return nz[order], s[nz[order]]

    def _merge_small(self) -> None:
        base, small = self.segments[0], self.segments[1:]
        merged = _Segment.build(np.concatenate([s.terms for s in small]),
                                np.concatenate([s.rows for s in small]),
                                np.concatenate([s.weights for s in small]), len(self.vocab))
        self.segments = [base, merged]

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: Path, stamp: dict[str, Any],
             extra: dict[str, np.ndarray] | None = None) -> None:
        """Write the index to ``path`` (one .npz), with ``stamp`` to check on load and
        ``extra`` arrays stored beside it."""
        arrays: dict[str, np.ndarray] = {"df": self.df, "alive": self.alive, **(extra or {})}
        for i, s in enumerate(self.segments):
            arrays.update({f"t{i}": s.terms, f"r{i}": s.rows, f"w{i}": s.weights,
                           f"p{i}": s.indptr})
        meta = {"stamp": stamp, "k1": self.k1, "b": self.b, "total_len": self.total_len,
                "num_segments": len(self.segments), "analyzer": self.analyzer.config,
                "vocab": list(self.vocab)}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)

    def load(self, path: Path, stamp: dict[str, Any]) -> bool:
        """Load from ``path`` if it was saved with ``stamp`` and this analyzer; else False."""
        if not path.exists():
            return False
        try:
            with np.load(path) as z:
                meta = json.loads(z["meta"].tobytes().decode())
                if meta["stamp"] != stamp or meta["analyzer"] != self.analyzer.config \
                        or meta["k1"] != self.k1 or meta["b"] != self.b:
                    return False
                self.segments = [_Segment(z[f"t{i}"], z[f"r{i}"], z[f"w{i}"], z[f"p{i}"])
                                 for i in range(meta["num_segments"])]
                self.df, self.alive = z["df"], z["alive"]
        except (OSError, ValueError, KeyError):
            return False
        self.vocab = {t: i for i, t in enumerate(meta["vocab"])}
        self.total_len = int(meta["total_len"])
        return True
