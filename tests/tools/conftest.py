"""Fixtures for the agent tools' tests: a small repository with tests, and a directory
outside it that nothing may write to or read from."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctxkit.tools import RepoTools


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "core.py").write_text("def answer():\n    return 42\n")
    (root / "tests" / "test_core.py").write_text(
        "from pkg.core import answer\n\n\ndef test_answer():\n    assert answer() == 42\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "keep.txt").write_text("SECRET-OUTSIDE\n")
    return out


@pytest.fixture
def tools(repo: Path) -> RepoTools:
    return RepoTools(repo, test_timeout=60, sandbox=False)


def finishes(fn: Callable[[], Any], limit: float) -> tuple[bool, Any, float]:
    """Run ``fn`` on a daemon thread; (finished within ``limit`` s, result or exception,
    seconds taken). A hang fails the test instead of hanging the suite."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["value"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    return not thread.is_alive(), box.get("value"), time.monotonic() - start


def alive_with(marker: str) -> list[int]:
    """Pids of live processes (not zombies) whose command line contains ``marker``."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z" and int(name) != os.getpid():
            pids.append(int(name))
    return pids
