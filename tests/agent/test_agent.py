"""The agent end to end on a sample repository, offline: the scripted stand-in drives the
real pipeline, real tools, real retrieval index and memory store. One session (module
fixture), many properties of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctxkit import Block, CallRecord, Draft
from ctxkit.layers import Prefix
from ctxkit.testing import (
    Captured,
    FunctionBackend,
    ScriptedBackend,
    assert_prefix_extends,
    capture_calls,
)
from examples.coding_agent import Agent, AgentConfig, Outcome
from examples.coding_agent.samples import SampleTask
from examples.coding_agent.standin import StandIn

from .conftest import fresh_copy, repo_tests

PREFERENCE = "Keep diffs minimal: change only the lines the fix needs."
ORDER = ["prefix", "memory", "history", "retrieval", "recall", "state", "turn"]


@dataclass
class Run:
    agent: Agent
    task: SampleTask
    repo: Path
    cap: Captured
    out: Outcome

    def parent(self) -> list[tuple[Draft, CallRecord]]:
        return [(d, r) for d, r in self.cap.calls if not r.extras.get("parent")]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("agent")
    repo, task = fresh_copy("ledger", root / "ledger")
    config = AgentConfig(repo=repo, home=root / "home", compact_min_tokens=1500,
                         embedding_cache=embedding_cache)
    agent = Agent.start(FunctionBackend(StandIn(task)), config, task.task)
    agent.remember(PREFERENCE)
    with capture_calls() as cap:
        out = agent.run()
    yield Run(agent, task, repo, cap, out)
    agent.close()


def _layers(draft: Draft) -> list[str]:
    return list(dict.fromkeys(b.layer for b in draft.blocks))


def _results(draft: Draft, name: str) -> list[Block]:
    return [b for b in draft.blocks if b.kind == "tool_result" and b.name == name]


def test_the_agent_fixes_the_bug_through_real_tools(run: Run) -> None:
    assert run.out.status == "done", run.out
    assert repo_tests(run.repo).returncode == 0
    assert run.task.fix.new in (run.repo / run.task.fix.path).read_text()
    assert "the whole suite passes" in run.out.text
    names = [c.name for r in run.agent.pipe.records if r.response
             for c in r.response.tool_calls]
    for tool in ("update_state", "run_tests", "grep", "search_tools", "call_tool",
                 "read_file", "delegate", "edit_file"):
        assert tool in names


def test_every_call_is_assembled_from_the_layers_in_prompt_order(run: Run) -> None:
    calls = run.parent()
    assert len(calls) >= 8
    for draft, _ in calls:
        layers = _layers(draft)
        assert layers == [x for x in ORDER if x in layers], layers
        assert {"prefix", "memory", "retrieval", "state"} <= set(layers)
    assert "turn" in _layers(calls[0][0]) and "history" not in _layers(calls[0][0])


def test_the_cached_prefix_never_changes_and_every_rewrite_is_declared(run: Run) -> None:
    calls = run.parent()
    heads = {tuple(b.hash for b in d.blocks if b.layer in ("prefix", "memory"))
             for d, _ in calls}
    assert len(heads) == 1
    assert all(e.declared for _, r in calls for e in r.drift)
    allow = [i for i, (_, r) in enumerate(calls) if r.drift]
    assert_prefix_extends([d for d, _ in calls], allow=allow)
    prefix = sum(b.tokens for b in calls[0][1].blocks if b.layer == "prefix")
    assert all(r.usage.cache_read_tokens >= prefix for _, r in calls[1:])


def test_tools_past_the_threshold_are_found_by_search_without_a_cache_miss(run: Run) -> None:
    search = run.agent.tool_search
    assert search is not None and "outline" in search.loaded
    draft, _ = run.parent()[-1]
    in_prefix = sorted(b.name or "" for b in draft.blocks if b.kind == "tool")
    assert in_prefix == sorted(["call_tool", "delegate", "edit_file", "grep", "list_dir",
                                "read_file", "run", "run_tests", "search_tools",
                                "update_state", "write_file"])
    found = _results(draft, "search_tools") or [
        b for d, _ in run.parent() for b in _results(d, "search_tools")]
    assert json.loads(found[0].content.splitlines()[0])["name"] == "outline"
    outline = [b for d, _ in run.parent() for b in _results(d, "call_tool")]
    assert outline and "def split(amount_cents: int, parts: int) -> list[int]" in \
        outline[0].content
    # the call right after the tool was loaded read the whole prefix from cache
    i = next(k for k, (d, _) in enumerate(run.parent()) if _results(d, "search_tools"))
    rec = run.parent()[i][1]
    assert not rec.drift and rec.usage.cache_read_tokens > rec.by_layer["prefix"].total - 1


def test_retrieval_never_shows_a_stale_chunk(run: Run) -> None:
    fix, path = run.task.fix, run.task.fix.path
    fixed_after = None
    for k, (draft, _) in enumerate(run.parent()):
        edits = [b for b in _results(draft, "edit_file") if "replaced 2 line(s)" in b.content]
        if edits and fixed_after is None:
            fixed_after = k
    assert fixed_after is not None
    old, new = fix.old.splitlines()[-1], fix.new.splitlines()[-1]
    chunks = [[b.content for b in d.blocks if b.layer == "retrieval"
               and b.key.startswith(f"chunk:{path}")] for d, _ in run.parent()]
    assert any(old in c for c in chunks[fixed_after - 1]), "the bug was retrieved before"
    assert any(new in c for c in chunks[fixed_after]), "the fix is retrieved right after"
    assert not any(old in c for cs in chunks[fixed_after:] for c in cs)
    assert run.agent.num_refreshes >= 3  # the wrong attempt, its undo, the fix
    assert run.agent.index is not None
    hit = run.agent.index.search("split amount into parts divmod", k=3)
    assert any(new in h.chunk.text for h in hit)


def test_milestone_compaction_keeps_the_prefix_and_the_state(run: Run) -> None:
    compacted = [(d, r) for d, r in run.parent() if r.extras.get("compaction")]
    assert compacted
    for draft, rec in compacted:
        info = rec.extras["compaction"]
        assert info["reason"].startswith("milestone")
        assert rec.drift and all(e.declared and e.layer == "history" for e in rec.drift)
        assert rec.usage.cache_read_tokens >= rec.by_layer["prefix"].total
        state = next(b.content for b in draft.blocks if b.layer == "state")
        assert "[x] 1. reproduce the failure" in state
        for rid in info["episodic_ids"][:3]:
            assert run.agent.store.get(run.agent.user_scope, rid).kind == "turn"


def test_a_subagent_returns_its_summary_and_nothing_else(run: Run) -> None:
    child = [(d, r) for d, r in run.cap.calls if r.extras.get("parent")]
    assert len(child) == 2
    child_ids = {c.id for _, r in child if r.response for c in r.response.tool_calls}
    parent_ids = {b.call_id for d, _ in run.parent() for b in d.blocks if b.call_id}
    assert child_ids and not child_ids & parent_ids
    report = next(b.content for d, _ in run.parent() for b in _results(d, "delegate"))
    assert report.startswith("Definition:\n- ledger/money.py:13: def split(")
    assert "ledger/bill.py:12: shares = split(total_cents, len(people))" in report
    assert any(c.startswith("subtask: Find every caller of `split`")
               for c in run.agent.state.completed)


def test_failed_attempts_are_kept_in_episodic_memory_with_their_errors(run: Run) -> None:
    recs = run.agent.store.list(run.agent.repo_scope, kinds=["failed_attempt"])
    assert len(recs) == 2  # the reproduction and the wrong first fix
    assert all(r.trust == "untrusted" and r.source == "tool" for r in recs)
    assert "assert 99 == 100" in recs[1].content
    results = {b.content for d, _ in run.parent() for b in d.blocks if b.kind == "tool_result"}
    assert {r.content for r in recs} <= results


def test_the_users_preference_sits_in_the_cached_session_memory(run: Run) -> None:
    for draft, _ in run.parent():
        memory = [b for b in draft.blocks if b.layer == "memory"]
        assert any(PREFERENCE in b.content for b in memory)
        assert memory[-1].cache == "5m"
    last = run.parent()[-1][1]
    assert last.by_layer["memory"].read == last.by_layer["memory"].total


def test_tool_results_are_canonical(run: Run) -> None:
    for draft, _ in run.parent():
        for b in draft.blocks:
            if b.kind == "tool_result":
                assert str(run.repo) not in b.content
                assert " passed in " not in b.content and "\x1b[" not in b.content


def test_the_report_shows_every_layer_and_writes_html(run: Run, tmp_path: Path) -> None:
    report = run.agent.pipe.report().to_dict()
    assert report["calls"] == len(run.agent.pipe.records)
    assert {"prefix", "memory", "history", "retrieval", "state"} <= set(report["by_layer"])
    html = tmp_path / "r.html"
    run.agent.pipe.report().to_html(str(html), title="agent")
    assert "retrieval" in html.read_text(encoding="utf-8")


@pytest.mark.moves_prefix("the counterfactual: a loaded tool added to the Prefix instead")
def test_adding_a_found_tool_to_the_prefix_instead_would_miss_the_cache(tmp_path: Path) -> None:
    repo, task = fresh_copy("lru", tmp_path / "lru")
    config = AgentConfig(repo=repo, home=tmp_path / "home", retrieval=False)
    agent = Agent.start(ScriptedBackend(["first answer", "second answer"]), config, task.task)
    try:
        agent.run("look around")
        old = agent.prefix
        agent.pipe.layers[0] = Prefix(system=old.system,
                                      tools=[*old.functions.values(), agent.tools.outline],
                                      project=old.project, root=repo)
        agent.run("and now?")
    finally:
        agent.close()
    first, second = agent.pipe.records
    assert first.usage.cache_read_tokens == 0 and not first.drift
    (event,) = second.drift
    assert event.layer == "prefix" and not event.declared and "tool" in event.key
    assert second.usage.cache_read_tokens == 0  # everything cached before was lost
