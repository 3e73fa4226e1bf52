"""Subagents: a scoped child pipeline; only its final summary returns to the parent."""

from __future__ import annotations

import asyncio

import ctxkit
from ctxkit import ContextPipeline
from ctxkit.compaction import Compactor, Milestone
from ctxkit.layers import History, Prefix
from ctxkit.layers import State as StateLayer
from ctxkit.testing import ScriptedBackend, capture_calls
from tests.helpers import LONG_SYSTEM, grep, read_file

CHILD_SCRIPT = [{"tool_calls": [{"id": "k1", "name": "grep", "arguments": {"pattern": "parse"}}]},
                {"tool_calls": [{"id": "k2", "name": "read_file",
                                 "arguments": {"path": "parser.py"}}]},
                "parse() is called from cli.py and stats.py; both pass user text."]


def _parent(script: list[object]) -> tuple[ContextPipeline, ctxkit.WorkingState]:
    state = ctxkit.WorkingState(goal="fix the parser")
    layer = StateLayer(state)
    pipe = ContextPipeline(ScriptedBackend(script),
                           [Prefix(system=LONG_SYSTEM, tools=[read_file, grep, layer.tool]),
                            History(compactor=Compactor(Milestone(state, min_turns=1),
                                                        keep_turns=1)),
                            layer])
    return pipe, state


def test_only_the_final_summary_returns_to_the_parent() -> None:
    pipe, state = _parent(["on it", "thanks", "next"])
    with capture_calls() as cap:
        pipe.run("find the callers of parse()")
        reply = pipe.subagent("List every caller of parse() and what it passes.",
                              backend=ScriptedBackend(CHILD_SCRIPT))
        pipe.run("what did you find?")
    assert reply.text.startswith("parse() is called from cli.py")
    (sub,) = pipe.subagents
    assert sub.session.id == f"{pipe.session.id}/sub1"
    child_records = [r for r in cap.records if r.session_id == sub.session.id]
    assert len(child_records) == 3
    assert all(r.extras["parent"] == {"session": pipe.session.id, "subagent": 1,
                                      "task": "List every caller of parse() and what it passes."}
               for r in child_records)
    ids = {r.call_id for r in pipe.records}
    assert {r.call_id for r in child_records} <= ids  # the parent's report counts their cost
    # the parent's history got one block: the summary, not the child's tool trace
    added = [b for b in pipe.session.transcript if b.key == "subagent:1"]
    assert len(added) == 1 and "parse() is called from cli.py" in added[0].content
    assert not any(b.call_id in ("k1", "k2") for b in pipe.session.transcript)
    # the child used the parent's prefix layers: same cached system prompt and tools
    parent_prefix = [b.hash for b in cap.drafts[0].blocks if b.layer == "prefix"]
    child_draft = cap.drafts[1]
    assert [b.hash for b in child_draft.blocks if b.layer == "prefix"] == parent_prefix
    # and the state learned it: a completed subtask, a milestone for compaction
    assert state.completed == ["subtask: List every caller of parse() and what it passes."]
    assert state.facts[-1].source == "subagent" and state.facts[-1].ref == sub.session.id
    assert state.diffs[-1].tags == ["subtask_done"]
    parent_records = [r for r in cap.records if r.session_id == pipe.session.id]
    assert "subtask done" in parent_records[-1].extras["compaction"]["reason"]


def test_async_subagent_and_use_inside_a_tool() -> None:
    pipe, state = _parent([{"tool_calls": [{"id": "d1", "name": "delegate",
                                            "arguments": {"task": "count callers"}}]}, "done"])

    def delegate(task: str) -> str:
        """Hand a self-contained subtask to a subagent; returns its summary."""
        return pipe.subagent(task, to_history=False, to_state=False,
                             backend=ScriptedBackend(["2 callers"])).text

    pipe.layers[0] = Prefix(system=LONG_SYSTEM, tools=[read_file, grep, delegate])
    pipe.run("how many callers?")
    result = next(b for b in pipe.session.transcript if b.kind == "tool_result")
    assert result.content == "2 callers"  # the summary enters the history as the result
    assert not any(b.key.startswith("subagent:") for b in pipe.session.transcript)
    assert state.completed == []

    reply = asyncio.run(pipe.asubagent("say hi", backend=ScriptedBackend(["hi"]),
                                       layers=[History()]))
    assert reply.text == "hi" and pipe.subagents[-1].session.id.endswith("/sub2")
    assert pipe.subagents[-1].records[0].blocks[0].layer == "turn"  # no prefix: as asked
