"""No silent loss of vector search: a lost, stale or corrupted LanceDB directory is found
on open and repaired from SQL (with a log line), or refused with a StoreError that says
how to rebuild; two processes flushing the same store never duplicate a vector."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import time

import pytest

from ctxkit import StoreError
from ctxkit.memory import HashingEmbedder, MemoryStore, Scope

SCOPE = Scope(tenant="acme", user="u1")


def _vector_hits(store: MemoryStore) -> int:
    """How many of the last search's hits came from the vector half (from the audit)."""
    last = store.audit(SCOPE, action="read")[-5:]  # the last search asked for k=5
    return sum("vector_rank" in e.detail for e in last)


def _fill(store: MemoryStore, n: int = 40) -> None:
    store.write_many(SCOPE, [f"note {i} about the staging deploy pipeline" for i in range(n)])
    store.search(SCOPE, "staging deploy", k=5)
    assert _vector_hits(store) == 5


def test_a_lost_vectors_directory_is_rebuilt_on_open_with_a_log_line(make_store, tmp_path,
                                                                      caplog):
    store = make_store("lost")
    _fill(store)
    store.close()
    shutil.rmtree(tmp_path / "lost.vectors")
    again = make_store("lost")
    with caplog.at_level(logging.WARNING, logger="ctxkit.memory"):
        again.search(SCOPE, "staging deploy", k=5)
    assert _vector_hits(again) == 5  # the vector half is back, not silently off
    assert any("40 missing" in r.getMessage() and "re-embedded" in r.getMessage()
               for r in caplog.records)
    assert again.vector_index().count() == 41 or again.vector_index().count() == 40


def test_stale_and_duplicated_rows_are_repaired_on_open(make_store, caplog):
    store = make_store("stale")
    _fill(store)
    index = store.vector_index()
    ids = sorted(index.ids())
    index.delete(ids[:5])  # lost rows: flagged as embedded in SQL, gone from LanceDB
    index.add([{"id": ids[10], "tenant": "acme", "user_id": "u1", "session": None,
                "tier": "episodic", "created_at": 0.0, "vector": [0.1] * 64},
               {"id": "f" * 32, "tenant": "acme", "user_id": "u1", "session": None,
                "tier": "episodic", "created_at": 0.0, "vector": [0.1] * 64}])
    store.close()
    again = make_store("stale")
    with caplog.at_level(logging.WARNING, logger="ctxkit.memory"):
        again.search(SCOPE, "staging deploy", k=5)
    counts = again.vector_index().id_counts()
    assert sorted(counts) == ids and set(counts.values()) == {1}
    assert any("5 missing, 1 duplicated, 1 of no record" in r.getMessage()
               for r in caplog.records)


def test_a_corrupted_directory_gives_a_store_error_with_the_fix(make_store, tmp_path):
    store = make_store("bad")
    _fill(store)
    store.close()
    for f in (tmp_path / "bad.vectors").rglob("*.manifest"):
        f.write_bytes(b"not a manifest" * 4)
    again = make_store("bad")
    assert again.list(SCOPE)  # listing never needs the vectors
    with pytest.raises(StoreError, match=r"rebuild_vectors\(\)"):
        again.search(SCOPE, "staging deploy", k=5)
    assert again.rebuild_vectors() == 40
    again.search(SCOPE, "staging deploy", k=5)
    assert _vector_hits(again) == 5
    assert list(tmp_path.glob("bad.vectors.broken-*"))  # the broken directory is kept


def test_a_directory_lost_while_open_gives_a_store_error(make_store, tmp_path):
    store = make_store("gone")
    _fill(store)
    shutil.rmtree(tmp_path / "gone.vectors")
    store.write(SCOPE, "a new note about the staging deploy", source="agent")
    with pytest.raises(StoreError, match="records are safe in SQL"):  # its vector append
        store.search(SCOPE, "staging deploy", k=5)
    store.rebuild_vectors()
    store.search(SCOPE, "staging deploy", k=5)
    assert _vector_hits(store) == 5


class SlowEmbedder(HashingEmbedder):
    """The hashing embedder, slowed so two flushers overlap (as MiniLM makes them do)."""

    def embed(self, texts):
        time.sleep(0.3)
        return super().embed(texts)


def _flush(url: str, vectors: str, start: float) -> None:
    store = MemoryStore(url, vectors=vectors, embedder=SlowEmbedder(64))
    store.vector_index()
    time.sleep(max(0.0, start - time.time()))
    store.flush()
    store.close()


def test_two_flushing_processes_never_duplicate_vectors(tmp_path):
    url, vectors = f"sqlite:///{tmp_path / 'two.db'}", str(tmp_path / "two.vectors")
    store = MemoryStore(url, vectors=vectors, embedder=HashingEmbedder(64))
    store.write_many(SCOPE, [f"record {i} of the backlog" for i in range(300)])
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded pytest
    start = time.time() + 1.5
    procs = [ctx.Process(target=_flush, args=(url, vectors, start)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    import lancedb

    table = lancedb.connect(vectors).open_table("memory_vectors")
    assert table.count_rows() == 300
    store.close()


def _open(url: str, vectors: str, start: float, out: multiprocessing.Queue) -> None:
    time.sleep(max(0.0, start - time.time()))
    try:
        store = MemoryStore(url, vectors=vectors, embedder=HashingEmbedder(64))
        store.vector_index()  # writes the embedder meta row
        store.write(SCOPE, "opened", source="agent")
        store.close()
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_fresh_store_at_once_all_succeed(tmp_path):
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded pytest
    results = []
    for round_ in range(4):
        url = f"sqlite:///{tmp_path / f'fresh{round_}.db'}"
        vectors = str(tmp_path / f"fresh{round_}.vectors")
        out = ctx.Queue()
        start = time.time() + 0.5
        procs = [ctx.Process(target=_open, args=(url, vectors, start, out)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        results += [out.get(timeout=5) for _ in procs]
    assert results == ["ok"] * 16


def test_nan_and_infinite_ttl_and_oversized_content_are_refused(make_store):
    from ctxkit import UserError

    store = make_store("limits", max_content=1000)
    for ttl in (float("nan"), float("inf"), -1, True):
        with pytest.raises(UserError, match="ttl must be a finite number"):
            store.write(SCOPE, "expires?", ttl=ttl)
    with pytest.raises(UserError, match="over the 1,000 a record takes"):
        store.write(SCOPE, "x" * 1001)
    with pytest.raises(UserError, match="finite numbers"):
        store.write(SCOPE, "meta", meta={"score": float("nan")})
    assert store.list(SCOPE, include_hidden=True) == []  # nothing half-written
    default = make_store("limits-default")
    with pytest.raises(UserError, match="200,000"):
        default.write(SCOPE, "word " * 50_000)
