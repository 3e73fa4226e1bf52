"""Memory store throughput and latency on SQLite, beside in-run baselines.

Fills a store (SQLite file + LanceDB directory) to 10k and then 100k records of short
synthetic notes, spread over 100 users of 10 tenants (a realistic shape: each search sees
one user's records), and measures:

* **write**: records/s through ``store.write_many`` (batches of 100, like compaction) and
  ``store.write`` (one at a time, p50/p95 latency): validation, redaction, dedupe, the
  lexical index, the audit line, one transaction. Baseline in the same run: raw
  ``sqlite3`` inserts of the same rows into a bare table (no index, no audit, no guard).
* **index**: records/s embedded and appended to LanceDB by ``store.flush()``.
* **search**: p50/p95 of ``store.search`` (hybrid: BM25 over SQL + cosine over LanceDB,
  scope-filtered, visibility-checked, audited) for random queries in random scopes.
  Baseline in the same run: exact numpy cosine top-k over the same vectors of that scope
  held in memory (what a brute-force in-process search costs, with no store at all).
  Also in the same run, on the same files: the SQL path (``search_cache_mb=0``: BM25 in
  SQL, cosine in LanceDB, as every search ran before the per-scope snapshots), with the
  ratio; and the cold cost of building a scope's snapshot (its first search).
* **recall**: p50/p95 of ``store.recall`` (what the ``Recall`` layer runs: the question's
  parts searched and fused, dated hits boosted, the best expanded along links) on the
  same queries.
* ``--one-user``: the worst case, every record in a single user's scope.

The embedder is the deterministic hashing embedder (dim 384, like MiniLM) so the numbers
are the store's own; MiniLM's encode rate on this machine is measured too and printed, to
add when the real model embeds.

    python bench/memory.py [--sizes 10000,100000] [--queries 200] [--one-user] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ctxkit.memory import HashingEmbedder, MemoryStore, Scope

WORDS = ("deploy pytest parser invoice refund kubernetes coffee holiday release branch "
         "merge review token cache index query plan module config staging outage pager "
         "customer ticket billing vendor contract design sprint roadmap budget metric "
         "latency error retry timeout database migration schema backup restore alert "
         "dashboard feature flag experiment rollout rollback incident postmortem").split()


def note(r: random.Random) -> str:
    return " ".join(r.choice(WORDS) for _ in range(r.randint(8, 20)))


def scopes(one_user: bool) -> list[Scope]:
    if one_user:
        return [Scope(tenant="t0", user="u0")]
    return [Scope(tenant=f"t{i % 10}", user=f"u{i}") for i in range(100)]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def fill(store: MemoryStore, n: int, target: int, r: random.Random, sc: list[Scope]
         ) -> tuple[float, list[tuple[Scope, str]]]:
    """Write records until the store holds ``target``; returns (seconds, rows written)."""
    rows: list[tuple[Scope, str]] = []
    t0 = time.perf_counter()
    while n < target:
        scope = sc[(n // 100) % len(sc)]  # round robin: every scope fills evenly
        batch = [f"{note(r)} #{n + i}" for i in range(min(100, target - n))]
        store.write_many(scope, [{"content": b, "source": "agent"} for b in batch])
        rows += [(scope, b) for b in batch]
        n += len(batch)
    return time.perf_counter() - t0, rows


def raw_sqlite(path: Path, rows: list[tuple[Scope, str]]) -> float:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE IF NOT EXISTS notes (id TEXT, tenant TEXT, user TEXT, "
                "content TEXT, created REAL)")
    t0 = time.perf_counter()
    for i in range(0, len(rows), 100):
        with con:
            con.executemany("INSERT INTO notes VALUES (?, ?, ?, ?, ?)",
                            [(f"{i + j}", s.tenant, s.user, c, time.time())
                             for j, (s, c) in enumerate(rows[i:i + 100])])
    dt = time.perf_counter() - t0
    con.close()
    return dt


def measure(store: MemoryStore, old: MemoryStore, emb: HashingEmbedder, sc: list[Scope],
            size: int, queries: int, r: random.Random, tmp: Path, fill_s: float,
            rows: list[tuple[Scope, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"records": size}
    out["write_many_per_s"] = round(len(rows) / fill_s, 1) if rows else None
    base = raw_sqlite(tmp / f"raw{size}.db", rows) if rows else None
    out["raw_sqlite_per_s"] = round(len(rows) / base, 1) if base else None
    t0 = time.perf_counter()
    flushed = store.flush()
    out["index_per_s"] = round(flushed / (time.perf_counter() - t0), 1) if flushed else None
    store.vector_index().optimize()
    singles = []
    for _ in range(200):
        scope = sc[r.randrange(len(sc))]
        t = time.perf_counter()
        store.write(scope, note(r), source="agent")
        singles.append((time.perf_counter() - t) * 1e3)
    store.flush()
    out["write_p50_ms"] = round(pct(singles, 50), 2)
    out["write_p95_ms"] = round(pct(singles, 95), 2)
    # the baseline's data: every vector of each scope, in memory
    by_scope: dict[tuple[str, str], np.ndarray] = {}
    for s in sc:
        texts = [rec.content for rec in store.list(s, actor="bench")]
        by_scope[(s.tenant, s.user)] = emb.embed(texts) if texts else np.zeros((0, emb.dim))
    cold = []
    for s in sc[:10]:  # the first search of a scope builds its snapshot
        t = time.perf_counter()
        store.search(s, "deploy", k=10)
        cold.append((time.perf_counter() - t) * 1e3)
    lat, old_lat, base_lat, sizes, rec_lat = [], [], [], [], []
    same = 0
    for _ in range(queries):
        scope = sc[r.randrange(len(sc))]
        q = " ".join(r.choice(WORDS) for _ in range(3))
        t = time.perf_counter()
        hits = store.search(scope, q, k=10)
        lat.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        old_hits = old.search(scope, q, k=10)
        old_lat.append((time.perf_counter() - t) * 1e3)
        same += [h.record.id for h in hits] == [h.record.id for h in old_hits]
        t = time.perf_counter()
        store.recall(scope, q, k=10)  # what the Recall layer runs: parts, fusion, links
        rec_lat.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        qv = emb.embed([q])[0]
        mat = by_scope[(scope.tenant, scope.user)]
        sims = mat @ qv
        top = np.argpartition(-sims, min(10, len(sims) - 1))[:10] if len(sims) else []
        _ = sorted(top, key=lambda i: -sims[i])
        base_lat.append((time.perf_counter() - t) * 1e3)
        sizes.append(len(mat))
        assert len(hits) <= 10
    out.update(search_p50_ms=round(pct(lat, 50), 2), search_p95_ms=round(pct(lat, 95), 2),
               sql_path_p50_ms=round(pct(old_lat, 50), 2),
               sql_path_p95_ms=round(pct(old_lat, 95), 2),
               recall_p50_ms=round(pct(rec_lat, 50), 2),
               recall_p95_ms=round(pct(rec_lat, 95), 2),
               snapshot_build_ms=round(statistics.median(cold), 1),
               same_top10=f"{same}/{queries}",
               numpy_p50_ms=round(pct(base_lat, 50), 3), numpy_p95_ms=round(pct(base_lat, 95), 3),
               scope_records_p50=int(statistics.median(sizes)))
    return out


def minilm_rate(r: random.Random) -> float | None:
    try:
        from ctxkit.embeddings import default_embedder

        e = default_embedder()
    except Exception:  # noqa: BLE001 - the model is optional for this bench
        return None
    texts = [note(r) for _ in range(256)]
    e.embed(texts[:8])
    t0 = time.perf_counter()
    e.embed(texts)
    return round(len(texts) / (time.perf_counter() - t0), 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--one-user", action="store_true", help="all records in one scope")
    ap.add_argument("--no-minilm", action="store_true", help="skip the model's encode rate")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = random.Random(7)
    sc = scopes(args.one_user)
    emb = HashingEmbedder(384)
    results = []
    with tempfile.TemporaryDirectory(prefix="ctxkit-bench-memory-") as d:
        tmp = Path(d)
        store = MemoryStore(f"sqlite:///{tmp / 'bench.db'}", vectors=tmp / "vectors",
                            embedder=emb)
        old = MemoryStore(f"sqlite:///{tmp / 'bench.db'}", vectors=tmp / "vectors",
                          embedder=emb, search_cache_mb=0)
        n = 0
        for size in sorted(int(s) for s in args.sizes.split(",")):
            fill_s, rows = fill(store, n, size, r, sc)
            n = size
            results.append(measure(store, old, emb, sc, size, args.queries, r, tmp, fill_s,
                                   rows))
            n += 200
            print(json.dumps(results[-1]), file=sys.stderr)
        store.close()
        old.close()
    rate = None if args.no_minilm else minilm_rate(r)
    print(f"scopes: {len(sc)}   embedder: hashing-384 (MiniLM encodes {rate} notes/s here)")
    print(f"{'records':>8} {'write_many/s':>12} {'raw sqlite/s':>12} {'ratio':>6} "
          f"{'index/s':>8} {'write p50':>9} {'search p50':>10} {'p95':>7} {'numpy p50':>9} "
          f"{'ratio':>6} {'sql path p50':>12} {'speedup':>7} {'build':>8} {'recall p50':>10}")
    for x in results:
        wr = x["raw_sqlite_per_s"] / x["write_many_per_s"] if x["write_many_per_s"] else 0
        sr = x["search_p50_ms"] / x["numpy_p50_ms"] if x["numpy_p50_ms"] else 0
        print(f"{x['records']:>8} {x['write_many_per_s']:>12} {x['raw_sqlite_per_s']:>12} "
              f"{wr:>5.0f}x {x['index_per_s']:>8} {x['write_p50_ms']:>7}ms "
              f"{x['search_p50_ms']:>8}ms {x['search_p95_ms']:>5}ms {x['numpy_p50_ms']:>7}ms "
              f"{sr:>5.0f}x {x['sql_path_p50_ms']:>10}ms "
              f"{x['sql_path_p50_ms'] / x['search_p50_ms']:>6.1f}x "
              f"{x['snapshot_build_ms']:>6}ms {x['recall_p50_ms']:>8}ms")
    if args.json:
        print(json.dumps({"scopes": len(sc), "minilm_per_s": rate, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
