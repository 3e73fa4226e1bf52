"""Checkpoint and resume through the command line: a session paused at --max-calls is
continued with --resume — state and memory restored, files re-read, a "where we are"
message added — and finishes the task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxkit import load_trace
from ctxkit.testing import FunctionBackend, capture_calls
from examples.coding_agent import Agent, AgentConfig
from examples.coding_agent.samples import sample
from examples.coding_agent.standin import StandIn

from .conftest import fresh_copy, repo_tests, run_cli


@pytest.mark.usefixtures("offline")
def test_a_paused_session_resumes_from_its_checkpoint(tmp_path: Path,
                                                       embedding_cache: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    rc, out = run_cli(["--repo", str(sample("pages")), "--workdir", str(work), "--home",
                       str(home), "--max-calls", "5", "--prefer", "Answer in English."],
                      embedding_cache)
    assert rc == 3, out
    sid = next((home / "sessions").iterdir()).name
    assert sid.startswith("pages-")
    assert f"--resume {sid}" in out
    assert repo_tests(work).returncode == 1, "paused before the fix"
    saved = json.loads((home / "sessions" / sid / "state.json").read_text())
    plan = {s["id"]: s["status"] for s in saved["state"]["plan"]}
    assert plan == {"1": "done", "2": "doing", "3": "todo", "4": "todo"}
    assert [f["path"] for f in saved["state"]["files"]] == ["pager/paginate.py"]

    # the user touches a file the state refers to while the agent is away
    touched = work / "pager" / "paginate.py"
    touched.write_text("# reviewed by the user\n" + touched.read_text())

    with capture_calls() as cap:
        rc, out = run_cli(["--resume", sid, "--home", str(home), "--html"], embedding_cache)
    assert rc == 0, out
    assert repo_tests(work).returncode == 0

    first = cap.drafts[0]
    where = next(b.content for b in first.blocks if b.key.startswith("resume:"))
    assert where.startswith("Resuming from a checkpoint")
    assert "Plan: 1 of 4 steps done; next: 2. locate the cause (doing)" in where
    assert "Files re-read from disk (not trusted from before): pager/paginate.py " \
        "(changed)" in where
    assert "--- pager/paginate.py (now) ---\n# reviewed by the user" in where
    memory = " ".join(b.content for b in first.blocks if b.layer == "memory")
    assert "Answer in English." in memory
    recall = " ".join(b.content for b in first.blocks if b.layer == "recall")
    assert "FAILED tests/test_paginate.py::test_last_partial_page" in recall, \
        "the earlier session's failure is recalled"
    state = next(b.content for b in first.blocks if b.layer == "state")
    assert "[x] 1. reproduce the failure" in state

    meta = json.loads((home / "sessions" / sid / "session.json").read_text())
    assert [r["status"] for r in meta["runs"]] == ["paused", "done"]
    assert meta["runs"][1]["session"] == f"{sid}.r1"
    records = load_trace(home / "sessions" / sid / "trace.jsonl")
    assert {r.session_id for r in records} >= {sid, f"{sid}.r1"}
    assert (home / "sessions" / sid / "report.html").is_file()


def test_resume_names_the_sessions_it_knows(tmp_path: Path, embedding_cache: Path) -> None:
    (tmp_path / "sessions" / "pages-1").mkdir(parents=True)
    (tmp_path / "sessions" / "pages-1" / "session.json").write_text("{}")
    rc, out = run_cli(["--resume", "nope", "--home", str(tmp_path)], embedding_cache)
    assert rc == 1
    assert "no session 'nope'" in out and "known sessions: pages-1" in out


@pytest.mark.parametrize(("pause_at", "first_open"), [(2, "1"), (7, "3"), (9, "4")])
def test_the_stand_in_resumes_from_any_step(pause_at: int, first_open: str, tmp_path: Path,
                                            embedding_cache: Path) -> None:
    """Paused before step 1 was marked done, with a wrong attempt still in the file, and
    after the fix but before the suite ran: each resume finishes the task."""
    repo, task = fresh_copy("pages", tmp_path / "pages")
    config = AgentConfig(repo=repo, home=tmp_path / "home", retrieval=False,
                         embedding_cache=embedding_cache)
    agent = Agent.start(FunctionBackend(StandIn(task)), config, task.task)
    try:
        assert agent.run(max_calls=pause_at).status == "paused"
    finally:
        agent.close()
    plan = {s.id: s.status for s in agent.state.plan}
    assert min(k for k, v in plan.items() if v != "done") == first_open
    wrong = task.wrong_fix
    assert wrong is not None
    left = wrong.new in (repo / wrong.path).read_text()
    assert left == (pause_at == 7), "paused at 7, the wrong attempt is still in the file"
    again = Agent.resume(FunctionBackend(StandIn(task)), config, agent.session.id)
    try:
        out = again.run()
    finally:
        again.close()
    assert out.status == "done", out
    assert repo_tests(repo).returncode == 0
