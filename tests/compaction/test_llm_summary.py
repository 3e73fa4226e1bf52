"""The model-written summary reads the same cached prefix the agent's last call wrote."""

from __future__ import annotations

import json
from typing import Any

from ctxkit import ContextPipeline, Draft
from ctxkit.compaction import Compactor, LLMSummarizer, Manual, parse_summary
from ctxkit.layers import History, Prefix
from ctxkit.testing import FunctionBackend, capture_calls

from .agent import SYSTEM, agent, read_file, run_tests

SUMMARY = {"facts": ["src/mod_1.py defines helper_0..29"],
           "decisions": ["fix the empty-input case"], "open_questions": ["is None allowed?"],
           "failed_attempts": [{"attempt": "run_tests(1)", "error": "IndexError"}]}


def _pipe(reply: str) -> tuple[ContextPipeline, Manual, list[Draft], LLMSummarizer]:
    seen: list[Draft] = []

    def model(draft: Draft) -> Any:
        if draft.blocks[-1].key == "compaction:instruction":
            seen.append(draft)
            return reply
        return agent(draft)

    backend = FunctionBackend(model)
    manual = Manual()
    summarizer = LLMSummarizer(backend)
    pipe = ContextPipeline(backend, [Prefix(system=SYSTEM, tools=[read_file, run_tests]),
                                     History(compactor=Compactor(manual, keep_turns=1,
                                                                 summarizer=summarizer))])
    return pipe, manual, seen, summarizer


def test_the_summary_call_starts_with_the_last_calls_cached_region() -> None:
    pipe, manual, seen, summarizer = _pipe(f"Here you go:\n{json.dumps(SUMMARY)}")
    with capture_calls() as cap:
        for i in range(3):
            pipe.run(f"look at module {i}")
        manual.request()
        pipe.run("look at module 5")
    (request,) = seen
    k = next(i for i, r in enumerate(cap.records) if "compaction" in r.extras)
    last = cap.drafts[k - 1]  # the agent's call before the compacting one
    cached = last.blocks[:last.stable_end]
    assert [b.hash for b in request.blocks[:len(cached)]] == [b.hash for b in cached]
    # after it: only what the history gained since (the last reply), then the instruction
    assert [b.layer for b in request.blocks[len(cached):]] == ["history", "turn"]
    assert request.breakpoints[-1].index == len(request.blocks) - 2  # the moving breakpoint
    assert summarizer.failures == 0 and len(summarizer.calls) == 1
    summary_block = pipe.session.transcript[1].content
    assert "- src/mod_1.py defines helper_0..29" in summary_block
    assert "- run_tests(1) -> IndexError" in summary_block
    assert cap.records[k].extras["compaction"]["summary"]["decisions"] == [
        "fix the empty-input case"]


def test_an_unusable_reply_falls_back_to_the_extractive_summary() -> None:
    pipe, manual, _, summarizer = _pipe("I cannot summarize that.")
    for i in range(3):
        pipe.run(f"look at module {i}")
    manual.request()
    pipe.run("look at module 5")
    assert summarizer.failures == 1
    assert "Failed attempts:" in pipe.session.transcript[1].content


def test_parse_summary_accepts_loose_shapes_and_rejects_garbage() -> None:
    s = parse_summary('```json\n{"facts": ["a", 2], "failed_attempts": ["tried x"]}\n```')
    assert s is not None and s.facts == ["a", "2"]
    assert s.failed_attempts[0].attempt == "tried x"
    assert parse_summary("no json here") is None
    assert parse_summary('{"facts": ') is None
