"""One name per concept: every subpackage's ``__all__`` is pinned, and no public name means
two different objects in two namespaces. Renamed names warn once for one release."""

from __future__ import annotations

import importlib
import warnings

import pytest

import ctxkit

PINNED = {
    "ctxkit.audit": ["AuditReport", "CATEGORIES", "CacheKiller", "CallFigures", "DEFAULT_MODEL",
        "Duplicate", "FORMATS", "LayoutEstimate", "MeasuredTotals", "MeasuredUsage",
        "RecordedCall", "RecordedSession", "SessionAssignment", "SessionAudit", "SessionAuditor",
        "SessionSplitter", "audit", "audit_session", "discover", "load"],
    "ctxkit.backends": ["Anthropic", "Local", "OpenAI", "ProviderError", "Replay", "RetryPolicy",
        "TokenBudget"],
    "ctxkit.canonical": ["Canonicalizer", "DEFAULT", "Numbering", "REFERENCE_PREFIX", "Rule",
        "canonicalize"],
    "ctxkit.compaction": ["ChainedCompactor", "Check", "Compaction", "Compactor", "ContextEditor",
        "EpisodicSink", "ExtractiveSummarizer", "FailedAttempt", "INSTRUCTION", "InMemorySink",
        "LLMSummarizer", "MILESTONES", "Manual", "MemoryStoreSink", "Milestone", "PLACEHOLDER",
        "Policy", "Recaller", "Summarizer", "Summary", "SummaryRequest", "Threshold",
        "parse_summary"],
    "ctxkit.demo": ["LIVE_MODELS", "SYSTEM", "StandInAgent", "TURNS", "choose_backend",
        "make_backend", "run", "sample_repo"],
    "ctxkit.engine": ["Batch", "BlockManager", "Config", "LLM", "ModelConfig", "RequestOutput",
        "SamplingParams", "Scheduler", "Sequence", "SequenceStatus"],
    "ctxkit.layers": ["History", "Memory", "Prefix", "Recall", "Retrieval", "State"],
    "ctxkit.memory": ["AuditEntry", "Consolidation", "ExtractedFact", "HashingEmbedder",
        "LLMDecomposer", "MemoryHit", "MemoryLink", "MemoryRecord", "MemoryStore", "MemoryView",
        "MemoryWriter", "ModelExtractor", "QueryParts", "RecallParams", "Redaction", "Scope",
        "SearchParams", "decompose", "explicit_mark", "extractive_summary", "fence", "redact",
        "rule_extractor"],
    "ctxkit.packing": ["Candidate", "GreedyPacker", "KnapsackPacker", "Packer", "Packing",
        "edges_order", "jaccard", "position", "shingles", "solve_exact", "solve_greedy"],
    "ctxkit.proxy": ["Proxy", "ProxyConfig", "serve"],
    "ctxkit.report": ["Report", "calls_table", "drift_view", "layer_order", "layers_table",
        "tool_line", "turn_summary", "turn_view"],
    "ctxkit.retrieval": ["Analyzer", "ChainedReranker", "Chunk", "ChunkConfig",
        "CrossEncoderReranker", "EmbeddingReranker", "Index", "IndexReport", "LLMQueryRewriter",
        "LLMReranker", "MMR", "Query", "QueryRewriter", "Reranker", "SearchHit", "Shortlist",
        "Span", "chunk_text", "extract_identifiers", "kind_for", "rewrite_query", "rrf"],
    "ctxkit.state": ["Checkpointer", "Fact", "FileCheckpoint", "FileRef", "MemoryCheckpoint",
        "PatchOp", "PlanStep", "Resumed", "StateDiff", "StatePatchError", "TOOL_NAME", "ToolNote",
        "WorkingState", "make_update_tool"],
    "ctxkit.testing": ["Captured", "FunctionBackend", "ScriptedBackend", "as_response",
        "assert_prefix_extends", "capture_calls"],
    "ctxkit.tools": ["CommandRefused", "RepoTools", "ToolError", "canonical_output",
        "plain_lines", "run_process", "scrubbed_env", "tests_passed", "tool_schema"],
}


@pytest.mark.parametrize("module", sorted(PINNED))
def test_subpackage_all_is_pinned_and_sorted(module: str) -> None:
    mod = importlib.import_module(module)
    assert list(mod.__all__) == sorted(mod.__all__), f"{module}.__all__ must be sorted"
    assert list(mod.__all__) == PINNED[module], (
        f"{module}.__all__ changed; if that is intended, update PINNED in this test")
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"


def _public() -> dict[str, list[tuple[str, object]]]:
    seen: dict[str, list[tuple[str, object]]] = {}
    for module in ["ctxkit", *PINNED]:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            seen.setdefault(name, []).append((module, getattr(mod, name)))
    return seen


def test_no_public_name_means_two_objects() -> None:
    clashes = {name: [m for m, _ in where] for name, where in _public().items()
               if len({id(obj) for _, obj in where}) > 1}
    assert not clashes, f"one name, several objects: {clashes}; give each a kind suffix"


def test_the_clash_check_sees_a_clash() -> None:
    # the layer and the model both named State would be a clash; only the layer keeps it
    assert ctxkit.layers.State is not ctxkit.WorkingState
    assert "State" not in ctxkit.__all__ and "State" in ctxkit.layers.__all__


@pytest.mark.parametrize(("module", "old", "new"), [
    ("ctxkit", "State", "WorkingState"),
    ("ctxkit.state", "State", "WorkingState"),
    ("ctxkit.retrieval", "Hit", "SearchHit"),
    ("ctxkit.retrieval", "Chain", "ChainedReranker"),
    ("ctxkit.compaction", "Chain", "ChainedCompactor"),
    ("ctxkit.memory", "Hit", "MemoryHit"),
    ("ctxkit.memory", "Fact", "ExtractedFact"),
    ("ctxkit.packing", "Item", "Candidate"),
])
def test_renamed_names_warn_once_and_are_the_new_object(module: str, old: str, new: str) -> None:
    from ctxkit import _deprecated

    _deprecated._warned.discard(f"{module}.{old}")
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=new):
        first = getattr(mod, old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = getattr(mod, old)
    assert first is second is getattr(mod, new)
