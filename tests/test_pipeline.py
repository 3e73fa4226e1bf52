"""ContextPipeline through its public API: run/arun, assemble, the tool loop, failures."""

from __future__ import annotations

import asyncio

import pytest

from ctxkit import (
    BackendError,
    Block,
    ContextPipeline,
    Draft,
    Response,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
    UserError,
)
from ctxkit.layers import History, Prefix
from ctxkit.testing import FunctionBackend, ScriptedBackend, capture_calls
from tests.helpers import LONG_SYSTEM, make_pipe

SCRIPT = [
    {"tool_calls": [{"id": "c1", "name": "read_file", "arguments": {"path": "parser.py"}}]},
    {"tool_calls": [{"id": "c2", "name": "grep", "arguments": {"pattern": "def parse"}},
                    {"id": "c3", "name": "read_file", "arguments": {"path": "t.py", "end": 9}}]},
    "Fixed: parse() now returns [] for empty input.",
    "You're welcome.",
]


def test_tool_loop_runs_callables_and_keeps_calls_with_results() -> None:
    pipe = make_pipe(SCRIPT)
    reply = pipe.run("the parser test fails on empty input; fix it")
    assert reply.text.startswith("Fixed")
    assert len(pipe.records) == 3 and reply.record_id == pipe.records[-1].call_id
    kinds = [(b.kind, b.call_id) for b in pipe.session.transcript]
    assert kinds == [("text", None), ("tool_use", "c1"), ("tool_result", "c1"),
                     ("tool_use", "c2"), ("tool_use", "c3"), ("tool_result", "c2"),
                     ("tool_result", "c3"), ("text", None)]
    results = [b for b in pipe.session.transcript if b.kind == "tool_result"]
    assert results[0].content == "<contents of parser.py lines 1-None>"
    assert results[2].content == "<contents of t.py lines 1-9>"
    assert all(b.trust == "untrusted" for b in results)
    pipe.run("thanks")
    assert [r.turn for r in pipe.records] == [0, 0, 0, 1]
    assert [r.step for r in pipe.records] == [0, 1, 2, 0]


def test_run_and_arun_make_the_same_calls() -> None:
    sync = make_pipe(SCRIPT)
    sync.run("fix it")
    sync.run("thanks")
    asy = make_pipe(SCRIPT)

    async def go() -> None:
        await asy.arun("fix it")
        await asy.arun("thanks")

    asyncio.run(go())
    assert [r.prompt_hash for r in sync.records] == [r.prompt_hash for r in asy.records]
    assert [r.usage for r in sync.records] == [r.usage for r in asy.records]


def test_async_tools_and_async_backend() -> None:
    async def lookup(name: str) -> dict:
        """Look a symbol up."""
        await asyncio.sleep(0)
        return {"symbol": name, "line": 3}

    async def model(draft: Draft) -> Response:
        if draft.blocks[-1].kind == "tool_result":
            return Response(text="line " + draft.blocks[-1].content)
        return Response(tool_calls=[ToolCall(id="a", name="lookup", arguments={"name": "x"})])

    pipe = ContextPipeline(backend=FunctionBackend(model),
                           layers=[Prefix(system="s", tools=[lookup]), History()])
    reply = asyncio.run(pipe.arun("where is x?"))
    assert reply.text == 'line {"line":3,"symbol":"x"}'


def test_tool_errors_and_bad_arguments_go_back_to_the_model() -> None:
    def boom(path: str) -> str:
        """Always fails."""
        raise FileNotFoundError(path)

    pipe = ContextPipeline(
        backend=ScriptedBackend([
            {"tool_calls": [{"id": "1", "name": "boom", "arguments": {"path": "x"}},
                            {"id": "2", "name": "boom", "arguments": {"nope": 1}}]}, "ok"]),
        layers=[Prefix(system="s", tools=[boom]), History()])
    pipe.run("go")
    res = [b for b in pipe.session.transcript if b.kind == "tool_result"]
    assert res[0].is_error and res[0].content == "FileNotFoundError: x"
    assert res[1].is_error and "bad arguments for boom" in res[1].content


def test_a_tool_returning_neither_text_nor_json_warns_its_author() -> None:
    # once the model got "TypeError: Object of type set is not JSON serializable" as if it
    # had erred, and the author of the tool heard nothing
    def tags(path: str) -> str:
        """Tags of a file."""
        return {"b", "a"}  # type: ignore[return-value]

    def data(path: str) -> str:
        """Structured data is fine: it goes to the model as canonical JSON."""
        return {"path": path, "sizes": [1, 2]}  # type: ignore[return-value]

    pipe = ContextPipeline(
        backend=ScriptedBackend([
            {"tool_calls": [{"id": "1", "name": "tags", "arguments": {"path": "x"}},
                            {"id": "2", "name": "data", "arguments": {"path": "x"}}]}, "ok"]),
        layers=[Prefix(system="s", tools=[tags, data]), History()])
    with pytest.warns(RuntimeWarning, match=r"tool 'tags' returned set.*return a str"):
        pipe.run("go")
    res = [b for b in pipe.session.transcript if b.kind == "tool_result"]
    assert res[0].is_error and "TypeError" not in res[0].content
    assert "tags failed" in res[0].content and "not in your arguments" in res[0].content
    assert not res[1].is_error and res[1].content == '{"path":"x","sizes":[1,2]}'


def test_unknown_tools_are_handed_back_then_continued_with_results() -> None:
    search = {"name": "web_search", "description": "Search the web.",
              "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    pipe = ContextPipeline(
        backend=ScriptedBackend([{"tool_calls": [{"id": "w1", "name": "web_search",
                                                  "arguments": {"q": "ctxkit"}}]}, "found it"]),
        layers=[Prefix(system="s", tools=[search]), History()])
    reply = pipe.run("search")
    assert [c.name for c in reply.tool_calls] == ["web_search"]
    with pytest.raises(UserError, match="w1"):
        pipe.run("something else")  # the pending call needs its result first
    with pytest.raises(UserError, match="unknown call"):
        pipe.run(tool_results=[ToolResult(call_id="zzz", content="?")])
    assert pipe.run(tool_results=[ToolResult(call_id="w1", content="3 hits")]).text == "found it"
    last = pipe.session.transcript[-2]
    assert (last.kind, last.name, last.content) == ("tool_result", "web_search", "3 hits")


def test_bad_tool_results_are_refused_whole_and_leave_the_session_as_it_was() -> None:
    # a refused batch once left its first results in the history, so the corrected retry
    # sent the model each of them twice; dicts and a bare ToolResult raised AttributeError
    search = {"name": "web_search", "description": "Search the web.",
              "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    pipe = ContextPipeline(
        backend=ScriptedBackend([{"tool_calls": [
            {"id": "w1", "name": "web_search", "arguments": {"q": "a"}},
            {"id": "w2", "name": "web_search", "arguments": {"q": "b"}}]}, "found it"]),
        layers=[Prefix(system="s", tools=[search]), History()])
    pipe.run("search")
    before = list(pipe.session.transcript)
    with pytest.raises(UserError, match="unknown call 'w9'"):
        pipe.run(tool_results=[ToolResult(call_id="w1", content="1"),
                               ToolResult(call_id="w9", content="?")])
    with pytest.raises(UserError, match="w2.* still need results"):
        pipe.run(tool_results=[ToolResult(call_id="w1", content="1")])
    with pytest.raises(UserError, match="twice"):
        pipe.run(tool_results=[ToolResult(call_id="w1", content="1"),
                               ToolResult(call_id="w1", content="1")])
    with pytest.raises(UserError, match="a list of ToolResult"):
        pipe.run(tool_results=ToolResult(call_id="w1", content="1"))  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"tool_results\[0\].*content"):
        pipe.run(tool_results=[{"call_id": "w1", "content": 5}])  # type: ignore[list-item]
    assert pipe.session.transcript == before and set(pipe.session.pending_calls) == {"w1", "w2"}
    # dicts in ToolResult's shape are taken as ToolResults
    reply = pipe.run(tool_results=[{"call_id": "w1", "content": "1 hit"},  # type: ignore[list-item]
                                   ToolResult(call_id="w2", content="2 hits")])
    assert reply.text == "found it"
    results = [b.content for b in pipe.session.transcript if b.kind == "tool_result"]
    assert results == ["1 hit", "2 hits"]


@pytest.mark.parametrize("bad", [0, -1, "3", 2.5, float("nan"), None, True])
def test_max_steps_must_be_a_whole_number_of_calls(bad: object) -> None:
    # run(max_steps=0) once fell back to the default 8, -1 acted as 1, NaN never stopped
    # the tool loop, and "3" or None raised TypeError from a comparison
    with pytest.raises(UserError, match=r"max_steps must be a whole number >= 1"):
        make_pipe(["a"], max_steps=bad)
    if bad is None:  # run(max_steps=None) means the pipeline's
        return
    pipe = make_pipe(["a"])
    with pytest.raises(UserError, match=r"max_steps must be a whole number >= 1"):
        pipe.run("q", max_steps=bad)  # type: ignore[arg-type]
    assert pipe.records == [] and pipe.session.transcript == []


def test_max_steps_hands_the_loop_back() -> None:
    loop = [{"tool_calls": [{"id": f"c{i}", "name": "grep", "arguments": {"pattern": "x"}}]}
            for i in range(5)]
    pipe = make_pipe(loop, max_steps=2)
    reply = pipe.run("go")
    assert len(pipe.records) == 2 and reply.tool_calls
    assert set(pipe.session.pending_calls) == {"c1"}


def test_assemble_is_a_dry_run() -> None:
    pipe = make_pipe(["one", "two"])
    pipe.run("first")
    before = (list(pipe.session.transcript), len(pipe.records), dict(pipe._cache.entries))
    with capture_calls() as cap:
        draft = pipe.assemble("next turn")
    assert len(cap) == 0
    assert (list(pipe.session.transcript), len(pipe.records), dict(pipe._cache.entries)) == before
    assert draft.blocks[-1].content == "next turn" and draft.blocks[-1].layer == "turn"
    msgs = draft.to_messages()
    assert msgs["system"].startswith("You are a careful")
    assert [t["name"] for t in msgs["tools"]] == ["grep", "read_file"]
    assert [m["role"] for m in msgs["messages"]] == ["user", "assistant", "user"]
    # the dry run is exactly what the next run sends
    with capture_calls() as cap:
        pipe.run("next turn")
    assert cap.drafts[0].serialize() == draft.serialize()


def test_a_failed_call_is_recorded_once_and_loses_nothing() -> None:
    state = {"fail": False}

    def flaky(draft: Draft) -> str:
        if state["fail"]:
            raise BackendError("overloaded", status=529, retryable=True)
        return "fine"

    pipe = ContextPipeline(backend=FunctionBackend(flaky),
                           layers=[Prefix(system=LONG_SYSTEM), History()])
    pipe.run("a")
    state["fail"] = True
    transcript = list(pipe.session.transcript)
    with pytest.raises(BackendError, match="overloaded"):
        pipe.run("b")
    assert pipe.session.transcript == transcript
    assert [r.ok for r in pipe.records] == [True, False]
    assert pipe.records[1].cost_usd == 0 and "overloaded" in (pipe.records[1].error or "")
    state["fail"] = False
    pipe.run("b")
    assert [r.ok for r in pipe.records] == [True, False, True]
    rep = pipe.report()
    assert len(rep.calls) == 2 and len(rep.failed) == 1
    assert rep.input_tokens == sum(r.usage.input_tokens for r in pipe.records if r.ok)


def test_per_turn_layers_render_after_history_before_the_user_text() -> None:
    def notes(draft: Draft, turn: Turn) -> Draft:
        return draft.add(Block(layer="notes", role="user", content=f"note for {turn.message}"))

    pipe = ContextPipeline(backend=ScriptedBackend(["a", "b"]),
                           layers=[Prefix(system=LONG_SYSTEM), History(), notes])
    pipe.run("one")
    draft = pipe.assemble("two")
    assert [b.layer for b in draft.blocks] == ["prefix", "history", "history", "notes", "turn"]
    last = draft.to_messages()["messages"][-1]
    assert [p["text"] for p in last["content"]] == ["note for two", "two"]


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(UserError, match="Backend"):
        ContextPipeline(backend="anthropic", layers=[])  # type: ignore[arg-type]
    with pytest.raises(UserError, match="callable"):
        ContextPipeline(backend=ScriptedBackend([]), layers=["prefix"])
    pipe = make_pipe(["x"])
    with pytest.raises(UserError, match="message or tool_results"):
        pipe.run()
    bad = ContextPipeline(backend=ScriptedBackend(["x"]), layers=[lambda d, t: "oops"])
    with pytest.raises(UserError, match="returned str"):
        bad.run("hi")
    with pytest.raises(UserError, match="duplicate tool"):
        Prefix(tools=[{"name": "a"}, {"name": "a"}])
    with pytest.raises(UserError, match="not readable"):
        make_pipe(["x"]).layers[0].__class__(project=["/nonexistent/AGENTS.md"]).blocks()


def test_reported_usage_is_kept_beside_the_prediction() -> None:
    def model(draft: Draft) -> Response:
        return Response(text="ok", usage=Usage(input_tokens=draft.num_tokens, output_tokens=1,
                                               cache_read_tokens=0))

    from ctxkit import profile_for
    pipe = ContextPipeline(backend=FunctionBackend(model, model=profile_for("gpt-4o")),
                           layers=[Prefix(system=LONG_SYSTEM * 2), History()])
    pipe.run("one")
    pipe.run("two")
    first, second = pipe.records
    assert first.disagreement is None
    assert second.predicted.cache_read_tokens >= 1024 and second.reported is not None
    assert second.usage.cache_read_tokens == 0  # the reported value wins
    assert "cache read predicted" in (second.disagreement or "")
    assert "disagree" in pipe.report().render()
