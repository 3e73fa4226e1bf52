"""Checkpoint and resume: to a JSON file and to the memory store; files re-read on resume."""

from __future__ import annotations

from pathlib import Path

import pytest

import ctxkit
from ctxkit import StoreError
from ctxkit.layers import History, Prefix
from ctxkit.state import FileCheckpoint, MemoryCheckpoint
from ctxkit.testing import ScriptedBackend


class AgentState(ctxkit.WorkingState):
    branch: str = "main"


def _worked_state(root: Path) -> AgentState:
    (root / "parser.py").write_text("def parse(text):\n    return text.splitlines()[0]\n")
    (root / "README.md").write_text("# textstats\n")
    s = AgentState(goal="accept empty input")
    s.set_plan(["reproduce", "fix", "test"])
    s.complete_step("1", why="reproduced")
    s.track_file("parser.py", root=str(root), note="the bug is here")
    s.track_file("README.md", root=str(root))
    s.add_fact("parse() indexes lines[0] unguarded", source="file", ref="parser.py")
    s.add_fact("the README documents no behaviour for ''", source="file", ref="README.md")
    s.branch = "fix-empty"
    return s


def test_file_checkpoint_round_trip_keeps_versions_and_diffs(tmp_path: Path) -> None:
    s = _worked_state(tmp_path)
    where = s.checkpoint(tmp_path / "ckpt" / "state.json")
    resumed = AgentState.resume(FileCheckpoint(where), root=str(tmp_path))
    r = resumed.state
    assert isinstance(r, AgentState) and r.branch == "fix-empty"
    assert r.version == s.version and [d.why for d in r.diffs] == [d.why for d in s.diffs]
    assert r.at_version(2).plan[0].status == "done"
    assert resumed.files == [("parser.py", "unchanged"), ("README.md", "unchanged")]
    assert len(r.facts) == 2


def test_resume_rereads_files_and_drops_facts_from_changed_ones(tmp_path: Path) -> None:
    s = _worked_state(tmp_path)
    s.checkpoint(tmp_path / "state.json")
    (tmp_path / "parser.py").write_text("def parse(text):\n    lines = text.splitlines()\n"
                                        "    return lines[0] if lines else ''\n")
    (tmp_path / "README.md").unlink()
    resumed = AgentState.resume(tmp_path / "state.json", root=str(tmp_path))
    r = resumed.state
    assert resumed.files == [("parser.py", "changed"), ("README.md", "missing")]
    assert r.facts == []  # both came from files that are no longer what was read
    assert r.diffs[-1].by == "resume"
    msg = resumed.message
    assert "Goal: accept empty input" in msg and "next: 2. fix (todo)" in msg
    assert "parser.py (changed)" in msg and "README.md (missing)" in msg
    assert "return lines[0] if lines else ''" in msg  # the fresh copy, not the old one


def test_the_where_we_are_message_goes_into_the_history(tmp_path: Path) -> None:
    s = _worked_state(tmp_path)
    s.checkpoint(tmp_path / "state.json")
    resumed = AgentState.resume(tmp_path / "state.json", root=str(tmp_path))
    backend = ScriptedBackend(["picking up at step 2"])
    pipe = ctxkit.ContextPipeline(backend, [Prefix(system="sys"), History()])
    resumed.add_to(pipe)
    pipe.run("continue")
    messages = backend.drafts[0].to_messages()["messages"]
    assert messages[0]["content"][0]["text"].startswith("Resuming from a checkpoint")


def test_memory_store_checkpoint(tmp_path: Path) -> None:
    from ctxkit.memory import HashingEmbedder, MemoryStore, Scope

    store = MemoryStore(f"sqlite:///{tmp_path / 'mem.db'}", embedder=HashingEmbedder())
    scope = Scope(tenant="t", user="u", session="s1")
    s = _worked_state(tmp_path)
    first = s.checkpoint(MemoryCheckpoint(store, scope))
    s.complete_step("2", why="fixed")
    second = s.checkpoint(MemoryCheckpoint(store, scope))
    assert first != second
    store.close()
    reopened = MemoryStore(f"sqlite:///{tmp_path / 'mem.db'}", embedder=HashingEmbedder())
    resumed = AgentState.resume(MemoryCheckpoint(reopened, scope), root=str(tmp_path))
    assert resumed.state.plan[1].status == "done"  # the newest checkpoint
    assert resumed.state.version == s.version
    other = Scope(tenant="t", user="someone-else")
    with pytest.raises(StoreError, match="no checkpoint"):
        AgentState.resume(MemoryCheckpoint(reopened, other))
    reopened.close()


def test_resume_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="save one"):
        AgentState.resume(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(StoreError, match="unreadable"):
        AgentState.resume(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"schema": 1, "state": {"goal": 3}}')
    with pytest.raises(StoreError, match="does not fit AgentState"):
        AgentState.resume(tmp_path / "other.json")
