"""The Retrieval layer in a real pipeline: candidates, packing under its cap, edges order,
query from plan step and error, and the CallRecord's retrieval log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

import ctxkit
from ctxkit import Budget, ContextPipeline, Draft, ToolCall, UserError
from ctxkit.layers import History, Prefix, Retrieval
from ctxkit.packing import KnapsackPacker, position
from ctxkit.retrieval import Index, LLMQueryRewriter, LLMReranker
from ctxkit.testing import FunctionBackend, ScriptedBackend


class Plan:
    class Step:
        def __init__(self, text: str, status: str) -> None:
            self.text, self.status = text, status

    def __init__(self) -> None:
        self.plan = [Plan.Step("read the guide", "done"),
                     Plan.Step("compute the retry backoff delay", "doing")]


@pytest.fixture
def index(make_index: Callable[..., Index], tree: Path) -> Index:
    ix = make_index()
    ix.add_paths([tree])
    return ix


def test_hits_become_untrusted_flexible_blocks_with_provenance(index: Index) -> None:
    pipe = ContextPipeline(ScriptedBackend(["ok"]),
                           [Prefix(system="Be brief."), History(), Retrieval(index, k=5)])
    draft = pipe.assemble("where is the section header parsed?")
    blocks = draft.of_layer("retrieval")
    assert blocks and all(b.must_keep is False and b.trust == "untrusted" for b in blocks)
    assert all(b.key.startswith("chunk:") and b.provenance is not None
               and b.provenance.source == "retrieval" for b in blocks)
    assert max(b.score or 0 for b in blocks) == 1.0
    best = max(blocks, key=lambda b: b.score or 0)
    assert "parse_header" in best.content and best.content.startswith("--- proj/src/")
    assert draft.blocks[-1].layer == "turn"  # the user's words come last


def test_the_best_evidence_sits_at_the_edges(index: Index) -> None:
    layer = Retrieval(index, k=6, min_score=0.0)
    pipe = ContextPipeline(ScriptedBackend(["ok"]), [Prefix(system="Be brief."), layer])
    scores = [b.score or 0.0 for b in pipe.assemble("parse header lines").of_layer("retrieval")]
    assert len(scores) >= 3
    ranked = sorted(scores, reverse=True)
    assert scores[0] == ranked[0] and scores[-1] == ranked[1]
    by_score = Retrieval(index, k=6, min_score=0.0, order="score")
    pipe2 = ContextPipeline(ScriptedBackend(["ok"]), [Prefix(system="Be brief."), by_score])
    s2 = [b.score or 0.0 for b in pipe2.assemble("parse header lines").of_layer("retrieval")]
    assert s2 == sorted(s2, reverse=True)


def test_the_layer_packs_under_its_cap(index: Index) -> None:
    pipe = ContextPipeline(ScriptedBackend(["ok"]),
                           [Prefix(system="Be brief."), Retrieval(index, k=10, min_score=0)],
                           budget=Budget(caps={"retrieval": 150}))
    draft = pipe.assemble("network connection")
    blocks = draft.of_layer("retrieval")
    assert blocks and sum(draft.tokens(b) for b in blocks) <= 150


def test_plan_step_and_error_shape_the_query(index: Index) -> None:
    layer = Retrieval(index, k=3, state=Plan())
    pipe = ContextPipeline(ScriptedBackend([ToolCall(id="c1", name="run_tests"), "ok"]),
                           [Prefix(system="Be brief."), History(), layer])
    pipe.run("keep going")
    err = ('Traceback (most recent call last):\n  File "src/network.py", line 9, in '
           'open_connection\nTimeoutError: timed out')
    from ctxkit import ToolResult

    draft = pipe.assemble(tool_results=[ToolResult(call_id="c1", content=err, is_error=True)])
    log = draft.notes["retrieval"](draft)["searches"][0]
    assert "Current step: compute the retry backoff delay" in log["rewritten"]
    assert "TimeoutError: timed out" in log["rewritten"]
    assert "open_connection" in log["lexical"] and "src/network.py" in log["lexical"]
    assert log["query"] == "keep going"  # the turn's message, found in the transcript
    ids = [b.key for b in draft.of_layer("retrieval")]
    assert "chunk:proj/src/network.py:4-8" in ids


def test_the_call_record_logs_query_ids_scores_packed_and_dropped(index: Index) -> None:
    packer = KnapsackPacker()
    pipe = ContextPipeline(ScriptedBackend(["ok"]),
                           [Prefix(system="Be brief."), Retrieval(index, k=8, min_score=0.5)],
                           budget=Budget(window=900, reserve_output=100), packer=packer)
    pipe.run("open a tcp connection with a timeout")
    log = pipe.records[-1].extras["retrieval"]["searches"][0]
    assert log["query"] == "open a tcp connection with a timeout"
    assert log["rewritten"] == "open a tcp connection with a timeout"
    hits = log["hits"]
    assert len(hits) == 8 and hits[0]["id"] == "proj/src/network.py:4-8"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    packed = [h for h in hits if h["packed"]]
    assert packed and all(h["position"] in ("start", "middle", "end") for h in packed)
    assert any(h["dropped"] == "below_threshold" for h in hits)
    assert all(h["dropped"] for h in hits if not h["packed"])
    kept_keys = {b.key for b in pipe.records[-1].blocks}
    assert {f"chunk:{h['id']}" for h in packed} <= kept_keys
    assert position(0, len(packed)) == "start"


def test_no_message_means_no_search(index: Index) -> None:
    layer = Retrieval(index)
    from ctxkit._types import Session, Turn

    pipe = ContextPipeline(ScriptedBackend([]), [layer])
    draft = pipe.assemble("x")
    empty = Turn(index=0, step=0, message=None, session=Session(id="s"))
    assert layer.query_for(empty) is None
    assert layer(draft, empty) is draft


def test_bad_arguments_are_refused(index: Index) -> None:
    with pytest.raises(UserError, match="Index"):
        Retrieval(object())
    with pytest.raises(UserError, match="order"):
        Retrieval(index, order="random")


def test_it_is_a_layer_whose_hits_the_pipelines_one_packer_chooses(index: Index) -> None:
    layer = Retrieval(index, k=10, min_score=0)
    assert isinstance(layer, ctxkit.Layer)
    packer = KnapsackPacker()
    pipe = ContextPipeline(ScriptedBackend(["ok"]), [Prefix(system="Be brief."), layer],
                           budget=Budget(caps={"retrieval": 150}), packer=packer)
    pipe.run("network connection")
    log = pipe.records[-1].extras["retrieval"]["searches"][0]
    assert packer.last is not None and log["method"] == packer.last.method
    assert {h["dropped"] for h in log["hits"] if not h["packed"]} <= {"budget", "too_large"}
    with pytest.raises(UserError, match="ContextPipeline\\(packer="):
        Retrieval(index, packer=KnapsackPacker())


def test_arun_awaits_the_llm_rewriter_and_reranker(index: Index) -> None:
    asked: list[str] = []

    async def model(draft: Draft) -> str:  # async: the sync path cannot call it
        await asyncio.sleep(0)
        prompt = draft.blocks[-1].content
        asked.append("rerank" if prompt.startswith("Query:") else "rewrite")
        return "[2] > [1]" if prompt.startswith("Query:") else "retry_backoff attempt"

    backend = FunctionBackend(model)
    index.reranker = LLMReranker(backend, max_candidates=3)
    layer = Retrieval(index, k=3, min_score=0, rewriter=LLMQueryRewriter(backend))
    pipe = ContextPipeline(FunctionBackend(lambda d: "ok"), [layer])
    asyncio.run(pipe.arun("how long do we wait between attempts?"))
    assert asked == ["rewrite", "rerank"]
    log = pipe.records[-1].extras["retrieval"]["searches"][0]
    assert "retry_backoff attempt" in log["rewritten"]


def test_a_dry_run_asks_no_model(index: Index) -> None:
    silent = ScriptedBackend([])  # answers nothing: a call would raise
    index.reranker = LLMReranker(silent)
    layer = Retrieval(index, k=3, min_score=0, rewriter=LLMQueryRewriter(silent))
    draft = ContextPipeline(ScriptedBackend([]), [layer]).assemble("parse header lines")
    assert draft.of_layer("retrieval")
