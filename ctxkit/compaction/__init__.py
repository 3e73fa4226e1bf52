"""Compaction: milestone-driven rewrites of the history that keep the cached prefix.

    from ctxkit.compaction import Compactor, Milestone, Threshold, MemoryStoreSink
    from ctxkit.layers import History

    compactor = Compactor([Milestone(state), Threshold(0.8)],
                          sink=MemoryStoreSink(store, scope), keep_turns=2)
    layers = [Prefix(...), History(compactor=compactor), State(state)]

A compaction writes the dropped turns to episodic memory first, then rewrites the session
once: a marker ("turns 12–31 compacted at milestone: plan step 2 done; episodic ids …"),
a structured summary (facts, decisions, open questions, failed attempts with errors) and
the kept turns. ``ContextEditor`` clears stale tool results and old thinking in place.
Policies (``Milestone``, ``Threshold``, ``Manual``) are objects; combine them in a list.
"""

from ._compactor import ChainedCompactor, Compaction, Compactor
from ._editing import PLACEHOLDER, ContextEditor
from ._llm import INSTRUCTION, LLMSummarizer, parse_summary
from ._policy import MILESTONES, Check, Manual, Milestone, Policy, Threshold
from ._sink import EpisodicSink, InMemorySink, MemoryStoreSink, Recaller
from ._summary import ExtractiveSummarizer, FailedAttempt, Summarizer, Summary, SummaryRequest

__all__ = ["ChainedCompactor", "Check", "Compaction", "Compactor", "ContextEditor",
    "EpisodicSink", "ExtractiveSummarizer", "FailedAttempt", "INSTRUCTION", "InMemorySink",
    "LLMSummarizer", "MILESTONES", "Manual", "MemoryStoreSink", "Milestone", "PLACEHOLDER",
    "Policy", "Recaller", "Summarizer", "Summary", "SummaryRequest", "Threshold", "parse_summary"]

from .._deprecated import aliases

__getattr__ = aliases(__name__, {"Chain": ("ctxkit.compaction.ChainedCompactor",
                                           ChainedCompactor)})
