"""Levers the long-session eval tuned: a milestone waits for a fuller prompt, and the
extractive summary keeps what the agent concluded about named artifacts."""

from __future__ import annotations

import pytest

from ctxkit import Block, UserError
from ctxkit.compaction import Compactor, ExtractiveSummarizer, Milestone, SummaryRequest

from .agent import make


def test_a_milestone_waits_until_the_prompt_fills_min_fill_of_the_budget() -> None:
    lazy, eager = Milestone(min_turns=1, min_fill=0.9), Milestone(min_turns=1)
    runs = []
    for policy in (lazy, eager):
        compactor = Compactor(policy, keep_turns=1)
        pipe, _ = make(compactor)
        for i in range(4):
            pipe.run(f"look at module {i}")
        policy.reached("tests green")
        pipe.run("look at module 4")
        runs.append(compactor)
    assert not runs[0].compactions  # the prompt is far below 90% of the window
    assert len(runs[1].compactions) == 1
    with pytest.raises(UserError, match="min_fill"):
        Milestone(min_fill=1.5)


def test_findings_name_artifacts_and_outlive_a_flood_of_tool_facts() -> None:
    blocks = [Block(layer="history", role="assistant",
                    content="Found it. The root cause: parse_span() drops the offset. "
                            "The module is src/lexer/_span.py; I need --strict-spans in CI.")]
    blocks += [Block(layer="history", role="tool", kind="tool_result", call_id=f"c{i}",
                     content=f"Module {i} defines Helper{i} with 12 fields and 3 Parsers.")
               for i in range(80)]
    s = ExtractiveSummarizer(max_facts=10).summarize(SummaryRequest(dropped=blocks))
    assert any("parse_span()" in f for f in s.findings)
    assert any("src/lexer/_span.py" in f and "--strict-spans" in f for f in s.findings)
    assert len(s.facts) == 10  # tool facts are capped; the findings are not crowded out
    trimmed = s.trimmed(25, lambda t: len(t.split()))
    assert trimmed.findings and not trimmed.facts  # facts go first when trimming
    assert trimmed.render().startswith("Findings:")
