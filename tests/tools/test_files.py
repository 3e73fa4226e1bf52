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
