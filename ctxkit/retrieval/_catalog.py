"""Catalog: the in-memory side of an index — rows ↔ chunks, the BM25 index, the vectors.

Owns one row numbering shared by the chunk list, the lexical index and the vector matrix:
rows are appended in order and deleted by tombstone, so an incremental refresh touches
only the rows of the files that changed. Knows nothing of LanceDB or files on disk; the
Index fills it from the store and keeps both in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._analyze import Analyzer
from ._lexical import LexicalIndex
from ._types import Chunk

_DEAD = Chunk(id="", path="", start_line=0, end_line=0, text="", hash="")


class Catalog:
    """Rows of chunks with their BM25 terms and (optionally) their vectors.

    Args:
        analyzer: the BM25 analyzer.
        dim: vector width, or None for lexical only.
    """

    def __init__(self, analyzer: Analyzer, dim: int | None, *, k1: float = 1.2,
                 b: float = 0.75) -> None:
        self.dim = dim
        self.chunks: list[Chunk] = []
        self.sources: list[str] = []
        self.by_id: dict[str, int] = {}
        self.by_source: dict[str, list[int]] = {}
        self.lexical = LexicalIndex(analyzer, k1=k1, b=b)
        self._vectors = np.zeros((0, dim or 0), dtype=np.float32)
        self.num_alive = 0

    @property
    def num_rows(self) -> int:
        return len(self.chunks)

    @property
    def vectors(self) -> np.ndarray:
        """(num_rows, dim) unit vectors; rows of deleted chunks are zero."""
        return self._vectors[: self.num_rows]

    def ids(self) -> list[str]:
        """Chunk id per row ("" for deleted rows), the identity the lexical file is saved with."""
        return [c.id for c in self.chunks]

    def add(self, chunks: Sequence[Chunk], sources: Sequence[str], vectors: Any,
            *, lexical: bool = True) -> None:
        """Append rows; ``lexical=False`` when the lexical index was loaded already."""
        first = self.num_rows
        for i, (c, s) in enumerate(zip(chunks, sources, strict=True)):
            row = first + i
            self.chunks.append(c)
            self.sources.append(s)
            if c.id:
                self.by_id[c.id] = row
                self.by_source.setdefault(s, []).append(row)
                self.num_alive += 1
        if self.dim:
            need = self.num_rows
            if need > len(self._vectors):
                grown = np.zeros((max(need, 2 * len(self._vectors), 1024), self.dim), np.float32)
                grown[:first] = self._vectors[:first]
                self._vectors = grown
            if len(chunks):
                self._vectors[first:need] = vectors
        if lexical:
            self.lexical.add([c.text for c in chunks])

    def delete_sources(self, sources: Sequence[str]) -> int:
        """Tombstone every row of ``sources``; returns how many rows were live."""
        rows = [r for s in sources for r in self.by_source.pop(s, [])]
        for r in rows:
            c = self.chunks[r]
            self.by_id.pop(c.id, None)
            self.chunks[r] = _DEAD
            self.sources[r] = ""
        if rows:
            self.lexical.delete(rows)
            if self.dim:
                self._vectors[rows] = 0.0
        self.num_alive -= len(rows)
        return len(rows)

    def dense_search(self, query_vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact cosine top ``k`` over live rows (deleted rows are zero vectors), best first."""
        if not self.dim or not self.num_alive:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sims = self.vectors @ query_vector.astype(np.float32)
        alive = self.lexical.alive
        sims[~alive] = -np.inf
        k = min(k, self.num_alive)
        top = np.argpartition(-sims, k - 1)[:k]
        order = np.lexsort((top, -sims[top]))
        return top[order], sims[top[order]]
