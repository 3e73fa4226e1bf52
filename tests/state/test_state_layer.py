"""The State layer in a pipeline, and the model's update_state tool."""

from __future__ import annotations

import json

import ctxkit
from ctxkit import ContextPipeline
from ctxkit.layers import History, Prefix
from ctxkit.layers import State as StateLayer
from ctxkit.testing import ScriptedBackend, capture_calls

SYSTEM = "You are a careful coding agent. " * 200


def _pipe(script: list[object], state: ctxkit.WorkingState) -> tuple[ContextPipeline, StateLayer]:
    layer = StateLayer(state)
    pipe = ContextPipeline(ScriptedBackend(script),
                           [Prefix(system=SYSTEM, tools=[layer.tool]), History(), layer])
    return pipe, layer


def _update(ops: list[dict[str, object]], why: str = "", cid: str = "u1") -> dict[str, object]:
    return {"tool_calls": [{"id": cid, "name": "update_state",
                            "arguments": {"ops": ops, "why": why}}]}


def test_the_model_updates_the_state_through_the_tool() -> None:
    state = ctxkit.WorkingState(goal="fix the parser")
    state.set_plan(["reproduce", "fix"])
    pipe, _ = _pipe([_update([{"op": "replace", "path": "/plan/@1/status", "value": "done"},
                              {"op": "add", "path": "/facts/-", "value": {
                                  "text": "parse('') raises IndexError", "source": "tool",
                                  "ref": "call_3"}}], why="reproduced"),
                     "reproduced it"], state)
    with capture_calls() as cap:
        pipe.run("reproduce the failure")
    assert state.plan[0].status == "done"
    assert state.diffs[-1].by == "model" and state.diffs[-1].why == "reproduced"
    result = next(b for b in pipe.session.transcript if b.kind == "tool_result")
    assert not result.is_error and result.content.startswith(f"state updated to v{state.version}")
    # the second call shows the new state, at the end, after the tool result
    second = cap.drafts[1]
    assert second.blocks[-1].layer == "state" and "[x] 1. reproduce" in second.blocks[-1].content
    tools = [json.loads(b.content) for b in second.blocks if b.kind == "tool"]
    assert tools[0]["name"] == "update_state" and "ops" in tools[0]["input_schema"]["properties"]


def test_an_invalid_patch_returns_an_error_to_the_model_and_changes_nothing() -> None:
    state = ctxkit.WorkingState(goal="fix the parser")
    state.set_plan(["reproduce"])
    before, version = state.model_dump(), state.version
    pipe, _ = _pipe([_update([{"op": "replace", "path": "/plan/@1/status", "value": "finished"}]),
                     "ok"], state)
    pipe.run("mark it")
    result = next(b for b in pipe.session.transcript if b.kind == "tool_result")
    assert result.is_error
    assert result.content.startswith("StatePatchError:") and "nothing was changed" in result.content
    assert "'todo', 'doing', 'done'" in result.content  # says what would be valid
    assert state.model_dump() == before and state.version == version


def test_state_renders_after_history_before_the_user_message_and_keeps_the_cache() -> None:
    state = ctxkit.WorkingState(goal="g")
    pipe, _ = _pipe(["one", "two", "three"], state)
    with capture_calls() as cap:
        pipe.run("first")
        state.add_fact("a fact learned between turns")
        pipe.run("second")
        state.open_questions.append("changed in place?")  # committed by the layer
        pipe.run("third")
    layers = [b.layer for b in cap.drafts[2].blocks]
    assert layers[-2:] == ["state", "turn"] and layers.index("state") > layers.index("history")
    assert "changed in place?" in cap.drafts[2].blocks[-2].content
    assert state.diffs[-1].why == "changed in place"
    # the state changes every call, yet the prefix and history stay cached
    assert all(not r.drift for r in cap.records)
    cached_before = sum(b.tokens for b in cap.records[1].blocks
                        if b.layer not in ("state", "turn"))
    assert cap.records[2].usage.cache_read_tokens == cached_before
