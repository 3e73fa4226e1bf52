"""Index: the public face of retrieval — add files and documents, search them.

Owns the flow: chunk → embed (cached by content hash) → write to LanceDB → update the
in-memory catalog; search = BM25 + embeddings fused by RRF, reranked, and checked for
freshness (a hit whose file changed since it was indexed is re-indexed and the search
re-run before anything is returned). Knows nothing of prompts or budgets: the Retrieval
layer turns hits into blocks.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import UserError
from ._analyze import Analyzer
from ._catalog import Catalog
from ._chunkers import kind_for
from ._files import FileState, content_hash, under
from ._ingest import TEXT, Ingest
from ._lock import LOCK_NAME, WriterLock
from ._rank import Reranker, Shortlist, rrf
from ._spans import ChunkConfig
from ._store import ChunkStore, Manifest
from ._types import Chunk, IndexReport, Query, SearchHit


class Index(Ingest):
    """A persistent hybrid index over files and documents (LanceDB underneath).

    Args:
        path: the index directory (created if missing).
        embedder: an Embedder, "default" (all-MiniLM-L6-v2, offline), or None for BM25 only.
        reranker: reorders the fused shortlist (see ctxkit.retrieval rerankers); None keeps
            the fused order, which measured best offline (docs/retrieval.md).
        chunking: chunk window sizes.
        analyzer: the BM25 analyzer (stemming and stop-words on by default).
        base: directory that chunk paths are shown relative to (default: the cwd).
        fusion_k: the RRF constant (10: best of 10, 30, 60 on SciFact train).
        num_candidates: how many hits each retriever contributes to fusion.
        max_file_bytes: larger files are skipped (counted as ``too_large``).
        ann_min_rows: from this many chunks on, vector search uses the LanceDB IVF index.
        nprobes: IVF partitions searched per query.
        cache: cache vectors by content hash in ``<path>/embeddings.sqlite`` (True), in a
            given file, or not at all (False).
        rebuild: delete whatever the directory holds and start empty.
        wait: what a writer does while another process writes the same directory (every
            write holds ``<path>/.writer.lock``): True waits for it, False raises
            StoreError at once, a number of seconds waits that long, then raises.
    """

    def __init__(self, path: str | os.PathLike[str], *, embedder: Any = "default",
                 reranker: Reranker | None = None, chunking: ChunkConfig | None = None,
                 analyzer: Analyzer | None = None, base: str | None = None,
                 fusion_k: float = 10.0, num_candidates: int = 100,
                 max_file_bytes: int = 1_000_000, ann_min_rows: int = 20_000,
                 nprobes: int = 48, cache: bool | str | os.PathLike[str] = True,
                 rebuild: bool = False, wait: bool | float = True) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"index path {self.path} is a file; pass a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        self.wait = wait
        self._lock = WriterLock(self.path)
        self.reranker = reranker
        self.chunking = chunking or ChunkConfig()
        self.base = os.path.abspath(base or os.getcwd())
        self.fusion_k = fusion_k
        self.num_candidates = num_candidates
        self.max_file_bytes = max_file_bytes
        self.ann_min_rows = ann_min_rows
        self.nprobes = nprobes
        with self._lock.hold(wait):
            if rebuild:
                _clear(self.path)
            self.embedder = self._make_embedder(embedder, cache)
            dim = self.embedder.dim if self.embedder is not None else None
            self._manifest = self._read_manifest()
            self.store = ChunkStore(self.path, dim)
            self.catalog = Catalog(analyzer or Analyzer(), dim)
            self._dirty = False
            self._dirty_manifest = False
            self._load()
            self._seen_version = self.store.version

    # -- setup ---------------------------------------------------------------------------

    def _make_embedder(self, embedder: Any, cache: bool | str | os.PathLike[str]) -> Any:
        if embedder is None:
            return None
        if isinstance(embedder, str):
            if embedder != "default":
                raise UserError(f"embedder={embedder!r}: pass 'default', None, or an "
                                "Embedder (e.g. SentenceTransformerEmbedder(local_path))")
            from ..embeddings import default_embedder

            embedder = default_embedder()
        if not hasattr(embedder, "embed") or not getattr(embedder, "dim", 0):
            raise UserError("embedder must have .embed(texts) and a positive .dim")
        if cache is False:
            return embedder
        from ..embeddings import CachedEmbedder

        file = self.path / "embeddings.sqlite" if cache is True else Path(cache)
        return CachedEmbedder(embedder, file)

    def _read_manifest(self) -> Manifest:
        """``manifest.json`` as on disk (called under the writer lock), checked against
        this index's embedder."""
        manifest = Manifest(self.path / "manifest.json")
        key = self._embedder_key()
        if manifest.files and manifest.embedder != key:
            raise UserError(f"{self.path} was built with embedder {manifest.embedder!r}, "
                            f"not {key!r}; pass the same embedder or Index(path, rebuild=True)")
        manifest.embedder = key
        return manifest

    def _embedder_key(self) -> str | None:
        if self.embedder is None:
            return None
        inner = getattr(self.embedder, "inner", self.embedder)
        seq = getattr(inner, "max_seq_length", None)
        return f"{inner.name}|{inner.dim}" + (f"|{seq}" if seq else "")




    # -- public API ----------------------------------------------------------------------

    def __len__(self) -> int:
        return self.catalog.num_alive

    @property
    def num_chunks(self) -> int:
        """Live chunks in the index."""
        return self.catalog.num_alive

    def get(self, chunk_id: str) -> Chunk:
        """The chunk with ``chunk_id``; UserError if the index has none."""
        row = self.catalog.by_id.get(chunk_id)
        if row is None:
            raise UserError(f"no chunk {chunk_id!r} in {self.path}; ids come from search hits")
        return self.catalog.chunks[row]

    def add_paths(self, paths: Sequence[str | os.PathLike[str]], *,
                  exclude: Sequence[str] = ()) -> IndexReport:
        """Chunk and index files under ``paths``. Re-running refreshes incrementally: only
        files whose content hash changed are re-chunked and re-embedded; files deleted
        under these paths are removed."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        roots = [os.path.abspath(p) for p in paths]
        missing = [r for r in roots if not os.path.exists(r)]
        if missing:
            raise UserError(f"no such file or directory: {', '.join(missing)}")
        with self._writing():
            for r in roots:
                if r not in self._manifest.roots:
                    self._manifest.roots.append(r)
            return self._sync(roots, exclude)

    def refresh(self) -> IndexReport:
        """Re-scan every root ever added: changed files re-indexed, deleted ones removed."""
        with self._writing():
            live = [r for r in self._manifest.roots if os.path.exists(r)]
            report = self._sync(live, ())
            gone = [r for r in self._manifest.roots if r not in live]
            if gone:
                dead = [p for p in self._manifest.files if under(p, gone)]
                self._apply(dead, [], [], report)
                report.num_files_removed += len(dead)
            return report

    def add_texts(self, items: Iterable[tuple[str, str] | tuple[str, str, dict[str, Any]]], *,
                  kind: str = "prose") -> IndexReport:
        """Index documents given as ``(id, text)`` or ``(id, text, metadata)``.

        Re-adding an id with the same text and metadata does nothing; with new text it
        replaces the old chunks. ``metadata["title"]`` heads every prose chunk. ``kind``
        picks the chunker ("prose", "markdown", "python", "source", or "auto" by the id's
        extension).
        """
        t0 = time.perf_counter()
        items = list(items)
        with self._writing():
            report = IndexReport()
            stale: list[str] = []
            new: list[Chunk] = []
            for item in items:
                if not isinstance(item, tuple) or len(item) not in (2, 3):
                    raise UserError("add_texts takes (id, text) or (id, text, metadata) tuples")
                doc_id, text = item[0], item[1]
                meta = dict(item[2]) if len(item) == 3 else {}
                if not isinstance(doc_id, str) or not isinstance(text, str) or not doc_id:
                    raise UserError(f"add_texts item {doc_id!r}: id and text must be str")
                key = TEXT + doc_id
                h = content_hash(text + "\0" + json.dumps(meta, sort_keys=True, default=str))
                rec = self._manifest.files.get(key)
                if rec is not None and rec["hash"] == h:
                    report.num_files_unchanged += 1
                    continue
                if rec is not None:
                    stale.append(key)
                k = kind_for(doc_id) if kind == "auto" else kind
                new.extend(self._make_chunks(doc_id, text, k, 0.0, meta))
                self._manifest.files[key] = {"hash": h, "size": len(text), "mtime": 0.0}
                report.num_files_indexed += 1
            self._apply(stale, new, [TEXT + c.path for c in new], report)
        report.seconds = time.perf_counter() - t0
        return report

    def remove(self, keys: Sequence[str]) -> IndexReport:
        """Remove documents (by id) or files and directories (by path). A file still under
        a root given to ``add_paths`` comes back at the next ``refresh()``: to drop it for
        good, re-add the root with ``exclude=[...]``."""
        report = IndexReport()
        gone: list[str] = []
        with self._writing():
            for key in [keys] if isinstance(keys, str) else keys:
                if TEXT + key in self._manifest.files:
                    gone.append(TEXT + key)
                    continue
                full = os.path.abspath(key)
                gone.extend(p for p in self._manifest.files if not p.startswith(TEXT)
                            and under(p, [full]))
            self._apply(gone, [], [], report)
        report.num_files_removed = len(gone)
        return report

    def search(self, query: str | Query, k: int = 10, *, mode: str = "hybrid",
               rerank: bool = True) -> list[SearchHit]:
        """The ``k`` best chunks for ``query``, best first. Files that changed since they
        were indexed are re-indexed before their chunks can be returned.

        Args:
            query: text, or a Query from ``rewrite_query``.
            k: how many hits.
            mode: "hybrid" (BM25 + embeddings, fused and reranked), "lexical" (BM25 only)
                or "dense" (embeddings only); the single modes skip the reranker.
            rerank: False skips the reranker (a dry run that must not ask a model).
        """
        query = self._checked(query, k, mode)
        hits = self._search_once(query, k, mode, rerank)
        stale = self._stale(hits)
        if stale:
            with self._writing():
                self._sync_files(stale, IndexReport())
            hits = self._search_once(query, k, mode, rerank)
        return hits

    async def asearch(self, query: str | Query, k: int = 10, *,
                      mode: str = "hybrid", rerank: bool = True) -> list[SearchHit]:
        """``search`` for async callers: a reranker's async form (an ``LLMReranker``'s
        model call) is awaited instead of blocking the event loop."""
        query = self._checked(query, k, mode)
        hits = await self._asearch_once(query, k, mode, rerank)
        stale = self._stale(hits)
        if stale:
            with self._writing():
                self._sync_files(stale, IndexReport())
            hits = await self._asearch_once(query, k, mode, rerank)
        return hits

    def _checked(self, query: str | Query, k: int, mode: str) -> Query:
        if mode not in ("hybrid", "lexical", "dense"):
            raise UserError(f"search mode {mode!r} must be 'hybrid', 'lexical' or 'dense'")
        if mode == "dense" and self.embedder is None:
            raise UserError("this index has no embedder (embedder=None): use mode='lexical'")
        if isinstance(query, str):
            query = Query(text=query)
        if not isinstance(query, Query):
            raise UserError(f"search takes a str or a Query, got {type(query).__name__}")
        if k < 1:
            raise UserError(f"search k must be >= 1, got {k}")
        return query

    def save(self) -> None:
        """Persist the BM25 index (so the next open skips re-tokenizing)."""
        if self._dirty:
            with self._writing():
                if self._dirty:  # a reload may have saved a fresh one
                    self._save_lexical()

    def close(self) -> None:
        self.save()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- search internals ----------------------------------------------------------------

    def _search_once(self, q: Query, k: int, mode: str = "hybrid",
                     rerank: bool = True) -> list[SearchHit]:
        hits, shortlist = self._shortlist(q, k, mode)
        if rerank and shortlist is not None and self.reranker is not None:
            hits = self.reranker(shortlist, k)
        return hits[:k]

    async def _asearch_once(self, q: Query, k: int, mode: str = "hybrid",
                            rerank: bool = True) -> list[SearchHit]:
        hits, shortlist = self._shortlist(q, k, mode)
        if rerank and shortlist is not None and self.reranker is not None:
            acall = getattr(self.reranker, "acall", None)
            out = acall(shortlist, k) if callable(acall) else self.reranker(shortlist, k)
            hits = await out if inspect.isawaitable(out) else out
        return hits[:k]

    def _shortlist(self, q: Query, k: int, mode: str) -> tuple[list[SearchHit], Shortlist | None]:
        """The hits before reranking, and the shortlist to rerank (None: nothing to)."""
        cat = self.catalog
        n = max(k, self.num_candidates)
        lex: list[int] = []
        dense: list[int] = []
        if mode != "dense":
            rows, scores = cat.lexical.search(q.lexical, n)
            lex = rows.tolist()
            if mode == "lexical":
                pairs = list(zip(lex, scores.tolist(), strict=True))[:k]
                return [SearchHit(cat.chunks[r], float(s), i, None)
                        for i, (r, s) in enumerate(pairs, 1)], None
        qvec = None
        if self.embedder is not None and cat.num_alive:
            qvec = self._embed_query(q.text)
            dense = self._dense_rows(qvec, n)
            if mode == "dense":
                sims = (cat.vectors[dense[:k]] @ qvec).tolist() if dense else []
                return [SearchHit(cat.chunks[r], float(s), None, i)
                        for i, (r, s) in enumerate(zip(dense[:k], sims, strict=True), 1)], None
        fused = rrf([lex, dense], k=self.fusion_k)[:n]
        lr = {r: i for i, r in enumerate(lex, 1)}
        dr = {r: i for i, r in enumerate(dense, 1)}
        hits = [SearchHit(cat.chunks[r], s, lr.get(r), dr.get(r)) for r, s in fused]
        if self.reranker is None or not hits:
            return hits[:k], None
        vecs = cat.vectors[[r for r, _ in fused]] if qvec is not None else None
        return hits, Shortlist(q, hits, vecs, qvec)

    def _embed_query(self, text: str) -> np.ndarray:
        fn = getattr(self.embedder, "embed_query", None)
        vec = fn(text) if fn is not None else self.embedder.embed([text])[0]
        return np.asarray(vec, dtype=np.float32)

    def _dense_rows(self, qvec: np.ndarray, n: int) -> list[int]:
        cat = self.catalog
        if cat.num_alive >= self.ann_min_rows and self.store.has_ann():
            ids = self.store.ann_search(qvec, n, self.nprobes)
            return [r for r in (cat.by_id.get(i) for i in ids) if r is not None]
        rows, _ = cat.dense_search(qvec, n)
        return [int(r) for r in rows]

    def _stale(self, hits: list[SearchHit]) -> list[FileState]:
        """Files of ``hits`` whose size or mtime differ from the manifest (or are gone)."""
        out: list[FileState] = []
        seen: set[str] = set()
        for h in hits:
            src = self.catalog.sources[self.catalog.by_id[h.chunk.id]]
            if not src or src.startswith(TEXT) or src in seen:
                continue
            seen.add(src)
            rec = self._manifest.files.get(src, {})
            try:
                st = os.stat(src)
            except OSError:
                out.append(FileState(src, -1, -1.0))
                continue
            if st.st_size != rec.get("size") or st.st_mtime != rec.get("mtime"):
                out.append(FileState(src, st.st_size, st.st_mtime))
        return out


def _clear(path: Path) -> None:
    """Delete what an index directory holds, except the writer lock being held."""
    import shutil

    for entry in path.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
