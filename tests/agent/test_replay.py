"""A recorded session replays offline: Replay answers from the trace the scripted
stand-in left, and the real tools run again on a fresh copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxkit import load_trace
from ctxkit.backends import Replay
from examples.coding_agent import Agent, AgentConfig
from examples.coding_agent.samples import sample

from .conftest import Recorded, fresh_copy, repo_tests, run_cli


def _moves(records: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(c.name, str(sorted(c.arguments.items()))) for r in records if r.response
            for c in r.response.tool_calls]


@pytest.mark.usefixtures("offline")
def test_the_command_line_replays_a_recorded_trace(recorded: Recorded, tmp_path: Path,
                                                    embedding_cache: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    rc, out = run_cli(["--repo", str(sample(recorded.name)), "--workdir", str(work),
                       "--backend", "replay", "--model", str(recorded.trace), "--home",
                       str(home)], embedding_cache)
    assert rc == 0, out
    assert repo_tests(work).returncode == 0
    replayed = load_trace(next((home / "sessions").glob("*/trace.jsonl")))
    assert {r.backend for r in replayed} == {"replay"}
    assert _moves(replayed) == _moves(recorded.records)
    assert "That was not it" in out  # the wrong first attempt, replayed and undone


def test_a_replay_on_a_fresh_copy_assembles_the_same_prompts(
        recorded: Recorded, tmp_path: Path, embedding_cache: Path) -> None:
    repo, task = fresh_copy(recorded.name, tmp_path / "repo")
    config = AgentConfig(repo=repo, home=tmp_path / "home", embedding_cache=embedding_cache)
    # the same session id: the State names the subagent's session in a fact
    agent = Agent.start(Replay(recorded.trace, strict=True), config, task.task,
                        session_id=recorded.records[0].session_id)
    try:
        out = agent.run()
    finally:
        agent.close()
    assert out.status == "done"
    # strict: every call's prompt hash matched the recording, block for block
    assert [r.prompt_hash for r in agent.pipe.records] == \
        [r.prompt_hash for r in recorded.records]
    assert [r.usage for r in agent.pipe.records] == [r.usage for r in recorded.records]
