"""Memory recall on LoCoMo: are a question's evidence turns in the assembled context?

For each conversation, the sessions are replayed one by one through a real
``ContextPipeline`` with the memory layers (``Memory`` for semantic memory, ``Recall`` for
episodic recall): speaker A's turns are the user's messages, speaker B's the replies, the
store's clock is the session's date. When a session ends its turns are written to
episodic memory the way compaction writes dropped turns (``store.write_episodes``, one
record per turn, its ``D<session>:<turn>`` id as the record's source reference).

Then each question opens a fresh session and the pipeline assembles the call for it
(``pipe.assemble``) under a prompt budget of 2k / 4k / 8k tokens: recall proposes hits as
flexible blocks and the budget step packs the best that fit. A question's evidence turns
count as present when a packed recall block holds them. In the same run, two baselines
fill the same budget through the same pipeline: ``bm25`` — every turn scored by BM25
(``rank_bm25``) against the question, the best packed — ``dense`` — every turn scored by
cosine with the store's own embedder, the best packed — and ``recent`` — the most recent
turns that fit (a floor). Reported per category and
overall: the mean share of a question's evidence turns present, and the share of
questions with all of them present.

Tune only on the dev conversations (the default): conv-26, conv-30, conv-41, conv-42,
conv-43. The rest are kept for release measurement.

    python evals/memory_recall.py [--conversations conv-26,conv-30] [--budget 2000,4000]
                                  [--data PATH] [--embedder minilm|hashing] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ctxkit import Block, Budget, ContextPipeline, Draft, Provenance, Turn
from ctxkit.layers import History, Memory, Prefix, Recall
from ctxkit.memory import HashingEmbedder, MemoryStore, MemoryWriter, Scope
from ctxkit.testing import FunctionBackend

SIDES = ("memory", "bm25", "dense", "recent")
DEV = ["conv-26", "conv-30", "conv-41", "conv-42", "conv-43"]
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop",
              5: "adversarial"}
SYSTEM = ("You are a helpful assistant with a long-term memory of your conversations with "
          "the user. Answer from what was said; say so when you do not know.")
MODEL = "gpt-4o"  # o200k token counts; the profile's window is far above every budget


def default_data() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "evaldata"


def evidence_ids(raw: list[str]) -> set[str]:
    """``D<s>:<t>`` ids; upstream has a few malformed ones ("D8:6; D9:17", "D:11:26")."""
    out = set()
    for item in raw:
        for s, t in re.findall(r"D:?(\d+):(\d+)", item):
            out.add(f"D{int(s)}:{int(t)}")
    return out


def turn_text(turn: dict[str, Any]) -> str:
    text = f"{turn['speaker']}: {turn['text']}"
    if turn.get("blip_caption"):
        text += f" [shares a photo: {turn['blip_caption']}]"
    return text


def session_time(stamp: str) -> float:
    """'1:56 pm on 8 May, 2023' -> unix seconds (UTC)."""
    dt = datetime.strptime(stamp.strip(), "%I:%M %p on %d %B, %Y")
    return dt.replace(tzinfo=timezone.utc).timestamp()


def sessions(conv: dict[str, Any]) -> list[tuple[int, float, list[dict[str, Any]]]]:
    c = conv["conversation"]
    nums = sorted(int(k.split("_")[1]) for k in c if re.fullmatch(r"session_\d+", k))
    return [(n, session_time(c[f"session_{n}_date_time"]), c[f"session_{n}"]) for n in nums
            if c.get(f"session_{n}")]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def replay(conv: dict[str, Any], store: MemoryStore, scope: Scope, clock: Clock) -> int:
    """Replay every session through the pipeline; write each session's turns on close."""
    calls = 0
    for num, start, turns in sessions(conv):
        clock.now = start
        pairs = [(turns[i], turns[i + 1] if i + 1 < len(turns) else None)
                 for i in range(0, len(turns), 2)]
        replies = iter([turn_text(b) if b else "" for _, b in pairs])
        sess = scope.with_session(f"session_{num}")
        pipe = ContextPipeline(
            FunctionBackend(lambda draft, it=replies: next(it), model=MODEL),
            layers=[Prefix(system=SYSTEM), Memory(store, scope=sess), History(),
                    Recall(store, scope=sess, k=5)],
            session_id=f"{conv['sample_id']}-s{num}")
        for a, _ in pairs:
            pipe.run(turn_text(a))
            calls += 1
            clock.now += 30
        refs = [t["dia_id"] for t in turns]
        texts = [b for b in pipe.session.transcript if b.kind == "text"]
        refs_by_block = [refs[i] if i < len(refs) else None for i in range(len(texts))]
        MemoryWriter(store, sess).compacted(texts, refs=refs_by_block)
    return calls


class CachedEmbedder:
    """The eval's embedder with a memo: the dense baseline embeds the same turns and
    questions the store does, once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.memo: dict[str, Any] = {}

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            for t, v in zip(todo, self.inner.embed(todo), strict=True):
                self.memo[t] = np.asarray(v, dtype=np.float32)
        return np.stack([self.memo[t] for t in texts]) if texts else \
            np.zeros((0, self.dim), dtype=np.float32)


class RecentTurns:
    """Baseline layer: the conversation's turns, newest preferred, as flexible blocks."""

    name = "recent"

    def __init__(self, conv: dict[str, Any]) -> None:
        self.blocks = []
        all_turns = [(start, t) for _, start, turns in sessions(conv) for t in turns]
        for i, (start, t) in enumerate(all_turns):
            day = time.strftime("%Y-%m-%d", time.gmtime(start))
            self.blocks.append(Block(layer=self.name, role="user",
                                     content=f"[{day}] {turn_text(t)}", key=t["dia_id"],
                                     score=float(i), must_keep=False,
                                     provenance=Provenance(source="memory", ref=t["dia_id"])))

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        return draft.extend(self.blocks)


class BM25Turns:
    """Baseline layer: every turn of the conversation scored by BM25 against the question
    (``rank_bm25``, as a user would wire it), as flexible blocks the budget step packs —
    retrieval over the raw transcript without ctxkit's memory store."""

    name = "bm25"

    def __init__(self, conv: dict[str, Any]) -> None:
        from rank_bm25 import BM25Okapi

        self.blocks = RecentTurns(conv).blocks
        self.bm25 = BM25Okapi([_words(b.content) for b in self.blocks])

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        scores = self.bm25.get_scores(_words(turn.message or ""))
        return draft.extend(b.replace(layer=self.name, score=float(s))
                            for b, s in zip(self.blocks, scores, strict=True) if s > 0)


class DenseTurns:
    """Baseline layer: every turn embedded with the same embedder as the store, scored by
    cosine against the question, the best packed — a plain vector search over the
    transcript, as a user would wire it without ctxkit's memory."""

    name = "dense"

    def __init__(self, conv: dict[str, Any], embedder: Any) -> None:
        import numpy as np

        self.embedder = embedder
        self.blocks = RecentTurns(conv).blocks
        texts = [turn_text(t) for _, _, turns in sessions(conv) for t in turns]
        vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
        self.vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        import numpy as np

        q = np.asarray(self.embedder.embed([turn.message or ""])[0], dtype=np.float32)
        sims = self.vecs @ (q / max(float(np.linalg.norm(q)), 1e-9))
        return draft.extend(b.replace(layer=self.name, score=float(max(s, 0.0)) + 1e-6)
                            for b, s in zip(self.blocks, sims.tolist(), strict=True))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def present(draft: Draft, layer: str, ref_of: dict[str, str]) -> set[str]:
    out = set()
    for b in draft.blocks:
        if b.layer == layer and b.provenance and b.provenance.ref:
            ref = ref_of.get(b.provenance.ref, b.provenance.ref)
            out.add(ref)
    return out


def evaluate(conv: dict[str, Any], embedder: Any, budgets: list[int], k: int,
             workdir: Path) -> dict[str, Any]:
    clock = Clock()
    cid = conv["sample_id"]
    store = MemoryStore(f"sqlite:///{workdir / cid}.db", vectors=workdir / f"{cid}.vectors",
                        embedder=embedder, clock=clock)
    scope = Scope(tenant="locomo", user=cid)
    t0 = time.perf_counter()
    calls = replay(conv, store, scope, clock)
    clock.now += 86_400
    store.flush()
    replay_s = time.perf_counter() - t0
    ref_of = {r.id: str(r.source_ref) for r in store.list(scope, actor="eval")}
    baseline = RecentTurns(conv)
    bm25 = BM25Turns(conv)
    vec = DenseTurns(conv, embedder)
    rows: list[dict[str, Any]] = []
    t1 = time.perf_counter()
    for qi, qa in enumerate(conv["qa"]):
        gold = evidence_ids(qa.get("evidence", []))
        if not gold:
            continue
        row: dict[str, Any] = {"category": qa["category"], "gold": len(gold)}
        for n in budgets:
            budget = Budget(max_prompt=n, reserve_output=0)
            qscope = scope.with_session(f"q{qi}")
            mem = ContextPipeline(FunctionBackend(lambda d: "", model=MODEL),
                                  layers=[Prefix(system=SYSTEM), Memory(store, scope=qscope),
                                          History(), Recall(store, scope=qscope, k=k)],
                                  budget=budget)
            draft = mem.assemble(qa["question"])
            base = ContextPipeline(FunctionBackend(lambda d: "", model=MODEL),
                                   layers=[Prefix(system=SYSTEM), baseline, History()],
                                   budget=budget).assemble(qa["question"])
            lex = ContextPipeline(FunctionBackend(lambda d: "", model=MODEL),
                                  layers=[Prefix(system=SYSTEM), History(), bm25],
                                  budget=budget).assemble(qa["question"])
            dense = ContextPipeline(FunctionBackend(lambda d: "", model=MODEL),
                                    layers=[Prefix(system=SYSTEM), History(), vec],
                                    budget=budget).assemble(qa["question"])
            got_d = present(dense, "dense", ref_of) & gold
            row[f"dense@{n}"] = len(got_d) / len(gold)
            got_m = present(draft, "recall", ref_of) & gold
            got_b = present(base, "recent", ref_of) & gold
            got_x = present(lex, "bm25", ref_of) & gold
            row[f"memory@{n}"] = len(got_m) / len(gold)
            row[f"bm25@{n}"] = len(got_x) / len(gold)
            row[f"recent@{n}"] = len(got_b) / len(gold)
            row[f"tokens_bm25@{n}"] = lex.num_tokens
            row[f"tokens_memory@{n}"] = draft.num_tokens
            row[f"tokens_recent@{n}"] = base.num_tokens
        rows.append(row)
    store.close()
    return {"conversation": cid, "calls": calls, "records": len(ref_of), "replay_s": replay_s,
            "questions_s": time.perf_counter() - t1, "rows": rows}


def summarize(rows: list[dict[str, Any]], budgets: list[int]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[CATEGORIES[r["category"]]].append(r)
        groups["overall"].append(r)
    out: dict[str, Any] = {}
    for name, rs in groups.items():
        entry: dict[str, Any] = {"questions": len(rs)}
        for n in budgets:
            for side in SIDES:
                vals = [r[f"{side}@{n}"] for r in rs]
                entry[f"{side}@{n}"] = round(sum(vals) / len(vals), 4)
                entry[f"{side}_all@{n}"] = round(sum(v == 1.0 for v in vals) / len(vals), 4)
        out[name] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", default=",".join(DEV),
                    help="comma-separated sample ids (default: the dev split)")
    ap.add_argument("--budget", default="2000,4000,8000", help="prompt budgets in tokens")
    ap.add_argument("--data", type=Path, default=default_data(),
                    help="the evaldata folder (default: <repo>/../shared/evaldata)")
    ap.add_argument("--embedder", choices=["minilm", "hashing"], default="minilm")
    ap.add_argument("--k", type=int, default=0, help="recall hits proposed (0: budget/25)")
    ap.add_argument("--json", action="store_true", help="JSON summary on the last line")
    args = ap.parse_args(argv)
    path = args.data / "locomo" / "locomo10.json"
    if not path.exists():
        print(f"LoCoMo not found at {path}; pass --data PATH", file=sys.stderr)
        return 2
    data = {c["sample_id"]: c for c in json.loads(path.read_text())}
    ids = [c.strip() for c in args.conversations.split(",") if c.strip()]
    unknown = [c for c in ids if c not in data]
    if unknown:
        print(f"unknown conversations {unknown}; have {sorted(data)}", file=sys.stderr)
        return 2
    if any(c not in DEV for c in ids):
        print("note: conversations outside the dev split are for release measurement; do "
              "not tune on them", file=sys.stderr)
    budgets = [int(b) for b in args.budget.split(",")]
    k = args.k or max(budgets) // 25
    if args.embedder == "minilm":
        from ctxkit.embeddings import default_embedder

        embedder: Any = CachedEmbedder(default_embedder())
    else:
        embedder = CachedEmbedder(HashingEmbedder(256))
    rows: list[dict[str, Any]] = []
    per_conv = {}
    with tempfile.TemporaryDirectory(prefix="ctxkit-locomo-") as tmp:
        for cid in ids:
            res = evaluate(data[cid], embedder, budgets, k, Path(tmp))
            rows += res["rows"]
            per_conv[cid] = {"questions": len(res["rows"]), "calls": res["calls"],
                             "records": res["records"], "replay_s": round(res["replay_s"], 1),
                             "questions_s": round(res["questions_s"], 1),
                             **summarize(res["rows"], budgets)["overall"]}
            print(f"{cid}: {per_conv[cid]}", file=sys.stderr)
    summary = {"conversations": ids, "budgets": budgets, "embedder": embedder.name, "k": k,
               "by_category": summarize(rows, budgets), "by_conversation": per_conv}
    for n in budgets:
        print(f"budget {n} tokens: share of evidence present (all evidence present)")
        print(f"{'category':12} {'n':>4}  " + "  ".join(f"{s:>15}" for s in SIDES))
        for name in ("single-hop", "multi-hop", "temporal", "open-domain", "adversarial",
                     "overall"):
            e = summary["by_category"].get(name)
            if e is None:
                continue
            print(f"{name:12} {e['questions']:>4}  " + "  ".join(
                f"{e[f'{s}@{n}']:>7.3f} ({e[f'{s}_all@{n}']:.3f})" for s in SIDES))
    print("memory: ctxkit's Recall; bm25: BM25 over the conversation's turns (rank_bm25); "
          "dense: cosine over the turns with the same embedder; recent: the newest turns "
          "that fit (a floor); each packed under the same budget")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
