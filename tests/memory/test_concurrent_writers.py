"""Processes writing the same memories into one SQLite file at once: dedupe holds across
processes (one record per memory, the others logged as dedupes), nothing is lost."""

from __future__ import annotations

import collections
import multiprocessing
import time

from ctxkit.memory import HashingEmbedder, MemoryStore, Scope

SCOPE = Scope(tenant="acme", user="u1", session="s1")
TEXTS = [f"observation {i}: the deploy of service {i % 7} took {i} seconds" for i in range(200)]


def _write(url: str, vectors: str, start: float, out: multiprocessing.Queue) -> None:
    try:
        store = MemoryStore(url, vectors=vectors, embedder=HashingEmbedder(64))
        time.sleep(max(0.0, start - time.time()))
        for text in TEXTS:  # every process writes the same memories, in the same order
            store.write(SCOPE, text, source="agent")
        store.close()
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")


def test_processes_writing_the_same_memories_at_once_store_each_once(tmp_path):
    # the dedupe lookup ran outside the write's transaction (SQLite begins it at the first
    # INSERT), so two processes could both find no copy and both insert: about one memory
    # in ten was stored twice with four writers
    url, vectors = f"sqlite:///{tmp_path / 'race.db'}", str(tmp_path / "race.vectors")
    MemoryStore(url, vectors=vectors, embedder=HashingEmbedder(64)).close()
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded pytest
    out = ctx.Queue()
    start = time.time() + 3.0
    procs = [ctx.Process(target=_write, args=(url, vectors, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert sorted(out.get(timeout=5) for _ in procs) == ["ok"] * 4
    store = MemoryStore(url, vectors=vectors, embedder=HashingEmbedder(64))
    stored = collections.Counter(r.content for r in store.list(SCOPE, include_hidden=True,
                                                                limit=10_000))
    assert sorted(stored) == sorted(TEXTS)
    assert [t for t, n in stored.items() if n > 1] == []
    assert len(store.audit(SCOPE, action="dedupe", limit=10_000)) == 3 * len(TEXTS)
    store.close()
