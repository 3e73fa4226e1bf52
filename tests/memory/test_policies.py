"""Write policies: write-through of tool results, write-on-salience, write-on-close,
write-on-compaction; nothing is written unconditionally."""

from __future__ import annotations

from ctxkit import Block, ContextPipeline, Provenance, ToolCall
from ctxkit.layers import History, Prefix
from ctxkit.memory import MemoryWriter
from ctxkit.testing import ScriptedBackend


def run_tests(path: str) -> str:
    """Run the test suite at path."""
    return f"FAILED {path}::test_empty - AssertionError"


def _session(replies, messages):
    pipe = ContextPipeline(ScriptedBackend(replies),
                           layers=[Prefix(system="agent", tools=[run_tests]), History()])
    for m in messages:
        pipe.run(m)
    return pipe.session


def test_plain_turns_are_not_written(store, scope):
    session = _session(["sure", "ok"], ["hello there", "what is the weather like?"])
    writer = MemoryWriter(store, scope)
    assert writer.observe(session) == []
    assert store.list(scope) == []


def test_tool_results_are_written_through_untrusted_with_their_call(store, scope):
    call = ToolCall(id="c1", name="run_tests", arguments={"path": "tests/parser"})
    session = _session([[call], "the parser test fails"], ["run the parser tests"])
    writer = MemoryWriter(store, scope)
    ids = writer.observe(session)
    assert len(ids) == 1
    rec = store.get(scope, ids[0])
    assert rec.kind == "tool_result" and rec.source == "tool" and rec.trust == "untrusted"
    assert rec.source_ref == "run_tests" and rec.meta["call_id"] == "c1"
    assert '{"path":"tests/parser"}' in rec.content and "FAILED" in rec.content
    assert writer.observe(session) == []  # each block once


def test_explicit_marks_and_a_pluggable_classifier(store, scope):
    session = _session(["noted", "ok", "ok"], [
        "remember: the staging db is read-only on weekends",
        "what time is it",
        "URGENT the deploy key expires friday"])
    marked = MemoryWriter(store, scope, tool_results=False).observe(session)
    assert [store.get(scope, i).content for i in marked] == \
        ["the staging db is read-only on weekends"]
    assert store.get(scope, marked[0]).meta["salient"] is True
    other = scope.with_session("s2")
    urgent = MemoryWriter(store, other, tool_results=False, threshold=0.8,
                          salience=lambda b: 0.9 if "URGENT" in b.content else 0.1)
    got = urgent.observe(session)
    assert [store.get(scope, i).content for i in got] == ["URGENT the deploy key expires friday"]


def test_salient_notes_consolidate_into_semantic_memory(store, scope, clock):
    session = _session(["noted"], ["remember that I prefer pytest over unittest"])
    MemoryWriter(store, scope).observe(session)
    clock.tick()
    report = store.consolidate(scope)
    assert [store.get(scope, i).content for i in report.promoted] == \
        ["I prefer pytest over unittest"]


def test_close_writes_a_summary_derived_from_the_session(store, scope, clock):
    call = ToolCall(id="c9", name="run_tests", arguments={"path": "tests"})
    session = _session([[call], "fixed", "bye"],
                       ["Please fix the failing parser test. It broke yesterday.", "thanks"])
    writer = MemoryWriter(store, scope)
    summary_id = writer.close(session)
    rec = store.get(scope, summary_id)
    assert rec.kind == "summary" and rec.source_ref == f"session:{session.id}"
    assert "Please fix the failing parser test." in rec.content
    assert "run_tests x1" in rec.content
    tool_rec = next(r for r in store.list(scope) if r.kind == "tool_result")
    assert rec.derived_from == (tool_rec.id,)
    clock.tick()
    assert store.revoke(scope, [tool_rec.id], reason="poisoned") == [tool_rec.id, summary_id]


def test_write_on_compaction_keeps_trust_and_refs(store, scope):
    blocks = [
        Block(layer="history", role="user", content="let's rename the module",
              key="turn:3:user", provenance=Provenance(source="user")),
        Block(layer="history", role="tool", kind="tool_result", call_id="c3", name="grep",
              content="12 matches", trust="untrusted", key="result:c3",
              provenance=Provenance(source="tool", ref="grep")),
        Block(layer="history", role="assistant", content="", key="turn:3:0:assistant"),
    ]
    writer = MemoryWriter(store, scope)
    ids = writer.compacted(blocks, ref=None)
    assert ids[2] == "" and all(ids[:2])
    user, tool = store.get(scope, ids[0]), store.get(scope, ids[1])
    assert (user.source, user.trust, user.source_ref) == ("compaction", "trusted", "turn:3:user")
    assert (tool.trust, tool.source_ref, tool.meta["tool"]) == ("untrusted", "grep", "grep")
    assert store.write_episodes(scope, blocks) == ids  # deduped: same records
