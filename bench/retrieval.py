"""Retrieval at scale: index build, embedding throughput, search latency and refresh at
~100k chunks of real source text, with every baseline measured in the same run.

    python bench/retrieval.py --chunks 100000 --json

Corpus: Python source on this machine (the standard library, then the venv's packages),
chunked by ctxkit's chunkers, copied under ``--workdir`` so a file can be edited. Measured:

* lexical engines on the same chunk texts: ctxkit's BM25 (incremental, bm25s-style
  term-major scoring), bm25s, LanceDB's native full-text index, and rank_bm25 (baseline);
  build time, query p50/p95, and recall@10 on docstring queries (first docstring line →
  the chunk it came from);
* dense throughput on a sample: plain ``SentenceTransformer.encode`` (the baseline) vs
  ctxkit's embedder, with recall@10 of each on the sample's docstring queries;
* the full Index (vectors cached on disk by content hash between runs: the first run
  embeds every chunk once, at the throughput above): build time, hybrid search p50/p95
  (query embedding included, no rerank), ANN recall@10 against exact search;
* refresh after editing one file, and after only touching its mtime.

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LANCEDB_LOG", "error")

from ctxkit.retrieval import chunk_text, kind_for  # noqa: E402
from ctxkit.retrieval._files import read_text, walk  # noqa: E402

_DOC = re.compile(r'^\s*(?:async\s+)?def\s+\w+.*?:\s*\n\s*[rb]?("""|\'\'\')\s*([^\n]+)', re.M)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def build_corpus(workdir: Path, target: int) -> tuple[Path, list[str], list[str]]:
    """Copy source files until their chunks reach ``target``; (dir, chunk texts, ids)."""
    corpus = workdir / "corpus"
    roots = [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]]
    texts: list[str] = []
    ids: list[str] = []
    fresh = not corpus.exists()
    for n, root in enumerate(roots):
        for fs in walk([root]):
            if len(texts) >= target:
                break
            if kind_for(fs.path) != "python":
                continue
            text, _, _ = read_text(fs.path, 1_000_000)
            if text is None:
                continue
            rel = f"r{n}/{os.path.relpath(fs.path, root)}"
            dest = corpus / rel
            if fresh:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fs.path, dest)
            display = os.path.relpath(dest, workdir)
            for sp in chunk_text(text, display, "python"):
                texts.append(sp.text)
                ids.append(f"{display}:{sp.start_line}-{sp.end_line}")
    return corpus, texts, ids


def docstring_queries(texts: list[str], ids: list[str], n: int) -> list[tuple[str, str]]:
    """(first docstring line, chunk id) pairs, spread evenly over the corpus."""
    found = []
    for text, cid in zip(texts, ids, strict=True):
        m = _DOC.search(text)
        if m and len(m.group(2).split()) >= 5:
            found.append((m.group(2).strip().strip('"\''), cid))
    step = max(1, len(found) // n)
    return found[::step][:n]


def lexical_engines(texts: list[str], ids: list[str], queries: list[tuple[str, str]],
                    workdir: Path, rank_bm25_queries: int) -> dict[str, Any]:
    from ctxkit.retrieval import Analyzer
    from ctxkit.retrieval._lexical import LexicalIndex

    out: dict[str, Any] = {}

    def measure(name: str, build: Any, search: Any, qs: list[tuple[str, str]]) -> None:
        state, build_s = timed(build)
        lat, hits = [], 0
        for q, gold in qs:
            t0 = time.perf_counter()
            top = search(state, q)
            lat.append(time.perf_counter() - t0)
            hits += gold in top
        out[name] = {"build_s": round(build_s, 2), "p50_ms": round(pct(lat, .5), 2),
                     "p95_ms": round(pct(lat, .95), 2), "recall@10": round(hits / len(qs), 3),
                     "num_queries": len(qs)}
        print(f"  {name:<12} build {build_s:7.2f}s  p50 {pct(lat, .5):8.2f} ms  "
              f"p95 {pct(lat, .95):8.2f} ms  recall@10 {hits / len(qs):.3f}", flush=True)

    def ctx_build() -> Any:
        ix = LexicalIndex(Analyzer())
        ix.add(texts)
        return ix

    measure("ctxkit", ctx_build, lambda ix, q: [ids[r] for r in ix.search(q, 10)[0]], queries)

    import bm25s
    import Stemmer

    stem = Stemmer.Stemmer("english")

    def bm25s_build() -> Any:
        r = bm25s.BM25()
        r.index(bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False),
                show_progress=False)
        return r

    def bm25s_search(r: Any, q: str) -> list[str]:
        tok = bm25s.tokenize([q], stopwords="en", stemmer=stem, show_progress=False)
        docs, _ = r.retrieve(tok, k=10, show_progress=False, n_threads=1)
        return [ids[int(d)] for d in docs[0]]

    measure("bm25s", bm25s_build, bm25s_search, queries)

    import lancedb
    import pyarrow as pa

    def lance_build() -> Any:
        db = lancedb.connect(str(workdir / "fts"))
        tbl = db.create_table("t", data=pa.table({"id": ids, "text": texts}), mode="overwrite")
        tbl.create_fts_index("text", stem=False, remove_stop_words=False, with_position=False,
                             replace=True)
        return tbl

    def lance_search(tbl: Any, q: str) -> list[str]:
        q = re.sub(r"[^\w\s]", " ", q)
        res = tbl.search(q, query_type="fts").limit(10).select(["id"]).to_arrow()
        return [str(x) for x in res.column("id").to_pylist()]

    measure("lancedb_fts", lance_build, lance_search, queries)

    from rank_bm25 import BM25Okapi

    tok = Analyzer(stem=False, stopwords=False, split_identifiers=False)

    def rank_build() -> Any:
        return BM25Okapi([tok(t) for t in texts])

    def rank_search(r: Any, q: str) -> list[str]:
        scores = r.get_scores(tok(q))
        top = sorted(range(len(scores)), key=lambda i: -scores[i])[:10]
        return [ids[i] for i in top]

    measure("rank_bm25", rank_build, rank_search, queries[:rank_bm25_queries])
    return out


def dense_throughput(texts: list[str], ids: list[str], sample: int) -> dict[str, Any]:
    """Plain SentenceTransformer.encode vs ctxkit's embedder on the same sample."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from ctxkit.embeddings import SentenceTransformerEmbedder

    rng = random.Random(7)
    idx = sorted(rng.sample(range(len(texts)), min(sample, len(texts))))
    sub = [texts[i] for i in idx]
    sub_ids = [ids[i] for i in idx]
    queries = docstring_queries(sub, sub_ids, len(sub))
    ours = SentenceTransformerEmbedder()
    plain = SentenceTransformer(ours.path, device="cpu")
    plain.encode(sub[:8])
    ours.embed(sub[:8])
    a, plain_s = timed(lambda: plain.encode(sub, normalize_embeddings=True))
    b, ours_s = timed(lambda: ours.embed(sub))

    def recall(vecs: Any, qvecs: Any) -> float:
        hits = 0
        for (_, gold), qv in zip(queries, qvecs, strict=True):
            top = np.argsort(-(vecs @ qv))[:10]
            hits += gold in {sub_ids[i] for i in top}
        return hits / max(1, len(queries))

    qs = [q for q, _ in queries]
    r_plain = recall(np.asarray(a), plain.encode(qs, normalize_embeddings=True))
    r_ours = recall(b, ours.embed(qs))
    res = {"sample": len(sub), "plain_chunks_per_s": round(len(sub) / plain_s, 1),
           "ctxkit_chunks_per_s": round(len(sub) / ours_s, 1),
           "ratio": round(plain_s / ours_s, 2), "precision": ours.precision,
           "recall@10_plain": round(r_plain, 3), "recall@10_ctxkit": round(r_ours, 3),
           "num_queries": len(queries),
           "mean_cosine_to_plain": round(float((np.asarray(a) * b).sum(1).mean()), 5)}
    print(f"  plain encode {res['plain_chunks_per_s']:.1f} chunks/s, ctxkit "
          f"{res['ctxkit_chunks_per_s']:.1f} chunks/s ({res['ratio']:.2f}x, "
          f"{ours.precision}); recall@10 plain {r_plain:.3f} vs ctxkit {r_ours:.3f} "
          f"on {len(queries)} queries", flush=True)
    return res


def full_index(workdir: Path, corpus: Path, cache: Path, queries: list[tuple[str, str]],
               seq_len: int | None) -> dict[str, Any]:
    from ctxkit.embeddings import SentenceTransformerEmbedder
    from ctxkit.retrieval import Index

    out: dict[str, Any] = {}
    emb = SentenceTransformerEmbedder(max_seq_length=seq_len)
    index, open_s = timed(lambda: Index(workdir / "index", rebuild=True, cache=str(cache),
                                        base=str(workdir), embedder=emb))
    report, build_s = timed(index.add_paths, [corpus])
    out["index"] = {"files": report.num_files_indexed, "chunks": report.num_chunks_added,
                    "embedded_now": report.num_embedded, "build_s": round(build_s, 1)}
    print(f"  index: {report.num_chunks_added} chunks from {report.num_files_indexed} files "
          f"in {build_s:.1f}s ({report.num_embedded} embedded now, the rest from the cache)",
          flush=True)
    for name, mode in [("search_hybrid", "hybrid"), ("search_lexical", "lexical"),
                       ("search_dense", "dense")]:
        index.search(queries[0][0], k=10, mode=mode)
        lat, hits = [], 0
        for q, gold in queries:
            t0 = time.perf_counter()
            top = index.search(q, k=10, mode=mode)
            lat.append(time.perf_counter() - t0)
            hits += gold in {h.chunk.id for h in top}
        out[name] = {"p50_ms": round(pct(lat, .5), 2), "p95_ms": round(pct(lat, .95), 2),
                     "recall@10": round(hits / len(queries), 3)}
        print(f"  {name:<15} p50 {pct(lat, .5):7.2f} ms  p95 {pct(lat, .95):7.2f} ms  "
              f"recall@10 {hits / len(queries):.3f}", flush=True)
    overlap = []
    for q, _ in queries[:100]:
        qv = index._embed_query(q)
        ann = set(index._dense_rows(qv, 10))
        exact = set(index.catalog.dense_search(qv, 10)[0].tolist())
        overlap.append(len(ann & exact) / 10)
    out["ann_recall@10_vs_exact"] = round(statistics.mean(overlap), 3)
    out["ann_used"] = bool(index.store.has_ann() and len(index) >= index.ann_min_rows)
    print(f"  ANN recall@10 vs exact: {out['ann_recall@10_vs_exact']:.3f}", flush=True)
    index.close()
    reopened, reopen_s = timed(lambda: Index(workdir / "index", cache=str(cache),
                                             base=str(workdir), embedder=emb))
    out["reopen_s"] = round(reopen_s, 2)
    out["refresh"] = refresh(reopened, corpus)
    return out


def refresh(index: Any, corpus: Path) -> dict[str, Any]:
    files = sorted(p for p in corpus.rglob("*.py") if p.stat().st_size > 2000)
    target = files[len(files) // 2]
    index.refresh()  # settle
    os.utime(target, None)
    report, touch_s = timed(index.refresh)
    text = target.read_text()
    target.write_text(text + "\n\ndef bench_added_function(x):\n    '''Added by the "
                      "retrieval benchmark.'''\n    return x + 1\n")
    report2, edit_s = timed(index.refresh)
    target.write_text(text.replace("def ", "def  ", 1) if "def " in text else text + "\n#")
    _, search_s = timed(lambda: index.search("function added by the benchmark", k=10))
    target.write_text(text)
    index.refresh()
    res = {"file": str(target.relative_to(corpus)), "touch_s": round(touch_s, 3),
           "edit_s": round(edit_s, 3), "edit_chunks_added": report2.num_chunks_added,
           "edit_embedded": report2.num_embedded, "search_after_edit_s": round(search_s, 3),
           "touch_reindexed": report.num_files_indexed}
    print(f"  refresh after touching one file {touch_s:.3f}s, after editing it {edit_s:.3f}s "
          f"({report2.num_chunks_added} chunks rewritten, {report2.num_embedded} embedded); "
          f"a search that finds the edited file stale {search_s:.3f}s", flush=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--sample", type=int, default=400, help="chunks for the throughput test")
    ap.add_argument("--rank-bm25-queries", type=int, default=10)
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "ctxkit-bench-retrieval")
    ap.add_argument("--cache", type=Path,
                    default=Path.home() / ".cache" / "ctxkit" / "bench-embeddings.sqlite")
    ap.add_argument("--index-seq-len", type=int, default=None,
                    help="embed the full index reading this many tokens per chunk (default: "
                         "the model's 256); a smaller value only to fit a first, uncached run "
                         "in time - say so when you report it")
    ap.add_argument("--skip", nargs="*", default=[], choices=["lexical", "dense", "index"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    import torch

    print(f"retrieval bench: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    (corpus, texts, ids), corpus_s = timed(build_corpus, args.workdir, args.chunks)
    queries = docstring_queries(texts, ids, args.queries)
    print(f"corpus: {len(texts)} chunks, {sum(len(t.split()) for t in texts) / len(texts):.0f}"
          f" words each on average, {len(queries)} docstring queries ({corpus_s:.1f}s)")
    result: dict[str, Any] = {"chunks": len(texts), "queries": len(queries)}
    if "lexical" not in args.skip:
        print("lexical engines (same texts, same queries):")
        result["lexical"] = lexical_engines(texts, ids, queries, args.workdir,
                                            args.rank_bm25_queries)
    if "dense" not in args.skip:
        print("dense embedding throughput (same sample):")
        result["embedding"] = dense_throughput(texts, ids, args.sample)
    if "index" not in args.skip:
        print("full index (LanceDB + BM25 + vectors):")
        result["index_seq_len"] = args.index_seq_len or "model default (256)"
        result.update(full_index(args.workdir, corpus, args.cache, queries,
                                 args.index_seq_len))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
