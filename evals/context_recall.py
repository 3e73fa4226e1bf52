"""Evidence in context: does the gold evidence land in the packed prompt, and where?

    python evals/context_recall.py --split test --json

For SciFact claims with gold evidence sentences, retrieve once (k hits), then pack the
retrieval section at budgets of 1k, 4k and 16k tokens two ways, in the same run:

* ctxkit: the Retrieval layer in a real ContextPipeline (its hits proposed to the
  pipeline's one packing step: knapsack with redundancy penalty and relevance threshold,
  best evidence at the edges);
* baseline: top-k by score until the budget is full, best first.

Reported per budget: the fraction of gold evidence sentences found verbatim in a packed
block, the tokens used, and where found evidence sits in the section (start / middle /
end third, by token offset). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "evals"))

from retrieval import _STR, SPLITS, build_index, load_scifact  # noqa: E402

BUDGETS = (1000, 4000, 16000)


def load_evidence(data: Path, split: str) -> dict[str, set[tuple[str, int]]]:
    """{claim id: {(doc_id, sentence index)}} for claims with gold evidence sentences."""
    csv.field_size_limit(1 << 30)
    out: dict[str, set[tuple[str, int]]] = {}
    with zipfile.ZipFile(data / "scifact" / "scifact.zip") as z:
        rows = csv.DictReader(io.TextIOWrapper(z.open(SPLITS[split]), encoding="utf-8"))
        for r in rows:
            if r["evidence_doc_id"]:
                for s in re.findall(r"\d+", r["evidence_sentences"]):
                    out.setdefault(r["id"], set()).add((r["evidence_doc_id"], int(s)))
    return out


def sentences(data: Path) -> dict[str, list[str]]:
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(data / "scifact" / "scifact.zip") as z:
        rows = csv.DictReader(io.TextIOWrapper(z.open("corpus_train.csv"), encoding="utf-8"))
        return {r["doc_id"]: [a or b for a, b in _STR.findall(r["abstract"])] for r in rows}


class _Fixed:
    """An index stand-in that answers with precomputed hits (one search per claim)."""

    def __init__(self) -> None:
        self.hits: list[Any] = []

    def search(self, query: Any, k: int = 10) -> list[Any]:
        return self.hits[:k]


def section_positions(blocks: list[Any], tokens: list[int]) -> list[str]:
    """start / middle / end third of each block's midpoint by token offset."""
    total = sum(tokens) or 1
    out, offset = [], 0
    for n in tokens:
        mid = (offset + n / 2) / total
        out.append("start" if mid < 1 / 3 else "middle" if mid < 2 / 3 else "end")
        offset += n
    return out


def score_section(blocks: list[Any], tokens: list[int], gold: list[str]) -> dict[str, Any]:
    pos = section_positions(blocks, tokens)
    found: list[str] = []
    for sent in gold:
        where = next((p for b, p in zip(blocks, pos, strict=True) if sent in b.content), None)
        if where is not None:
            found.append(where)
    return {"found": len(found), "positions": found, "tokens": sum(tokens)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="test", choices=sorted(SPLITS))
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "evaldata")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ctxkit-evals")
    ap.add_argument("--k", type=int, default=100, help="hits retrieved per claim")
    ap.add_argument("--min-score", type=float, default=None, help="tuning: layer threshold")
    ap.add_argument("--redundancy", type=float, default=None, help="tuning: packer penalty")
    ap.add_argument("--sharpness", type=float, default=None, help="tuning: layer value")
    ap.add_argument("--limit", type=int, default=None, help="first N claims only")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from ctxkit import Block, Budget, ContextPipeline, Provenance
    from ctxkit.layers import Retrieval
    from ctxkit.packing import KnapsackPacker
    from ctxkit.testing import ScriptedBackend

    corpus, queries, _ = load_scifact(args.data, args.split)
    evidence = load_evidence(args.data, args.split)
    sents = sentences(args.data)
    index = build_index(args.workdir, corpus)
    fixed = _Fixed()
    totals: dict[str, dict[int, dict[str, Any]]] = {
        m: {b: {"found": 0, "gold": 0, "tokens": 0, "start": 0, "middle": 0, "end": 0}
            for b in BUDGETS} for m in ("ctxkit", "topk")}
    claims = [c for c in queries if c in evidence][: args.limit]
    layer_kw: dict[str, Any] = {}
    if args.min_score is not None:
        layer_kw["min_score"] = args.min_score
    if args.sharpness is not None:
        layer_kw["sharpness"] = args.sharpness
    packer_kw: dict[str, Any] = {}
    if args.redundancy is not None:  # packing is the pipeline's one step: tune its packer
        packer_kw["redundancy"] = args.redundancy
    for cid in claims:
        gold = [sents[d][i] for d, i in sorted(evidence[cid]) if d in sents]
        fixed.hits = index.search(queries[cid], k=args.k)
        for budget in BUDGETS:
            pipe = ContextPipeline(ScriptedBackend([]), [Retrieval(fixed, k=args.k, **layer_kw)],
                                   budget=Budget(caps={"retrieval": budget}),
                                   packer=KnapsackPacker(**packer_kw))
            draft = pipe.assemble(queries[cid])
            ours = draft.of_layer("retrieval")
            res = score_section(ours, [draft.tokens(b) for b in ours], gold)
            # the baseline: top-k by score until the budget is full, best first
            base, used = [], 0
            for h in fixed.hits:
                b = Block(layer="retrieval", content=f"--- {h.chunk.ref} ---\n{h.chunk.text}",
                          must_keep=False, provenance=Provenance(source="retrieval"))
                n = draft.tokens(b)
                if used + n > budget:
                    break
                base.append(b)
                used += n
            res_b = score_section(base, [draft.tokens(b) for b in base], gold)
            for name, r in (("ctxkit", res), ("topk", res_b)):
                t = totals[name][budget]
                t["found"] += r["found"]
                t["gold"] += len(gold)
                t["tokens"] += r["tokens"]
                for p in r["positions"]:
                    t[p] += 1
    summary: dict[str, Any] = {"split": args.split, "claims": len(claims), "k": args.k}
    print(f"SciFact {args.split}: {len(claims)} claims with gold evidence sentences, k={args.k}")
    print(f"{'budget':>7} {'method':<7} {'evidence':>9} {'tokens':>8} {'start':>6} "
          f"{'middle':>7} {'end':>5}")
    for budget in BUDGETS:
        for name in ("ctxkit", "topk"):
            t = totals[name][budget]
            n = max(1, t["found"])
            row = {"evidence_recall": round(t["found"] / max(1, t["gold"]), 4),
                   "mean_tokens": round(t["tokens"] / max(1, len(claims)), 1),
                   "at_start": round(t["start"] / n, 3), "in_middle": round(t["middle"] / n, 3),
                   "at_end": round(t["end"] / n, 3)}
            summary.setdefault(name, {})[str(budget)] = row
            print(f"{budget:>7} {name:<7} {row['evidence_recall']:>9.4f} "
                  f"{row['mean_tokens']:>8.0f} {row['at_start']:>6.2f} {row['in_middle']:>7.2f} "
                  f"{row['at_end']:>5.2f}")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
