"""The tool loop canonicalizes results before they enter the history."""

from __future__ import annotations

import itertools

from ctxkit import ContextPipeline, ToolCall, ToolResult
from ctxkit.canonical import REFERENCE_PREFIX, Canonicalizer
from ctxkit.layers import History, Prefix
from ctxkit.testing import ScriptedBackend

_clock = itertools.count(1)
LISTING = "\n".join(f"src/module_{i}.py  {i * 100} bytes" for i in range(12))


def run_tests(target: str = "") -> str:
    """Run the tests."""
    return (f"\x1b[31m1 failed\x1b[0m, 4 passed in {next(_clock)}.25s at "
            f"2024-05-0{next(_clock) % 9 + 1}T10:00:00Z")


def list_dir(path: str = ".") -> str:
    """List a directory."""
    return LISTING


def _calls(*names: str) -> dict[str, object]:
    return {"tool_calls": [{"name": n, "arguments": {}} for n in names]}


def _pipe(script: list[object], **kw: object) -> ContextPipeline:
    return ContextPipeline(ScriptedBackend(script),
                           [Prefix(system="You run tests.", tools=[run_tests, list_dir]),
                            History()], **kw)  # type: ignore[arg-type]


def _results(pipe: ContextPipeline) -> list[str]:
    return [b.content for b in pipe.session.transcript if b.kind == "tool_result"]


def test_results_are_canonical_and_reruns_give_equal_bytes() -> None:
    pipe = _pipe([_calls("run_tests"), _calls("run_tests"), "done"])
    pipe.run("run the tests twice")
    first, second = _results(pipe)
    assert first == "1 failed, 4 passed in <DURATION> at <TIMESTAMP>"
    assert second == first  # short outputs are never replaced by a (longer) reference


def test_identical_results_collapse_to_a_reference_to_the_first() -> None:
    pipe = _pipe([{"tool_calls": [{"id": "c1", "name": "list_dir", "arguments": {}}]},
                  {"tool_calls": [{"id": "c2", "name": "list_dir", "arguments": {}}]},
                  {"tool_calls": [{"id": "c3", "name": "run_tests", "arguments": {}}]},
                  "done"])
    pipe.run("look around")
    first, second, third = _results(pipe)
    assert first == LISTING
    assert second == f"{REFERENCE_PREFIX}c1 (list_dir) above]"
    assert third.startswith("1 failed")  # a different result stays itself


def test_results_passed_back_by_the_caller_are_canonicalized_too() -> None:
    pipe = _pipe([{"tool_calls": [ToolCall(id="x1", name="remote", arguments={})]}, "ok"])
    pipe.run("call the remote tool")
    pipe.run(tool_results=[ToolResult(call_id="x1", content="took 120ms \x1b[1mok\x1b[0m")])
    assert _results(pipe) == ["took <DURATION> ok"]


def test_canonical_none_keeps_output_as_returned_except_ansi() -> None:
    pipe = _pipe([_calls("run_tests"), "done"], canonical=None)
    pipe.run("run the tests")
    (out,) = _results(pipe)
    assert "<DURATION>" not in out and "passed in" in out and "\x1b" not in out


def test_a_custom_canonicalizer_is_used() -> None:
    pipe = _pipe([_calls("list_dir"), "done"],
                 canonical=Canonicalizer(max_lines=4, head_lines=2, tail_lines=1))
    pipe.run("list")
    (out,) = _results(pipe)
    assert out.split("\n")[2] == "[... 9 lines omitted ...]"
