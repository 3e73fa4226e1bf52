"""Ingest: the writing side of an Index — load the catalog from LanceDB, sync files and
documents into it, and keep the derived structures (BM25 file, ANN index) in step.

Owns the order of every change: LanceDB first (the source of truth), then the in-memory
catalog, then the manifest, so a run that stops half-way is repaired by the next one (a
file whose manifest entry is old is simply re-indexed). Knows nothing of ranking.
``Index`` inherits these methods; they read its settings (``chunking``, ``embedder``...).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._catalog import _DEAD, Catalog
from ._chunkers import chunk_text, kind_for
from ._files import FileState, read_text, under, walk
from ._lock import WriterLock
from ._spans import ChunkConfig
from ._store import ChunkStore, Manifest
from ._types import Chunk, IndexReport

TEXT = "text:"  # manifest / source prefix of documents added with add_texts


class Ingest:
    """Mixin of ``Index``: everything that writes."""

    path: Path
    store: ChunkStore
    catalog: Catalog
    embedder: Any
    chunking: ChunkConfig
    base: str
    max_file_bytes: int
    ann_min_rows: int
    _manifest: Manifest
    _dirty: bool
    _dirty_manifest: bool
    _lock: WriterLock
    _seen_version: int
    wait: bool | float

    def _read_manifest(self) -> Manifest:
        raise NotImplementedError

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the writer lock; on first entry, catch up with what other processes wrote
        since this one last looked (manifest re-read; catalog reloaded if the table moved),
        so a write never works from a stale manifest and orphans another writer's chunks."""
        outer = not self._lock.is_held
        with self._lock.hold(self.wait):
            if outer:
                self._catch_up()
            try:
                yield
            finally:
                if outer:
                    self._seen_version = self.store.version

    def _catch_up(self) -> None:
        self._manifest = self._read_manifest()
        self._dirty_manifest = False
        self.store.checkout_latest()
        if self.store.version != self._seen_version:
            lex = self.catalog.lexical
            self.catalog = Catalog(lex.analyzer, self.catalog.dim, k1=lex.k1, b=lex.b)
            self._load()

    def _stamp(self) -> dict[str, Any]:
        return {"version": self.store.version}

    def _load(self) -> None:
        """Fill the catalog from LanceDB; reuse the saved BM25 file if it matches."""
        table = self.store.read()
        n = table.num_rows
        cols = {name: table.column(name).to_pylist() for name in table.schema.names
                if name != "vector"}
        vectors = None
        if self.catalog.dim and n:
            vectors = table.column("vector").combine_chunks().flatten().to_numpy()
            vectors = vectors.reshape(n, self.catalog.dim)
        chunks = [Chunk(id=cols["id"][i], path=cols["path"][i],
                        start_line=cols["start_line"][i], end_line=cols["end_line"][i],
                        text=cols["text"][i], hash=cols["hash"][i], mtime=cols["mtime"][i],
                        kind=cols["kind"][i], symbol=cols["symbol"][i],
                        meta=json.loads(cols["meta"][i]) if cols["meta"][i] else {})
                  for i in range(n)]
        lex_file = self.path / "lexical.npz"
        if n and self._load_saved_order(lex_file, chunks, cols["source"], vectors):
            return
        self.catalog.add(chunks, cols["source"], vectors)
        if n:
            self._save_lexical()

    def _load_saved_order(self, lex_file: Path, chunks: list[Chunk], sources: list[str],
                          vectors: Any) -> bool:
        if not self.catalog.lexical.load(lex_file, self._stamp()):
            return False
        with np.load(lex_file) as z:
            saved = [str(x) for x in z["ids"]] if "ids" in z else []
        where = {c.id: i for i, c in enumerate(chunks)}
        if sorted(i for i in saved if i) != sorted(where):
            lex = self.catalog.lexical
            self.catalog = Catalog(lex.analyzer, self.catalog.dim, k1=lex.k1, b=lex.b)
            return False
        order = [where.get(i, -1) for i in saved]
        rows = [chunks[j] if j >= 0 else _DEAD for j in order]
        srcs = [sources[j] if j >= 0 else "" for j in order]
        vec = None
        if vectors is not None:
            vec = np.zeros((len(order), self.catalog.dim or 0), np.float32)
            live = [k for k, j in enumerate(order) if j >= 0]
            vec[live] = vectors[[order[k] for k in live]]
        self.catalog.add(rows, srcs, vec, lexical=False)
        return True

    def _save_lexical(self) -> None:
        # the row order goes beside it: the ids, "" for deleted rows
        ids = np.array(self.catalog.ids(), dtype=str)
        self.catalog.lexical.save(self.path / "lexical.npz", self._stamp(), {"ids": ids})
        self._dirty = False

    def _sync(self, roots: list[str], exclude: Sequence[str]) -> IndexReport:
        t0 = time.perf_counter()
        report = IndexReport()
        files = list(walk(roots, exclude))
        seen = {f.path for f in files}
        removed = [p for p in self._manifest.files
                   if not p.startswith(TEXT) and under(p, roots) and p not in seen]
        self._sync_files(files, report, removed)
        report.num_files_removed += len(removed)
        report.seconds = time.perf_counter() - t0
        return report

    def _sync_files(self, files: Iterable[FileState], report: IndexReport,
                    removed: Sequence[str] = ()) -> None:
        stale: list[str] = list(removed)
        new: list[Chunk] = []
        sources: list[str] = []
        files_map = self._manifest.files
        for fs in files:
            rec = files_map.get(fs.path)
            if rec is not None and rec["size"] == fs.size and rec["mtime"] == fs.mtime:
                report.num_files_unchanged += 1
                continue
            text, h, why = read_text(fs.path, self.max_file_bytes) if fs.size >= 0 \
                else (None, None, "deleted")
            if text is None:
                if why != "deleted":
                    report.skip(why)
                if rec is not None:
                    stale.append(fs.path)
                    report.num_files_removed += why == "deleted"
                continue
            if rec is not None and rec["hash"] == h:
                rec.update(size=fs.size, mtime=fs.mtime)
                report.num_files_unchanged += 1
                self._dirty_manifest = True
                continue
            if rec is not None:
                stale.append(fs.path)
            display = os.path.relpath(fs.path, self.base) if under(fs.path, [self.base]) \
                else fs.path
            chunks = self._make_chunks(display, text, kind_for(fs.path), fs.mtime, {})
            new.extend(chunks)
            sources.extend([fs.path] * len(chunks))
            files_map[fs.path] = {"hash": h, "size": fs.size, "mtime": fs.mtime}
            report.num_files_indexed += 1
        self._apply(stale, new, sources, report)

    def _make_chunks(self, path: str, text: str, kind: str, mtime: float,
                     meta: dict[str, Any]) -> list[Chunk]:
        title = meta.get("title") if kind == "prose" else None
        spans = chunk_text(text, path, kind, self.chunking,
                           title=title if isinstance(title, str) else None)
        out: list[Chunk] = []
        used: set[str] = set()
        for sp in spans:
            cid = f"{path}:{sp.start_line}-{sp.end_line}"
            n = 1
            while cid in used:
                n += 1
                cid = f"{path}:{sp.start_line}-{sp.end_line}~{n}"
            used.add(cid)
            h = hashlib.sha256(sp.text.encode("utf-8", "surrogatepass")).hexdigest()[:24]
            out.append(Chunk(id=cid, path=path, start_line=sp.start_line,
                             end_line=sp.end_line, text=sp.text, hash=h, mtime=mtime,
                             kind=kind, symbol=sp.symbol, meta=meta))
        return out

    def _apply(self, stale: Sequence[str], new: Sequence[Chunk], sources: Sequence[str],
               report: IndexReport) -> None:
        """Delete the chunks of ``stale`` sources, add ``new``: LanceDB first (the source of
        truth), then the catalog, then the manifest."""
        keep = set(sources)
        for s in stale:
            if s not in keep:
                self._manifest.files.pop(s, None)
        vectors = None
        if new and self.embedder is not None:
            before = getattr(self.embedder, "num_misses", None)
            vectors = np.asarray(self.embedder.embed([c.text for c in new]), np.float32)
            after = getattr(self.embedder, "num_misses", None)
            report.num_embedded += (after - before) if before is not None else len(new)
        if stale:
            self.store.delete_sources(list(stale))
            report.num_chunks_removed += self.catalog.delete_sources(stale)
        if new:
            self.store.add(new, sources, vectors)
            self.catalog.add(new, sources, vectors)
            report.num_chunks_added += len(new)
        if stale or new or getattr(self, "_dirty_manifest", False):
            self._manifest.save()
            self._dirty_manifest = False
        if stale or new:
            self._dirty = True
            self._maintain(len(new))

    def _maintain(self, num_new: int) -> None:
        """Build or refresh the ANN index as the table grows; persist BM25 after big adds."""
        n = self.catalog.num_alive
        if self.embedder is not None and n >= self.ann_min_rows:
            built = self._manifest_ann_rows()
            if not self.store.has_ann() or n > 1.3 * built:
                self.store.build_ann(n)
                self._set_ann_rows(n)
        if self.catalog.num_rows - n > 0.3 * max(1, n) and self.catalog.num_rows > 1000:
            self._compact()  # reloads and saves
        elif num_new >= 2000:
            self._save_lexical()

    def _manifest_ann_rows(self) -> int:
        f = self.path / "ann_rows"
        return int(f.read_text()) if f.exists() else 0

    def _set_ann_rows(self, n: int) -> None:
        (self.path / "ann_rows").write_text(str(n))

    def _compact(self) -> None:
        """Rebuild the catalog without deleted rows (from LanceDB)."""
        self.store.optimize()
        self.catalog = Catalog(self.catalog.lexical.analyzer, self.catalog.dim)
        self._load()
