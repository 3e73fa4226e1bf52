"""``arun`` never blocks its event loop: a model-written compaction summary is awaited."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ctxkit import ContextPipeline, Draft
from ctxkit.compaction import ChainedCompactor, Compactor, ContextEditor, LLMSummarizer, Manual
from ctxkit.layers import History, Prefix
from ctxkit.testing import FunctionBackend

from .agent import SYSTEM, agent, read_file, run_tests

SUMMARY = {"facts": ["src/mod_1.py defines helper_0..29"], "decisions": [],
           "open_questions": [], "failed_attempts": []}


def test_arun_keeps_the_loop_free_while_a_slow_backend_summarizes() -> None:
    """The summary call waits until a task running beside ``arun`` has ticked: if the
    summary blocked the loop (the sync path), the ticker could never run and the summary
    would time out."""

    async def main() -> tuple[int, int, LLMSummarizer, ContextPipeline]:
        gate = asyncio.Event()
        ticks = 0
        ticks_when_summarized = -1

        async def model(draft: Draft) -> Any:
            nonlocal ticks_when_summarized
            if draft.blocks[-1].key == "compaction:instruction":
                await asyncio.wait_for(gate.wait(), timeout=10)  # a slow backend
                ticks_when_summarized = ticks
                return json.dumps(SUMMARY)
            return agent(draft)

        backend = FunctionBackend(model)  # async: its sync complete() refuses to run
        manual = Manual()
        summarizer = LLMSummarizer(backend)
        compactor = ChainedCompactor(ContextEditor(), Compactor(manual, keep_turns=1,
                                                                summarizer=summarizer))
        pipe = ContextPipeline(backend, [Prefix(system=SYSTEM, tools=[read_file, run_tests]),
                                         History(compactor=compactor)])
        for i in range(3):
            await pipe.arun(f"look at module {i}")
        manual.request()

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                if ticks == 5:
                    gate.set()
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await pipe.arun("look at module 5")
        task.cancel()
        return ticks_when_summarized, ticks, summarizer, pipe

    at_summary, ticks, summarizer, pipe = asyncio.run(main())
    assert at_summary >= 5 and ticks >= at_summary  # the ticker ran while it summarized
    assert summarizer.failures == 0 and len(summarizer.calls) == 1
    assert "- src/mod_1.py defines helper_0..29" in pipe.session.transcript[1].content
