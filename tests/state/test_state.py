"""WorkingState: typed fields, versioned diffs, validated all-or-nothing patches."""

from __future__ import annotations

import pytest

import ctxkit
from ctxkit.state import StatePatchError


class AgentState(ctxkit.WorkingState):
    branch: str = "main"
    attempts: int = 0


def _state() -> AgentState:
    s = AgentState(goal="make the parser accept empty input")
    s.set_plan(["reproduce", "fix", "run the tests"])
    return s


def test_every_change_is_a_versioned_diff_with_who_when_why() -> None:
    s = _state()
    clock = iter([100.0, 101.0, 102.0])
    s._clock = lambda: next(clock)
    d1 = s.complete_step("1", why="reproduced the IndexError")
    d2 = s.apply([{"op": "replace", "path": "/branch", "value": "fix-empty"}], by="model",
                 why="work on a branch")
    s.attempts = 1  # plain assignment goes through the same path
    assert s.version == 4
    assert [d.version for d in s.diffs] == [1, 2, 3, 4]
    assert (d1.by, d1.at, d1.why, d1.tags) == ("code", 100.0, "reproduced the IndexError",
                                               ["step_done:1"])
    assert d1.before["plan"][0]["status"] == "todo"
    assert (d2.by, d2.why, d2.before) == ("model", "work on a branch", {"branch": "main"})
    assert s.diffs[-1].ops == [{"op": "replace", "path": "/attempts", "value": 1}]
    assert s.at_version(2).branch == "main" and s.at_version(3).branch == "fix-empty"
    assert s.at_version(1).plan[0].status == "todo"


def test_invalid_patches_change_nothing_and_say_why() -> None:
    s = _state()
    before, version = s.model_dump(), s.version
    bad = [
        ([{"op": "replace", "path": "/plan/@2/status", "value": "finished"}], "todo"),
        ([{"op": "replace", "path": "/no_such_field", "value": 1}], "does not exist"),
        ([{"op": "remove", "path": "/plan/7"}], "out of range"),
        ([{"op": "replace", "path": "/plan/@zz/status", "value": "done"}], "no item"),
        ([{"op": "move", "path": "/goal"}], "not an operation"),
        ([{"op": "test", "path": "/goal", "value": "other"}], "test failed"),
        # the first op is fine, the second is not: neither is applied
        ([{"op": "replace", "path": "/goal", "value": "new"},
          {"op": "replace", "path": "/attempts", "value": "many"}], "invalid"),
        ([], "non-empty list"),
    ]
    for ops, words in bad:
        with pytest.raises(StatePatchError, match=words):
            s.apply(ops)
    assert s.model_dump() == before and s.version == version
    assert isinstance(StatePatchError("x"), ctxkit.UserError)


def test_patch_ops_and_selectors() -> None:
    s = _state()
    s.apply([{"op": "add", "path": "/plan/-", "value": {"id": "4", "text": "release"}},
             {"op": "add", "path": "/open_questions/0", "value": "is None allowed?"},
             {"op": "replace", "path": "/plan/@2/status", "value": "doing"},
             {"op": "test", "path": "/plan/0/status", "value": "todo"},
             {"op": "remove", "path": "/plan/@3"}], why="replan")
    assert [(p.id, p.status) for p in s.plan] == [("1", "todo"), ("2", "doing"), ("4", "todo")]
    assert s.open_questions == ["is None allowed?"]
    assert len(s.diffs) == 2  # set_plan, then this one patch: one diff


def test_keyed_facts_supersede_instead_of_piling_up() -> None:
    s = ctxkit.WorkingState()
    s.add_fact("John is in the hallway", key="where:John", source="tool", ref="call_1")
    s.add_fact("Mary is in the garden", key="where:Mary", source="tool", ref="call_2")
    s.add_fact("John is in the kitchen", key="where:John", source="tool", ref="call_3")
    assert [f.text for f in s.facts] == ["John is in the kitchen", "Mary is in the garden"]
    assert s.facts[0].ref == "call_3"
    assert s.diffs[-1].before["facts"][0]["text"] == "John is in the hallway"
    # a patch that appends a fact with a taken key supersedes the old one too
    s.apply([{"op": "add", "path": "/facts/-", "value": {"text": "Mary is in the office",
                                                        "key": "where:Mary"}}], by="model")
    assert [f.text for f in s.facts] == ["John is in the kitchen", "Mary is in the office"]


def test_recent_results_are_bounded() -> None:
    s = ctxkit.WorkingState()
    for i in range(12):
        s.note_result("pytest", f"run {i}")
    assert [n.summary for n in s.recent_results] == [f"run {i}" for i in range(4, 12)]


def test_in_place_changes_are_committed_as_a_diff() -> None:
    s = _state()
    s.plan[1].status = "doing"
    diff = s.commit(by="code", why="edited in place")
    assert diff is not None and diff.before["plan"][1]["status"] == "todo"
    assert s.commit() is None  # nothing new


def test_milestone_tags() -> None:
    s = _state()
    assert s.diffs[-1].tags == []  # setting the plan is not a milestone
    s.set_goal("also handle whitespace-only input")
    assert s.diffs[-1].tags == ["goal_changed"]
    s.apply([{"op": "replace", "path": "/plan/@1/status", "value": "done"},
             {"op": "replace", "path": "/plan/@2/status", "value": "done"}])
    assert s.diffs[-1].tags == ["step_done:1", "step_done:2"]
    s.apply([{"op": "add", "path": "/completed/-", "value": "docs"}], tags=["subtask_done"])
    assert s.diffs[-1].tags == ["subtask_done"]


def test_render_is_compact_and_shows_subclass_fields() -> None:
    s = _state()
    s.complete_step("1")
    s.add_fact("parse('') raises IndexError", source="tool", ref="call_7")
    s.blockers.append("CI is down")
    s.branch = "fix-empty"
    text = s.render()
    assert text.splitlines()[:6] == [
        f"## Working state (v{s.version})", "Goal: make the parser accept empty input",
        "Plan:", "[x] 1. reproduce", "[ ] 2. fix", "[ ] 3. run the tests"]
    assert "- parse('') raises IndexError (tool: call_7)" in text
    assert "Blockers:\n- CI is down" in text and "Branch: fix-empty" in text
    assert "Attempts" not in text  # zero values are left out
    assert text == s.render()  # same state, same bytes
