"""``run`` and ``run_tests`` under bwrap: the repository is the only writable path, code the
model wrote (a command, a conftest.py) cannot write anywhere else or reach the network,
and the deadline still holds. Skips, saying why, where bwrap is missing or cannot make a
sandbox (``make test`` installs it with apt-get where it can)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ctxkit.tools import RepoTools, ToolError
from ctxkit.tools._sandbox import bwrap_path

from .conftest import alive_with, finishes

pytestmark = pytest.mark.skipif(
    bwrap_path() is None,
    reason="bwrap (bubblewrap) is not installed or cannot create namespaces here; "
           "apt-get install bubblewrap (make test does it as root)")

WRITER = ("import pathlib\n"
          "for target in pathlib.Path('targets.txt').read_text().split():\n"
          "    try:\n"
          "        open(target, 'w').write('escaped')\n"
          "        print('WROTE', target)\n"
          "    except OSError as exc:\n"
          "        print('REFUSED', target, type(exc).__name__)\n")


def _targets(outside: Path) -> list[Path]:
    home = Path(os.path.expanduser("~"))
    return [outside / "evil.txt", home / f"ctxkit-sandbox-probe-{os.getpid()}.txt",
            Path.cwd() / f"ctxkit-sandbox-probe-{os.getpid()}.txt",
            Path("/var/tmp") / f"ctxkit-sandbox-probe-{os.getpid()}.txt"]


def test_code_run_in_the_sandbox_writes_only_inside_the_repository(
        repo: Path, outside: Path) -> None:
    tools = RepoTools(repo, sandbox=True)
    targets = _targets(outside)
    (repo / "writer.py").write_text(WRITER)  # paths the guard on command lines cannot see
    (repo / "targets.txt").write_text("\n".join(["inside.txt", *map(str, targets)]))
    out = tools.run("python3 writer.py")
    assert "WROTE inside.txt" in out and out.count("REFUSED") == len(targets), out
    assert (repo / "inside.txt").read_text() == "escaped"
    for t in targets:
        assert not t.exists(), f"the sandbox let {t} be written"
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_a_conftest_the_model_wrote_is_contained(repo: Path, outside: Path) -> None:
    targets = _targets(outside)
    (repo / "conftest.py").write_text(
        "for target in " + repr([str(t) for t in targets]) + ":\n"
        "    try:\n        open(target, 'w').write('escaped')\n"
        "    except OSError:\n        pass\n")
    out = RepoTools(repo, sandbox=True).run_tests("tests/test_core.py")
    assert out.startswith("exit code 0"), out
    for t in targets:
        assert not t.exists(), f"conftest.py wrote {t} from inside the sandbox"


def test_the_sandbox_has_no_network(repo: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        out = RepoTools(repo, sandbox=True).run(f"python3 -c \"{code}\"")
    assert not out.startswith("exit code 0") and "Error" in out


def test_the_deadline_holds_in_the_sandbox(repo: Path) -> None:
    tools = RepoTools(repo, sandbox=True)
    tag = f"{50 + os.getpid() % 997 / 1000:.3f}"
    ok, err, took = finishes(lambda: tools.run(f"setsid sleep {tag} & sleep {tag}1",
                                               timeout=1), 10)
    assert ok and isinstance(err, ToolError) and took < 1 + 2, (err, took)
    ok, out, took = finishes(lambda: tools.run(f"nohup sleep {tag}2 >/dev/null 2>&1 &"), 10)
    assert ok and out.startswith("exit code 0") and took < 3
    assert alive_with(f"sleep {tag}") == []


def test_auto_uses_the_sandbox_where_it_works(repo: Path) -> None:
    assert RepoTools(repo).sandbox is True
    assert RepoTools(repo, sandbox=False).sandbox is False
