"""The file tools and the walk every tool shares: symlinks out of the root are neither
followed nor listed, FIFOs never block, long lines come back cut."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctxkit.tools import RepoTools, ToolError
from examples.coding_agent.tools import AgentTools

from .conftest import finishes


@pytest.fixture
def hostile(repo: Path, outside: Path) -> Path:
    """The repository with a symlink to a file outside, one to a directory outside, one
    to a file inside, and a FIFO."""
    (repo / "leak.txt").symlink_to(outside / "keep.txt")
    (repo / "outdir").symlink_to(outside, target_is_directory=True)
    (repo / "alias.py").symlink_to(repo / "pkg" / "core.py")
    os.mkfifo(repo / "pipe.txt")
    return repo


def test_grep_and_list_dir_stay_under_the_root_and_skip_fifos(hostile: Path) -> None:
    tools = RepoTools(hostile, sandbox=False)
    ok, out, _ = finishes(lambda: tools.grep("SECRET-OUTSIDE"), 10)
    assert ok, "grep hung on the FIFO"
    assert out == "no match for 'SECRET-OUTSIDE'"
    ok, out, _ = finishes(lambda: tools.grep("return 42"), 10)
    assert ok and out.splitlines() == ["alias.py:2: return 42", "pkg/core.py:2: return 42"]
    ok, listing, _ = finishes(lambda: tools.list_dir("."), 10)
    assert ok and "leak.txt" not in listing and "pipe.txt" not in listing
    assert "alias.py" in listing
    with pytest.raises(ToolError, match="outside the repository"):
        tools.grep("SECRET", path="outdir")


def test_read_write_and_edit_refuse_fifos_and_links_out(hostile: Path, outside: Path) -> None:
    tools = RepoTools(hostile, sandbox=False)
    for call in (lambda: tools.read_file("pipe.txt"), lambda: tools.write_file("pipe.txt", "x"),
                 lambda: tools.edit_file("pipe.txt", "a", "b")):
        ok, err, _ = finishes(call, 10)
        assert ok and isinstance(err, ToolError), err
    for call in (lambda: tools.read_file("leak.txt"), lambda: tools.write_file("leak.txt", "x"),
                 lambda: tools.write_file("outdir/new.txt", "x"),
                 lambda: tools.edit_file("outdir/keep.txt", "SECRET", "x")):
        with pytest.raises(ToolError, match="outside the repository"):
            call()
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "SECRET-OUTSIDE\n"


def test_a_fifo_the_agent_makes_does_not_hang_the_next_grep(repo: Path) -> None:
    tools = RepoTools(repo, sandbox=False)
    assert tools.run("mkfifo made").startswith("exit code 0")
    ok, out, _ = finishes(lambda: tools.grep("answer"), 10)
    assert ok and "pkg/core.py:1: def answer():" in out


def test_the_agents_snapshot_leaves_out_links_out_and_fifos(hostile: Path) -> None:
    ok, tools, _ = finishes(lambda: AgentTools(hostile, sandbox=False), 10)
    assert ok, "snapshotting the repository hung"
    assert isinstance(tools, AgentTools)
    assert "leak.txt" not in tools._snapshot and "pipe.txt" not in tools._snapshot
    assert "pkg/core.py" in tools._snapshot


def test_long_lines_come_back_cut(repo: Path) -> None:
    (repo / "big.txt").write_text("x" * 5_000_000 + " needle\nshort\n")
    tools = RepoTools(repo, sandbox=False)
    lines = tools.read_file("big.txt").splitlines()
    assert lines[0].startswith("1\t" + "x" * 2000) and len(lines[0]) < 2100
    assert lines[1] == "2\tshort"
    hit = tools.grep("short|x{10}")
    assert all(len(line) < 400 for line in hit.splitlines())


def test_text_that_cannot_be_written_leaves_the_file_as_it_was(tools: RepoTools,
                                                                repo: Path) -> None:
    # a lone surrogate is what json.loads makes of a model's "\ud800" in tool arguments;
    # writing it once truncated the file first and then failed, losing its content
    core = repo / "pkg" / "core.py"
    before = core.read_bytes()
    for call in (lambda: tools.write_file("pkg/core.py", "x = '\ud800'\n"),
                 lambda: tools.edit_file("pkg/core.py", "42", "'\udcff'")):
        with pytest.raises(ToolError, match="surrogate"):
            call()
        assert core.read_bytes() == before
    with pytest.raises(ToolError, match="surrogate"):
        tools.write_file("pkg/new.py", "\ud800")
    assert not (repo / "pkg" / "new.py").exists()


def test_nul_bytes_symlink_loops_and_files_as_directories_are_tool_errors(
        tools: RepoTools, repo: Path) -> None:
    for call in (lambda: tools.read_file("pkg/core.py\x00.txt"),
                 lambda: tools.write_file("a\x00b", "x"), lambda: tools.list_dir("\x00"),
                 lambda: tools.grep("x", path="pkg\x00"), lambda: tools.run_tests("t\x00")):
        with pytest.raises(ToolError, match="NUL"):
            call()
    (repo / "loop").symlink_to("loop")
    for call in (lambda: tools.read_file("loop"), lambda: tools.write_file("loop/x", "y")):
        with pytest.raises(ToolError, match="loop"):
            call()
    for call in (lambda: tools.write_file("pkg/core.py/inner.py", "x"),
                 lambda: tools.edit_file("pkg/core.py/inner.py", "", "x")):
        with pytest.raises(ToolError, match="pkg/core.py is a file"):
            call()


def test_reading_past_the_end_says_how_long_the_file_is(tools: RepoTools) -> None:
    out = tools.read_file("pkg/core.py", start_line=10)
    assert "empty" not in out and "2 lines" in out
    assert "2 lines" in tools.read_file("pkg/core.py", start_line=2, end_line=1)
    assert tools.read_file("pkg/__init__.py") == "(empty file)"


def test_a_pattern_that_backtracks_for_ever_is_stopped(repo: Path) -> None:
    # (a|aa)+$ on 40 a's takes Python's re minutes (it doubles every few characters); the
    # grep tool once held the agent's loop for that long
    (repo / "long.txt").write_text("a" * 40 + "!\nfine\n")
    tools = RepoTools(repo, sandbox=False, grep_timeout=1.0)
    ok, err, _ = finishes(lambda: tools.grep(r"(a|aa)+$"), 30)
    assert ok, "grep did not stop"
    assert isinstance(err, ToolError) and "backtrack" in str(err) and "1 s" in str(err)
    assert tools.grep("fine") == "long.txt:2: fine"
    assert tools.grep(r"lines\[0\]|return (\d+)") == "pkg/core.py:2: return 42"
