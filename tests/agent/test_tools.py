"""The agent's tools: the shared RepoTools (write_file, run, grep globs), the extended set,
tool search, and the project context the prefix is built from. No model, no embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxkit.tools import ToolError
from examples.coding_agent.context import project_context, readme_summary
from examples.coding_agent.toolbox import ToolSearch, split_toolset
from examples.coding_agent.tools import AgentTools

from .conftest import fresh_copy


@pytest.fixture
def tools(tmp_path: Path) -> AgentTools:
    repo, _ = fresh_copy("pages", tmp_path / "pages")
    return AgentTools(repo)


def test_write_file_creates_and_replaces_inside_the_repository(tools: AgentTools) -> None:
    assert tools.write_file("notes/todo.md", "one\ntwo\n") == "created notes/todo.md (2 lines)"
    assert tools.write_file("notes/todo.md", "three\n") == "replaced notes/todo.md (1 lines)"
    assert (tools.root / "notes" / "todo.md").read_text() == "three\n"
    for path in ("../escape.txt", "/tmp/escape.txt"):
        with pytest.raises(ToolError, match="outside the repository"):
            tools.write_file(path, "x")
    with pytest.raises(ToolError, match="is a directory"):
        tools.write_file("pager", "x")


def test_run_executes_in_the_root_with_exit_code_and_canonical_output(
        tools: AgentTools) -> None:
    out = tools.run("python -c \"import os; print(os.getcwd())\"; exit 3")
    assert out.splitlines() == ["exit code 3", "."]  # the absolute root is not shown
    assert tools.run("ls pager").splitlines()[1:] == ["__init__.py", "links.py",
                                                      "paginate.py"]


def test_run_refuses_paths_outside_and_stops_at_the_timeout(tools: AgentTools) -> None:
    for command in ("cat /etc/passwd", "ls ../..", "cp pager/links.py ~/links.py",
                    "python -m pytest --rootdir=/"):
        with pytest.raises(ToolError, match="repository|home directory"):
            tools.run(command)
    with pytest.raises(ToolError, match="did not finish in 1 s"):
        tools.run("sleep 30", timeout=1)
    with pytest.raises(ToolError, match="empty command"):
        tools.run("  ")


def test_run_and_run_tests_do_not_see_the_agents_credentials(
        tools: AgentTools, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    out = tools.run("echo \"[$ANTHROPIC_API_KEY][$GITHUB_TOKEN][${HOME:+home}]\"")
    assert out.splitlines()[1] == "[][][home]"


def test_grep_filters_by_glob_and_read_file_takes_line_ranges(tools: AgentTools) -> None:
    everywhere = tools.grep(r"num_pages\(")
    only_tests = tools.grep(r"num_pages\(", glob="tests/*.py")
    assert "pager/links.py" in everywhere and "tests/test_paginate.py" in everywhere
    assert only_tests and all(ln.startswith("tests/") for ln in only_tests.splitlines())
    assert tools.grep("num_pages", glob="*.md").startswith("AGENTS.md:")
    assert tools.read_file("pager/paginate.py", 12, 13).splitlines() == [
        "12\tdef num_pages(total: int, per_page: int) -> int:",
        '13\t    """How many pages ``total`` items fill at ``per_page`` items a page (at '
        'least one)."""']


def test_extended_tools_navigate_the_code(tools: AgentTools) -> None:
    outline = tools.outline("pager/paginate.py")
    assert "12\tdef num_pages(total: int, per_page: int) -> int" in outline
    assert "    def page(self, number: int) -> Page[T]" in outline
    assert tools.find_definition("num_pages") == \
        "pager/paginate.py:12: def num_pages(total: int, per_page: int) -> int"
    refs = tools.find_references("num_pages").splitlines()
    assert "pager/links.py:10: last = num_pages(total, per_page)" in refs
    assert not any("def num_pages" in r for r in refs)
    assert tools.show_function("pager/paginate.py", "Paginator.page").startswith(
        "39\t    def page(self, number: int) -> Page[T]:")
    with pytest.raises(ToolError, match="no 'Paginator.nope'"):
        tools.show_function("pager/paginate.py", "Paginator.nope")
    assert "tests/test_paginate.py::test_last_partial_page" in tools.list_tests()
    assert tools.imports("pager/links.py") == ".paginate\n__future__"
    assert tools.importers("paginate") == "pager/__init__.py\npager/links.py"
    assert tools.check_syntax("pager/links.py") == "ok"
    (tools.root / "broken.py").write_text("def f(:\n")
    with pytest.raises(ToolError, match="line 1"):
        tools.check_syntax("broken.py")
    assert tools.file_info("pyproject.toml").startswith("pyproject.toml: ")
    assert tools.todo_comments() == "no TODO, FIXME or XXX comments"


def test_diff_and_revert_file_compare_with_the_start_of_the_session(tools: AgentTools) -> None:
    assert tools.diff() == "no changes since the session started"
    tools.edit_file("pager/paginate.py", "total // per_page", "-(-total // per_page)")
    tools.write_file("pager/extra.py", "X = 1\n")
    diff = tools.diff()
    assert "-    return max(1, total // per_page)" in diff
    assert "+    return max(1, -(-total // per_page))" in diff and "+X = 1" in diff
    assert tools.revert_file("pager/paginate.py").startswith("reverted")
    assert tools.revert_file("pager/extra.py").startswith("removed")
    assert tools.diff() == "no changes since the session started"


def test_tool_search_keeps_a_core_set_and_serves_the_rest(tools: AgentTools) -> None:
    core, extra = tools.core(), tools.extra()
    prefix, search = split_toolset(core, extra, threshold=len(core) + len(extra))
    assert search is None and len(prefix) == len(core) + len(extra)
    prefix, search = split_toolset(core, extra, threshold=len(core) + len(extra) - 1)
    assert search is not None
    assert [f.__name__ for f in prefix] == [f.__name__ for f in core] + ["search_tools",
                                                                          "call_tool"]
    with pytest.raises(ToolError, match="not loaded yet"):
        search.call_tool("outline", {"path": "pager/links.py"})
    found = search.search_tools("outline the functions and classes of a python file")
    schemas = [json.loads(ln) for ln in found.splitlines()[:-1]]
    assert schemas[0]["name"] == "outline"
    assert schemas[0]["input_schema"]["required"] == ["path"]
    assert search.loaded[0] == "outline"
    assert search.call_tool("outline", {"path": "pager/links.py"}).startswith("8\tdef page_links(")
    with pytest.raises(ToolError, match="bad arguments for outline"):
        search.call_tool("outline", {"file": "pager/links.py"})
    with pytest.raises(ToolError, match="no deferred tool 'grep'"):
        search.call_tool("grep", {})
    assert search.search_tools("zzz qqq").startswith("no tool matches")


def test_tool_search_accepts_arguments_sent_as_a_json_string(tools: AgentTools) -> None:
    search = ToolSearch(tools.extra())
    search.search_tools("find where a name is defined")
    assert "find_definition" in search.loaded
    assert search.call_tool("find_definition", '{"name": "Page"}') == \
        "pager/paginate.py:22: class Page(Generic[T])"


def test_project_context_has_instructions_readme_summary_and_map(tmp_path: Path) -> None:
    repo, _ = fresh_copy("pages", tmp_path / "pages")
    parts = dict(project_context(repo))
    assert list(parts) == ["AGENTS.md", "README.md (summary)", "repo map"]
    assert "single source of truth" in parts["AGENTS.md"]
    assert "pager/paginate.py: num_pages(), class Page, class Paginator [__init__, page]" in \
        parts["repo map"].splitlines()
    assert "TASK.json" not in parts["repo map"]
    readme = tmp_path / "README.md"
    readme.write_text("# Title\nintro\n\n## Install\npip install x\n")
    assert readme_summary(readme) == "# Title\nintro\n\n[... 2 more lines in README.md]"
