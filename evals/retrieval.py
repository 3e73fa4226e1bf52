"""Retrieval quality on SciFact (BEIR): nDCG@10 and recall@10 of ctxkit's default pipeline
against BM25 alone and dense alone, all measured in the same run on the same index.

    python evals/retrieval.py --dataset scifact --split test --json

"test" is BEIR's test set, i.e. SciFact's *validation* claims (300 claims, 339 pairs);
"train" is the train claims (809 claims, 919 pairs). Tune on train only. The corpus (5,183
abstracts) is indexed once into ``--workdir`` and reused by later runs (its vectors are
cached by content hash). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_STR = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")
SPLITS = {"train": "claims_train.csv", "test": "claims_validation.csv"}


def load_scifact(data: Path, split: str) -> tuple[dict[str, tuple[str, str]], dict[str, str],
                                                   dict[str, set[str]]]:
    """(corpus {doc_id: (title, abstract)}, queries {qid: claim}, qrels {qid: {doc_id}})."""
    zpath = data / "scifact" / "scifact.zip"
    if not zpath.exists():
        raise SystemExit(f"SciFact not found at {zpath}; pass --data <path to evaldata>")
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(zpath) as z:
        def rows(name: str) -> list[dict[str, str]]:
            return list(csv.DictReader(io.TextIOWrapper(z.open(name), encoding="utf-8")))

        corpus = {}
        for r in rows("corpus_train.csv"):
            sents = [a or b for a, b in _STR.findall(r["abstract"])]
            corpus[r["doc_id"]] = (r["title"], " ".join(sents))
        queries: dict[str, str] = {}
        qrels: dict[str, set[str]] = {}
        for r in rows(SPLITS[split]):
            queries[r["id"]] = r["claim"]
            for d in re.findall(r"\d+", r["cited_doc_ids"]):
                qrels.setdefault(r["id"], set()).add(d)
    return corpus, {q: t for q, t in queries.items() if q in qrels}, qrels


def ndcg_at(ranked: list[str], rel: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in rel)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: list[str], rel: set[str], k: int = 10) -> float:
    return len(set(ranked[:k]) & rel) / len(rel) if rel else 0.0


def build_index(workdir: Path, corpus: dict[str, tuple[str, str]], **kw: Any) -> Any:
    from ctxkit.retrieval import Index

    index = Index(workdir / "scifact-index", **kw)
    t0 = time.perf_counter()
    report = index.add_texts([(doc, abstract, {"title": title})
                              for doc, (title, abstract) in corpus.items()])
    if report.num_files_indexed:
        print(f"indexed {report.num_files_indexed} abstracts into {report.num_chunks_added} "
              f"chunks in {time.perf_counter() - t0:.1f}s ({report.num_embedded} embedded)")
        index.save()
    return index


def docs_of(hits: list[Any], k: int = 10) -> list[str]:
    """Document ids in hit order, each once (a document's best chunk ranks it)."""
    return list(dict.fromkeys(h.chunk.path for h in hits))[:k]


def evaluate(index: Any, queries: dict[str, str], qrels: dict[str, set[str]],
             mode: str) -> dict[str, float]:
    nd, rc, lat = [], [], []
    for qid, text in queries.items():
        t0 = time.perf_counter()
        hits = index.search(text, k=40, mode=mode)
        lat.append(time.perf_counter() - t0)
        ranked = docs_of(hits)
        nd.append(ndcg_at(ranked, qrels[qid]))
        rc.append(recall_at(ranked, qrels[qid]))
    lat.sort()
    return {"ndcg@10": round(sum(nd) / len(nd), 4), "recall@10": round(sum(rc) / len(rc), 4),
            "p50_ms": round(1000 * lat[len(lat) // 2], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="scifact", choices=["scifact"])
    ap.add_argument("--split", default="test", choices=sorted(SPLITS))
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "evaldata")
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "ctxkit-evals")
    ap.add_argument("--rerank", default="default",
                    choices=["default", "none", "embedding", "mmr"],
                    help="reranker for the default pipeline (for tuning on train)")
    ap.add_argument("--fusion-k", type=float, default=None)
    ap.add_argument("--json", action="store_true", help="end with one JSON line")
    args = ap.parse_args(argv)

    from ctxkit.retrieval import MMR, EmbeddingReranker

    corpus, queries, qrels = load_scifact(args.data, args.split)
    index = build_index(args.workdir, corpus)
    if args.rerank == "embedding":
        index.reranker = EmbeddingReranker()
    elif args.rerank == "mmr":
        index.reranker = MMR()
    elif args.rerank == "none":
        index.reranker = None
    if args.fusion_k is not None:
        index.fusion_k = args.fusion_k
    results = {name: evaluate(index, queries, qrels, mode)
               for name, mode in [("default", "hybrid"), ("bm25", "lexical"),
                                  ("dense", "dense")]}
    print(f"SciFact {args.split}: {len(queries)} queries, {len(corpus)} documents, "
          f"{index.num_chunks} chunks")
    print(f"{'pipeline':<10} {'nDCG@10':>8} {'recall@10':>10} {'p50 ms':>8}")
    for name, r in results.items():
        print(f"{name:<10} {r['ndcg@10']:>8.4f} {r['recall@10']:>10.4f} {r['p50_ms']:>8.2f}")
    best_single = max(results["bm25"]["ndcg@10"], results["dense"]["ndcg@10"])
    print(f"default vs best single retriever: {results['default']['ndcg@10'] / best_single:.3f}x")
    if args.json:
        out = {"dataset": args.dataset, "split": args.split, "num_queries": len(queries),
               "num_docs": len(corpus), "num_chunks": index.num_chunks,
               "reranker": args.rerank, "fusion_k": index.fusion_k, **results}
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
