"""Milestone compaction through the pipeline: one declared history rewrite, prefix kept."""

from __future__ import annotations

from pathlib import Path

import pytest

import ctxkit
from ctxkit import StoreError
from ctxkit.compaction import Compactor, InMemorySink, Manual, Milestone, Threshold
from ctxkit.testing import capture_calls

from .agent import make
from .wire import check_all


def test_milestone_compaction_is_one_declared_history_rewrite_with_the_prefix_kept() -> None:
    state = ctxkit.WorkingState(goal="fix the parser")
    state.set_plan(["reproduce", "fix", "test"])
    sink = InMemorySink()
    compactor = Compactor([Milestone(state), Threshold(0.9)], sink=sink, keep_turns=1)
    pipe, _ = make(compactor, state=state)
    with capture_calls() as cap:
        for i in range(5):
            pipe.run(f"look at module {i}")
        state.complete_step("1", why="reproduced")
        snapshot, version = state.model_dump(), state.version
        for i in range(5, 8):
            pipe.run(f"look at module {i}")
    records = cap.records
    compacting = [r for r in records if "compaction" in r.extras]
    assert len(compacting) == 1 and len(compactor.compactions) == 1
    assert len(pipe.session.rewrites) == 1
    rec = compacting[0]
    (event,) = rec.drift
    assert event.declared and event.layer == "history"
    prefix_len = sum(1 for b in cap.drafts[0].blocks if b.layer == "prefix")
    assert event.index == prefix_len  # the first history block: nothing before it moved
    assert all(not r.drift for r in records if r is not rec)  # every other call extends
    prefix = [[b.hash for b in d.blocks if b.layer == "prefix"] for d in cap.drafts]
    assert all(p == prefix[0] for p in prefix)  # byte-identical prefix on every call
    prefix_tokens = sum(b.tokens for b in rec.blocks if b.layer == "prefix")
    assert rec.usage.cache_read_tokens >= prefix_tokens  # the compaction call still reads it
    assert rec.extras["compaction"]["reason"] == "milestone: plan step 1 done"
    # the state was not touched by the compaction
    assert state.model_dump() == snapshot and state.version == version


def test_dropped_turns_reach_episodic_memory_before_they_leave_the_transcript() -> None:
    seen: list[bool] = []

    class WatchingSink(InMemorySink):
        def write_episodes(self, blocks, reason):  # type: ignore[no-untyped-def]
            seen.append(all(b in pipe.session.transcript for b in blocks))
            return super().write_episodes(blocks, reason)

    manual = Manual()
    sink = WatchingSink()
    pipe, _ = make(Compactor(manual, sink=sink, keep_turns=1))
    for i in range(4):
        pipe.run(f"look at module {i}")
    before = list(pipe.session.transcript)
    manual.request("before the refactor")
    pipe.run("look at module 9")
    assert seen == [True]
    stored = [e.block for e in sink.episodes]
    assert stored == before[:len(stored)] and stored  # the dropped turns, in order
    assert not any(b in pipe.session.transcript for b in stored)
    marker = pipe.session.transcript[0].content
    ids = [e.id for e in sink.episodes]
    assert marker.startswith("[turns 0–2 compacted at explicit: before the refactor; "
                             f"episodic ids {', '.join(ids[:6])}")
    assert f"({len(ids)} in all)" in marker


def test_a_failing_sink_leaves_the_transcript_as_it_was() -> None:
    class BrokenSink:
        def write_episodes(self, blocks, reason):  # type: ignore[no-untyped-def]
            raise StoreError("disk full")

    manual = Manual()
    pipe, _ = make(Compactor(manual, sink=BrokenSink(), keep_turns=1))
    for i in range(3):
        pipe.run(f"look at module {i}")
    before = list(pipe.session.transcript)
    manual.request()
    with pytest.raises(StoreError, match="disk full"):
        pipe.run("look at module 5")
    assert pipe.session.transcript == before and pipe.session.rewrites == []


def test_the_summary_keeps_failed_attempts_with_their_errors() -> None:
    manual = Manual()
    compactor = Compactor(manual, keep_turns=1)
    pipe, _ = make(compactor)
    for i in range(5):
        pipe.run(f"look at module {i}")
    manual.request()
    pipe.run("look at module 6")
    summary = compactor.compactions[0].summary
    errors = {a.error for a in summary.failed_attempts}
    assert "FileNotFoundError: No such file or directory: 'gone.missing'" in errors
    assert any("IndexError: list index out of range" in e for e in errors)
    assert any("gone.missing" in a.attempt for a in summary.failed_attempts)
    assert "I'll fix the empty-input case next." in summary.decisions
    text = pipe.session.transcript[1].content
    assert text.startswith("Summary of turns 0–3:") and "Failed attempts:" in text


@pytest.mark.parametrize("keep_turns", [0, 1, 2, 3])
def test_compaction_never_splits_a_call_from_its_result(keep_turns: int) -> None:
    manual = Manual()
    pipe, _ = make(Compactor(manual, keep_turns=keep_turns))
    with capture_calls() as cap:
        for i in range(7):
            if i in (3, 5, 6):
                manual.request(f"at {i}")
            pipe.run(f"look at module {i}")
    assert pipe.session.rewrites  # it did compact
    for draft in cap.drafts:  # every call, before and after each compaction
        check_all(draft)
    uses = {b.call_id for b in pipe.session.transcript if b.kind == "tool_use"}
    results = {b.call_id for b in pipe.session.transcript if b.kind == "tool_result"}
    assert uses == results


def test_threshold_compacts_when_the_prompt_grows_past_it() -> None:
    threshold = Threshold(tokens=4200)
    pipe, _ = make(Compactor(threshold, keep_turns=1))
    with capture_calls() as cap:
        for i in range(12):
            pipe.run(f"look at module {i}")
    assert len(pipe.session.rewrites) >= 2
    firsts = [r for r in cap.records if r.step == 0]
    assert max(r.usage.input_tokens for r in firsts) < 4200 + 1500  # one turn over, at most
    reasons = [r.extras["compaction"]["reason"] for r in cap.records if "compaction" in r.extras]
    assert all(x.startswith("token threshold") for x in reasons)


def test_a_second_compaction_folds_in_the_first() -> None:
    manual = Manual()
    compactor = Compactor(manual, keep_turns=1)
    pipe, _ = make(compactor)
    for i in range(8):
        if i in (3, 6):
            manual.request(f"checkpoint {i}")
        pipe.run(f"look at module {i}")
    first, second = compactor.compactions
    marker = pipe.session.transcript[0].content.splitlines()
    assert len(marker) == 2 and "checkpoint 3" in marker[0] and "checkpoint 6" in marker[1]
    assert set(first.summary.failed_attempts) <= set(second.summary.failed_attempts)
    assert "and earlier" in pipe.session.transcript[1].content


def test_a_dry_run_shows_the_compaction_but_writes_nothing() -> None:
    manual = Manual()
    sink = InMemorySink()
    pipe, _ = make(Compactor(manual, sink=sink, keep_turns=1))
    for i in range(4):
        pipe.run(f"look at module {i}")
    manual.request("preview")
    draft = pipe.assemble("look at module 8")
    history = [b for b in draft.blocks if b.layer == "history"]
    assert "episodic ids (pending)" in history[0].content
    assert sink.episodes == [] and pipe.session.rewrites == []
    pipe.run("look at module 8")  # the real call compacts, the request was not consumed
    assert sink.episodes and len(pipe.session.rewrites) == 1


def test_memory_store_sink_with_sqlite(tmp_path: Path) -> None:
    from ctxkit.compaction import MemoryStoreSink
    from ctxkit.memory import HashingEmbedder, MemoryStore, Scope

    store = MemoryStore(f"sqlite:///{tmp_path / 'm.db'}", embedder=HashingEmbedder())
    scope = Scope(tenant="acme", user="u1", session="s1")
    manual = Manual()
    pipe, _ = make(Compactor(manual, sink=MemoryStoreSink(store, scope), keep_turns=1))
    for i in range(4):
        pipe.run(f"look at module {i}")
    manual.request()
    pipe.run("look at module 7")
    records = store.list(scope, kinds=["turn"])
    assert records and all(r.source == "compaction" for r in records)
    marker = pipe.session.transcript[0].content
    named = marker.split("episodic ids ")[1].split(" …")[0].split(", ")
    assert len(named) == 6 and set(named) <= {r.id for r in records}  # the marker names them
    assert f"({len(records)} in all)" in marker
    hits = MemoryStoreSink(store, scope).recall("helper_12 src/mod_1.py", k=3)
    assert any("src/mod_1.py: line 12" in text for _, text in hits)
    store.close()


def test_the_marker_stays_short_over_many_compactions() -> None:
    manual = Manual()
    compactor = Compactor(manual, keep_turns=1)
    pipe, _ = make(compactor)
    for i in range(16):
        if i >= 2:
            manual.request(f"r{i}")
        pipe.run(f"look at module {i}")
    assert len(compactor.compactions) >= 10
    lines = pipe.session.transcript[0].content.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("[turns 0–") and "compacted earlier, in" in lines[0]
    assert lines[-1].startswith(f"[turn {compactor.compactions[-1].first_turn} compacted")


def test_one_long_tool_loop_is_compacted_by_steps() -> None:
    from ctxkit import ContextPipeline
    from ctxkit.layers import History, Prefix
    from ctxkit.testing import FunctionBackend

    from .agent import SYSTEM, read_file

    steps = iter(range(100))

    def loop(draft: ctxkit.Draft) -> object:
        n = next(steps)
        if n < 30:
            return {"text": f"step {n}", "tool_calls": [
                {"name": "read_file", "arguments": {"path": f"src/m{n}.py"}}]}
        return "all read"

    compactor = Compactor(Threshold(tokens=6000), keep_steps=2)
    pipe = ContextPipeline(FunctionBackend(loop), [Prefix(system=SYSTEM, tools=[read_file]),
                                                   History(compactor=compactor)], max_steps=40)
    with capture_calls() as cap:
        pipe.run("read every module")  # one user turn, 15 model calls
    assert len(compactor.compactions) >= 2  # the one turn was compacted step by step
    task, marker = pipe.session.transcript[:2]
    assert task.content == "read every module"  # the task stays, verbatim, in its place
    assert marker.content.startswith("[turn 0, steps ")
    assert max(r.usage.input_tokens for r in cap.records) < 6000 + 800
    for d in cap.drafts:
        check_all(d)
    compacting = [r for r in cap.records if "compaction" in r.extras]
    assert all(not r.drift for r in cap.records if "compaction" not in r.extras)
    # system, tool and the task stay cached through every compaction
    assert all(r.drift[0].index == 3 and r.drift[0].declared for r in compacting)
