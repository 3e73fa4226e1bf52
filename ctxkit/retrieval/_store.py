"""ChunkStore: chunks, their text and vectors in one LanceDB table; the file manifest.

Owns what is persistent in an index directory: the ``chunks`` table (LanceDB; the source
of truth), its approximate-nearest-neighbour index once the table is large, and
``manifest.json`` (per file: content hash, size, mtime; the roots; the embedder). Knows
nothing of ranking: the in-memory search structures are rebuilt from here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import MissingExtraError, StoreError
from ._types import Chunk

FORMAT = 1
TABLE = "chunks"


def _lancedb() -> Any:
    os.environ.setdefault("LANCEDB_LOG", "error")
    try:
        import lancedb
    except ImportError as exc:
        raise MissingExtraError("retrieval", "lancedb") from exc
    return lancedb


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class ChunkStore:
    """The LanceDB side of an index directory.

    Args:
        path: the index directory (created if missing).
        dim: vector width, or None for a lexical-only index.
    """

    def __init__(self, path: Path, dim: int | None) -> None:
        import pyarrow as pa

        self.path = path
        self.dim = dim
        fields = [pa.field("id", pa.string()), pa.field("source", pa.string()),
                  pa.field("path", pa.string()), pa.field("start_line", pa.int32()),
                  pa.field("end_line", pa.int32()), pa.field("text", pa.string()),
                  pa.field("hash", pa.string()), pa.field("mtime", pa.float64()),
                  pa.field("kind", pa.string()), pa.field("symbol", pa.string()),
                  pa.field("meta", pa.string())]
        if dim:
            fields.append(pa.field("vector", pa.list_(pa.float32(), dim)))
        self.schema = pa.schema(fields)
        self.db = _lancedb().connect(str(path))
        try:
            self.table = self.db.open_table(TABLE)
        except (ValueError, FileNotFoundError):
            self.table = self.db.create_table(TABLE, schema=self.schema)
        if self.table.schema.names != self.schema.names:
            raise StoreError(f"the table in {path} has columns {self.table.schema.names}, "
                             f"expected {self.schema.names}; rebuild it with "
                             "Index(path, rebuild=True)")

    @property
    def version(self) -> int:
        return int(self.table.version)

    def checkout_latest(self) -> None:
        """Move to the table's newest version (another process may have written)."""
        self.table.checkout_latest()

    def read(self) -> Any:
        """Every row as a pyarrow Table."""
        return self.table.to_arrow()

    def add(self, chunks: Sequence[Chunk], sources: Sequence[str], vectors: Any) -> None:
        import pyarrow as pa

        if not chunks:
            return
        cols: dict[str, Any] = {
            "id": [c.id for c in chunks], "source": list(sources),
            "path": [c.path for c in chunks], "start_line": [c.start_line for c in chunks],
            "end_line": [c.end_line for c in chunks], "text": [c.text for c in chunks],
            "hash": [c.hash for c in chunks], "mtime": [c.mtime for c in chunks],
            "kind": [c.kind for c in chunks], "symbol": [c.symbol for c in chunks],
            "meta": [json.dumps(c.meta, sort_keys=True) if c.meta else "" for c in chunks],
        }
        arrays = [pa.array(cols[f.name], type=f.type) for f in self.schema if f.name != "vector"]
        if self.dim:
            flat = pa.array(vectors.reshape(-1), type=pa.float32())
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, self.dim))
        self.table.add(pa.Table.from_arrays(arrays, schema=self.schema))

    def delete_sources(self, sources: Sequence[str]) -> None:
        for i in range(0, len(sources), 200):
            part = sources[i:i + 200]
            self.table.delete(f"source IN ({', '.join(_quote(s) for s in part)})")

    def delete_ids(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), 200):
            part = ids[i:i + 200]
            self.table.delete(f"id IN ({', '.join(_quote(s) for s in part)})")

    # -- approximate nearest neighbours ----------------------------------------------------

    def has_ann(self) -> bool:
        return any("vector" in (ix.columns or []) for ix in self.table.list_indices())

    def build_ann(self, num_rows: int) -> None:
        """IVF over exact vectors: ~sqrt(n) partitions (searched ``nprobes`` at a time)."""
        from lancedb.index import IvfFlat

        parts = max(16, int(num_rows ** 0.5))
        self.table.create_index("vector", config=IvfFlat(distance_type="cosine",
                                                          num_partitions=parts), replace=True)

    def ann_search(self, vector: Any, k: int, nprobes: int) -> list[str]:
        """Ids of the ``k`` nearest rows (rows added since the index was built included)."""
        res = (self.table.search(vector, vector_column_name="vector").distance_type("cosine")
               .limit(k).nprobes(nprobes).select(["id"]).to_arrow())
        return [str(x) for x in res.column("id").to_pylist()]

    def optimize(self) -> None:
        """Compact the table's files and fold new rows into the ANN index."""
        self.table.optimize()


class Manifest:
    """``manifest.json``: what the directory holds, written atomically after each change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data: dict[str, Any] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise StoreError(f"{path} is unreadable ({exc}); delete the index directory "
                                 "or open it with Index(path, rebuild=True)") from exc
            if data.get("format") != FORMAT:
                raise StoreError(f"{path} has format {data.get('format')}, this ctxkit reads "
                                 f"{FORMAT}; open it with Index(path, rebuild=True)")
        self.roots: list[str] = data.get("roots", [])
        self.embedder: str | None = data.get("embedder")
        self.files: dict[str, dict[str, Any]] = data.get("files", {})
        self.generation: int = data.get("generation", 0)

    def save(self) -> None:
        self.generation += 1
        data = {"format": FORMAT, "roots": self.roots, "embedder": self.embedder,
                "generation": self.generation, "files": self.files}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)
