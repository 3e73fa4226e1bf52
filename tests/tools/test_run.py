"""``run`` and ``run_tests``: bounded output, a deadline that holds whatever the command
starts, an allowlisted environment, the command-line guard, and pytest options refused."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from ctxkit.tools import RepoTools, ToolError, scrubbed_env

from .conftest import alive_with, finishes

MIB = 1 << 20


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmRSS")


def peak_growth(fn: object) -> tuple[int, object]:
    """(peak RSS growth of this process while ``fn`` runs, its result or exception)."""
    base, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result: object = fn()  # type: ignore[operator]
    except Exception as exc:
        result = exc
    done.set()
    t.join()
    return max(peak[0], _rss()) - base, result


def test_output_is_bounded_however_much_a_command_prints(tools: RepoTools) -> None:
    grown, out = peak_growth(lambda: tools.run("yes | head -c 400000000; echo; echo end"))
    assert isinstance(out, str) and out.startswith("exit code 0") and out.endswith("end")
    assert grown < 64 * MIB, f"buffered {grown / MIB:.0f} MB for 400 MB of output"
    grown, err = peak_growth(lambda: tools.run("yes", timeout=1))
    assert isinstance(err, ToolError) and "did not finish in 1 s" in str(err)
    assert grown < 64 * MIB, f"buffered {grown / MIB:.0f} MB"


def test_one_long_line_comes_back_cut(tools: RepoTools) -> None:
    out = tools.run("python3 -c \"print('a' * 5_000_000); print('next')\"")
    long_line = out.splitlines()[1]
    assert long_line.startswith("a" * 2000) and len(long_line) < 2100
    assert "line cut" in long_line and "5000000" in long_line
    assert out.splitlines()[-1] == "next"


def test_nothing_a_command_starts_outlives_the_call(tools: RepoTools) -> None:
    tag = f"{30 + os.getpid() % 997 / 1000:.3f}"
    ok, out, took = finishes(lambda: tools.run(f"setsid sleep {tag} & echo started",
                                               timeout=1), 10)
    assert ok and out == "exit code 0\nstarted" and took < 3, (out, took)
    ok, out, took = finishes(lambda: tools.run(f"nohup sleep {tag}1 >/dev/null 2>&1 &"), 10)
    assert ok and out.startswith("exit code 0") and took < 3
    ok, err, took = finishes(lambda: tools.run(f"setsid sleep {tag}2", timeout=1), 10)
    assert ok and isinstance(err, ToolError) and took < 1 + 2, (err, took)
    time.sleep(0.2)
    assert alive_with(f"sleep {tag}") == []


def test_run_tests_stops_at_its_timeout_with_a_child_holding_the_pipe(repo: Path) -> None:
    (repo / "tests" / "test_slow.py").write_text(
        "import subprocess\n\n\ndef test_slow():\n"
        "    subprocess.Popen(['setsid', 'sleep', '41.5'])\n"
        "    import time; time.sleep(60)\n")
    tools = RepoTools(repo, test_timeout=2, sandbox=False)
    ok, err, took = finishes(lambda: tools.run_tests("tests/test_slow.py"), 15)
    assert ok and isinstance(err, ToolError) and took < 2 + 2, (err, took)
    assert alive_with("sleep 41.5") == []


SECRETS = {"DATABASE_URL": "postgres://u:pw@db/x", "AWS_ACCESS_KEY_ID": "AKIAXXXXXXXX",
           "OPENAI_KEY": "sk-x", "STRIPE_KEY": "sk_live_x", "DB_PASS": "hunter2",
           "MYSQL_PWD": "pw", "SSH_AUTH_SOCK": "/tmp/agent.sock", "MY_APP_CONFIG": "x",
           "PYTEST_ADDOPTS": "--basetemp=/tmp/x"}


def test_commands_get_an_allowlisted_environment(
        tools: RepoTools, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    seen = {line.split("=", 1)[0] for line in tools.run("env").splitlines()[1:]}
    assert seen & set(SECRETS) == set()
    assert {"PATH", "HOME", "NO_COLOR"} <= seen
    env = scrubbed_env(allow=["MY_APP_CONFIG"])
    assert env["MY_APP_CONFIG"] == "x" and "DATABASE_URL" not in env


def test_python_in_a_command_is_the_agents_own_interpreter(
        tools: RepoTools, monkeypatch: pytest.MonkeyPatch) -> None:
    # a PATH without the venv (as under `make test`, or `env -i`) found no `python` at all
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    out = tools.run("python -c \"import sys; print(sys.prefix)\"").splitlines()
    assert out == ["exit code 0", sys.prefix]


@pytest.mark.parametrize("command", [
    "cd ..; cat repo/pkg/core.py", "cd .. && ls", "ls;cd ..", "cd", "cd; ls", "cd -",
    "echo hi > ../x.txt", "cat < ../x.txt", "ls $HOME", "cp pkg/core.py ~/core.py",
    "cat /etc/passwd", "python -m pytest --rootdir=/"])
def test_the_guard_refuses_paths_that_leave_the_repository(tools: RepoTools,
                                                          command: str) -> None:
    with pytest.raises(ToolError, match="repository|home directory"):
        tools.run(command)


def test_the_guard_lets_ordinary_commands_through(tools: RepoTools) -> None:
    assert tools.run("cd pkg && ls | sort").splitlines()[1:] == ["__init__.py", "core.py"]
    assert tools.run("echo hi > notes.txt; cat notes.txt 2>/dev/null").endswith("hi")
    assert tools.run("/bin/echo ok").endswith("ok")


@pytest.mark.parametrize("target", ["--basetemp={out}", "--junitxml={out}/x.xml", "-k answer",
                                    "-p pytester", "--rootdir={out}"])
def test_run_tests_refuses_pytest_options(tools: RepoTools, outside: Path,
                                          target: str) -> None:
    with pytest.raises(ToolError, match="pytest option"):
        tools.run_tests(target.format(out=outside))
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_run_tests_runs_a_file_or_node_id(tools: RepoTools) -> None:
    assert tools.run_tests("tests/test_core.py").startswith("exit code 0")
    assert "1 passed" in tools.run_tests("tests/test_core.py::test_answer")
    with pytest.raises(ToolError, match="outside the repository"):
        tools.run_tests("../outside/test_x.py")
