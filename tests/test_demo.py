"""The offline demo end to end, its tools, and the sample repository it works on."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ctxkit import BackendError, ContextPipeline, load_trace
from ctxkit.cli import main
from ctxkit.demo import TURNS, StandInAgent
from ctxkit.layers import History, Prefix
from ctxkit.report import Report
from ctxkit.testing import FunctionBackend
from ctxkit.tools import RepoTools, ToolError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "ctxkit" / "demo" / "sample_repo"


def _snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _copy_sample(dest: Path) -> Path:
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return dest


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(key, raising=False)


def test_sample_repo_has_one_genuine_failing_test(tmp_path: Path) -> None:
    proc = _pytest(_copy_sample(tmp_path / "repo"))
    assert proc.returncode == 1, proc.stdout
    assert "FAILED tests/test_parser.py::test_empty_input" in proc.stdout
    assert "IndexError" in proc.stdout
    assert "1 failed" in proc.stdout and " passed" in proc.stdout


def test_project_pytest_never_collects_the_sample_repo(tmp_path: Path) -> None:
    # the project's real pytest config and the real sample repo, beside one stand-in test
    # (collecting the real suite would import every heavy test module)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_marker.py").write_text("def test_marker():\n    pass\n")
    _copy_sample(tmp_path / "ctxkit" / "demo" / "sample_repo")
    proc = _pytest(tmp_path, "--collect-only")
    assert "tests/test_marker.py" in proc.stdout
    assert "sample_repo" not in proc.stdout and "test_parser" not in proc.stdout


@pytest.mark.moves_prefix("turn 3 of the demo puts today's date into the system prompt to "
                          "show the drift diagnosis")
def test_offline_demo_fixes_the_bug_and_reports_the_drift(
        tmp_path: Path, offline: None, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(SAMPLE)
    work, html, trace = tmp_path / "work", tmp_path / "report.html", tmp_path / "demo.jsonl"

    rc = main(["demo", "--workdir", str(work), "--html", str(html), "--trace", str(trace)])
    out = capsys.readouterr().out

    assert rc == 0, out
    assert "scripted stand-in" in out
    # the agent's fix and its new test are real: pytest on the copy is green
    proc = _pytest(work)
    assert proc.returncode == 0, proc.stdout
    assert "test_whitespace_only_input" in (work / "tests" / "test_parser.py").read_text()
    assert _pytest(work, "tests/test_parser.py::test_empty_input").returncode == 0
    assert _snapshot(SAMPLE) == before, "the demo must edit a copy, never the shipped sample"

    records = load_trace(trace)
    assert len(records) == StandInAgent().num_calls
    assert sorted({r.turn for r in records}) == list(range(len(TURNS)))
    assert all(r.ok for r in records)
    assert html.is_file() and "<html" in html.read_text(encoding="utf-8").lower()

    drift = Report.from_records(records).to_dict()["drift"]
    assert len(drift) == 1
    event = drift[0]
    assert event["layer"] == "prefix" and event["key"] == "system"
    assert "date" in event["cause"]
    assert records[event["call"]].turn == 2 and records[event["call"]].step == 0
    # every call after the first reads the cache, except the one the date broke
    assert all(r.usage.cache_read_tokens > 0 for r in records[1:] if not r.drift)
    assert records[event["call"]].usage.cache_read_tokens == 0
    assert "timestamp in a system prompt" in out
    # captured (not a terminal): the calls table prints every figure whole, never "1,5…"
    assert not re.search(r"[\d$,.]…", out), out
    for i, r in enumerate(records):
        u = r.usage
        figures = [f"{n:,}" for n in (u.input_tokens, u.cache_read_tokens,
                                      u.cache_write_tokens, u.uncached_tokens, u.output_tokens)]
        row = rf"^{i}\s+{r.turn}\.{r.step}\s+" + r"\s+".join(map(re.escape, figures))
        assert re.search(row, out, re.M), (i, figures)


def test_demo_refuses_a_non_empty_workdir(tmp_path: Path, offline: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    rc = main(["demo", "--workdir", str(tmp_path), "--html", str(tmp_path / "r.html"),
               "--trace", str(tmp_path / "t.jsonl")])
    assert rc == 1
    assert "not an empty directory" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("flag", ["--trace", "--html"])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_session(
        tmp_path: Path, offline: None, capsys: pytest.CaptureFixture[str], flag: str) -> None:
    # --trace once failed with a FileNotFoundError traceback in the first model call, and
    # --html at the very end, after the whole session had run
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    paths = {"--trace": str(tmp_path / "t.jsonl"), "--html": str(tmp_path / "r.html")}
    paths[flag] = str(blocker / "out")  # a directory that is a file: cannot be created
    rc = main(["demo", "--workdir", str(tmp_path / "work"), "--trace", paths["--trace"],
               "--html", paths["--html"]])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f"cannot write {flag} {blocker / 'out'}" in err and "Traceback" not in err
    assert "turn 1" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_stand_in_refuses_to_pretend_when_the_repo_is_already_fixed(tmp_path: Path) -> None:
    repo = _copy_sample(tmp_path / "repo")
    parser = repo / "textstats" / "parser.py"
    parser.write_text(parser.read_text().replace(
        "    title = _title(lines[0])", "    title = _title(lines[0]) if lines else ''"))
    tools = RepoTools(repo)
    pipe = ContextPipeline(FunctionBackend(StandInAgent()),
                           [Prefix(system="s", tools=tools.tools(), root=repo), History()])
    with pytest.raises(BackendError, match="expected a failing test_empty_input"):
        pipe.run(TURNS[0])


# -- the tools -------------------------------------------------------------------------


@pytest.fixture
def tools(tmp_path: Path) -> RepoTools:
    return RepoTools(_copy_sample(tmp_path / "repo"))


def test_tools_refuse_paths_outside_the_repository(tools: RepoTools) -> None:
    for call in (lambda: tools.read_file("../secret.txt"), lambda: tools.list_dir("/"),
                 lambda: tools.edit_file("/etc/passwd", "a", "b"),
                 lambda: tools.run_tests("../x.py")):
        with pytest.raises(ToolError, match="outside the repository"):
            call()


def test_edit_file_replaces_one_exact_unique_occurrence(tools: RepoTools) -> None:
    path = "textstats/parser.py"
    with pytest.raises(ToolError, match="not found"):
        tools.edit_file(path, "no such text", "x")
    with pytest.raises(ToolError, match="occurs .* times"):
        tools.edit_file(path, "return ", "return  ")
    out = tools.edit_file(path, "    title = _title(lines[0])\n",
                          "    title = _title(lines[0]) if lines else ''\n")
    assert out.startswith("edited textstats/parser.py at line 88")
    assert "if lines else ''" in (tools.root / path).read_text()
    assert tools.edit_file("notes/new.txt", "", "hello\n").startswith("created")
    assert (tools.root / "notes" / "new.txt").read_text() == "hello\n"


def test_read_grep_and_list_are_canonical(tools: RepoTools) -> None:
    listing = tools.list_dir(".")
    assert listing.splitlines()[0].startswith("AGENTS.md")
    assert "__pycache__" not in listing
    assert tools.read_file("textstats/parser.py", 88, 88) == "88\t    title = _title(lines[0])"
    assert tools.grep(r"lines\[0\]") == "textstats/parser.py:88: title = _title(lines[0])"
    with pytest.raises(ToolError, match="bad regular expression"):
        tools.grep("(")


def test_run_tests_output_has_no_timings_or_absolute_paths(tools: RepoTools) -> None:
    first = tools.run_tests("tests/test_parser.py")
    assert first.startswith("exit code 1")
    assert first.splitlines()[-1] == "1 failed, 4 passed"
    assert str(tools.root) not in first
    assert tools.run_tests("tests/test_parser.py") == first


# -- the live path, against a loopback stand-in for Anthropic's Messages API -------------


class _FakeAnthropic(BaseHTTPRequestHandler):
    """Answers POST /v1/messages: a list_dir call first in each turn, then a text reply."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        last = body["messages"][-1]["content"]
        answered = isinstance(last, list) and any(p.get("type") == "tool_result" for p in last)
        n = len(type(self).requests)
        content: list[dict[str, Any]] = (
            [{"type": "text", "text": "Looked around; all done."}] if answered else
            [{"type": "tool_use", "id": f"toolu_{n:02d}", "name": "list_dir",
              "input": {"path": "."}}])
        reply = {"id": f"msg_{n:02d}", "type": "message", "role": "assistant",
                 "model": body["model"], "content": content,
                 "stop_reason": "end_turn" if answered else "tool_use",
                 "usage": {"input_tokens": 1500, "output_tokens": 12,
                           "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.moves_prefix("turn 3 of the demo puts today's date into the system prompt")
@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
def test_demo_runs_live_on_anthropic_when_its_key_is_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("anthropic", reason="the anthropic SDK is part of ctxkit[dev]")
    _FakeAnthropic.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAnthropic)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{server.server_port}")
        trace = tmp_path / "live.jsonl"
        rc = main(["demo", "--workdir", str(tmp_path / "work"), "--html",
                   str(tmp_path / "r.html"), "--trace", str(trace)])
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Live model" in out and "scripted stand-in" not in out
    records = load_trace(trace)
    assert [(r.turn, r.step) for r in records] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert {r.backend for r in records} == {"anthropic"}
    assert {r.model for r in records} == {"claude-sonnet-4-5"}
    sent = _FakeAnthropic.requests
    assert len(sent) == 6
    systems = [json.dumps(r["system"]) for r in sent]
    assert all("careful software engineer" in s for s in systems)
    assert [s.startswith('[{"type": "text", "text": "Today') for s in systems] == \
        [False] * 4 + [True] * 2
    assert any("cache_control" in json.dumps(r) for r in sent)
    assert [d["cause"] for d in Report.from_records(records).to_dict()["drift"]] == \
        ["timestamp or date-like text"]
