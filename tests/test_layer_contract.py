"""The Layer contract: a runtime-checkable Protocol; everything a layer contributes goes
through the Draft (blocks, candidates, tools, notes); dry runs; async layers."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

import ctxkit
from ctxkit import Block, ContextPipeline, Draft, ToolCall, Turn, UserError
from ctxkit.layers import History, Prefix
from ctxkit.layers import State as StateLayer
from ctxkit.testing import FunctionBackend, ScriptedBackend


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class Calculator:
    """A layer that brings its own tool: no Prefix needed to offer it."""

    name = "calculator"

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        return draft.add_tool(add)


class Notes:
    name = "notes"

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        draft.propose([Block(layer=self.name, key=f"n{i}", content=f"note {i} " * 15,
                             score=s) for i, s in enumerate([0.9, 0.2, 0.5])])
        draft.note("plain", {"turn": turn.index})
        return draft.note("kept", lambda d: [b.key for b in d.of_layer(self.name)])


def test_every_builtin_layer_and_a_user_layer_is_a_layer() -> None:
    for layer in (Prefix(), History(), StateLayer(ctxkit.WorkingState()), Calculator(), Notes()):
        assert isinstance(layer, ctxkit.Layer), layer
    assert not isinstance(add, ctxkit.Layer)  # a plain function has no name ...
    pipe = ContextPipeline(ScriptedBackend(["ok"]), [lambda draft, turn: draft])
    assert pipe.run("hi").text == "ok"  # ... and is accepted, named by __name__


@pytest.mark.parametrize("bad, words", [
    (Prefix, "class Prefix, not a layer; pass an instance"),
    ("prefix", "str, not a layer"),
    (lambda draft: draft, "cannot be called as layer(draft, turn)"),
])
def test_a_non_layer_is_refused_with_what_a_layer_is(bad: Any, words: str) -> None:
    with pytest.raises(UserError, match="ctxkit.Layer") as err:
        ContextPipeline(ScriptedBackend([]), [History(), bad])
    assert words in str(err.value) and "layers[1]" in str(err.value)


def test_a_layer_offers_a_tool_and_the_tool_loop_runs_it() -> None:
    backend = ScriptedBackend([ToolCall(id="c1", name="add", arguments={"a": 2, "b": 3}),
                               "five"])
    pipe = ContextPipeline(backend, [Prefix(system="Be brief."), History(), Calculator()])
    assert pipe.run("2+3?").text == "five"
    draft = pipe.assemble("again")
    tools = [b for b in draft.blocks if b.kind == "tool"]
    assert [(b.name, b.layer) for b in tools] == [("add", "tools")]
    assert draft.blocks.index(tools[0]) == 1  # in the tools section, after the system prompt
    results = [b for b in pipe.session.transcript if b.kind == "tool_result"]
    assert [r.content for r in results] == ["5"]
    assert pipe.functions == {"add": add}


def test_a_schema_only_tool_is_handed_back() -> None:
    class Remote:
        name = "remote"

        def __call__(self, draft: Draft, turn: Turn) -> Draft:
            return draft.add_tool({"name": "deploy", "description": "Deploy.",
                                   "input_schema": {"type": "object", "properties": {}}})

    pipe = ContextPipeline(ScriptedBackend([ToolCall(id="d", name="deploy")]),
                           [History(), Remote()])
    reply = pipe.run("ship it")
    assert [c.name for c in reply.tool_calls] == ["deploy"] and pipe.session.pending_calls


def test_two_tools_under_one_name_are_refused() -> None:
    def other_add(x: str) -> str:
        """Not the same tool."""
        return x

    other_add.__name__ = "add"

    class Clash:
        name = "clash"

        def __call__(self, draft: Draft, turn: Turn) -> Draft:
            return draft.add_tool(other_add)

    pipe = ContextPipeline(ScriptedBackend([]), [Calculator(), Clash()])
    with pytest.raises(UserError, match="'add' is offered twice"):
        pipe.assemble("x")


def test_the_state_layer_registers_its_own_tool() -> None:
    state = ctxkit.WorkingState(goal="fix the parser")
    call = ToolCall(id="u", name="update_state", arguments={
        "ops": [{"op": "add", "path": "/facts/-",
                 "value": {"text": "the header regex needs a name"}}]})
    pipe = ContextPipeline(ScriptedBackend([call, "noted"]),
                           [Prefix(system="Be brief."), History(), StateLayer(state)])
    assert pipe.run("remember it").text == "noted"
    assert "the header regex needs a name" in state.render()
    tools = [b for b in pipe.assemble("x").blocks if b.kind == "tool"]
    assert [(b.name, b.layer) for b in tools] == [("update_state", "tools")]


def test_the_old_double_wiring_still_works_and_warns() -> None:
    state = ctxkit.WorkingState(goal="g")
    layer = StateLayer(state)
    old = ContextPipeline(ScriptedBackend([]), [Prefix(system="s", tools=[layer.tool]),
                                                History(), layer])
    with pytest.warns(DeprecationWarning, match=r"drop it from Prefix\(tools"):
        draft = old.assemble("x")
    tools = [b for b in draft.blocks if b.kind == "tool"]
    assert [(b.name, b.layer) for b in tools] == [("update_state", "prefix")]  # where it was
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old.assemble("y")  # once per layer


def test_notes_reach_the_record_and_deferred_ones_see_the_packed_draft() -> None:
    pipe = ContextPipeline(ScriptedBackend(["ok"]), [History(), Notes()],
                           budget=ctxkit.Budget(caps={"notes": 100}))
    pipe.run("hi")
    extras = pipe.records[0].extras
    assert extras["plain"] == {"turn": 0}
    assert extras["kept"] == [b.key for b in pipe.assemble("x").of_layer("notes")]
    assert 0 < len(extras["kept"]) < 3  # the cap dropped some; the note says which stayed
    draft = ctxkit.Draft(profile=pipe.backend.profile, counter=pipe.backend.counter(),
                         budget=pipe.budget)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        draft.extras["old"] = 1  # the deprecated way still lands in the notes
    assert draft.resolved_notes() == {"old": 1}


def test_a_dry_run_commits_nothing() -> None:
    state = ctxkit.WorkingState(goal="g")
    pipe = ContextPipeline(ScriptedBackend([]), [History(), StateLayer(state)])
    state.open_questions.append("is None allowed?")  # changed in place, not yet a version
    draft = pipe.assemble("x")
    assert "is None allowed?" in draft.of_layer("state")[0].content
    assert state.version == 0  # rendered, not committed
    assert pipe.records == [] and pipe.session.transcript == []


class Slow:
    """An async layer: ``__call__`` returns an awaitable of the draft."""

    name = "slow"

    async def __call__(self, draft: Draft, turn: Turn) -> Draft:
        await asyncio.sleep(0)
        return draft.add(Block(layer=self.name, content=f"async note for turn {turn.index}"))


def test_an_async_layer_works_under_run_and_arun() -> None:
    def pipe() -> ContextPipeline:
        return ContextPipeline(FunctionBackend(lambda d: d.of_layer("slow")[0].content),
                               [History(), Slow()])

    assert pipe().run("hi").text == "async note for turn 0"
    assert asyncio.run(pipe().arun("hi")).text == "async note for turn 0"


def test_arun_prefers_a_layers_async_form() -> None:
    class Both:
        name = "both"

        def __call__(self, draft: Draft, turn: Turn) -> Draft:
            return draft.add(Block(layer=self.name, content="sync"))

        async def acall(self, draft: Draft, turn: Turn) -> Draft:
            return draft.add(Block(layer=self.name, content="async"))

    def answer(d: Draft) -> str:
        return d.of_layer("both")[0].content

    sync = ContextPipeline(FunctionBackend(answer), [Both()])
    assert sync.run("x").text == "sync"
    both = ContextPipeline(FunctionBackend(answer), [Both()])
    assert asyncio.run(both.arun("x")).text == "async"


def test_the_first_contracts_functions_attribute_still_runs_and_warns() -> None:
    from ctxkit import _deprecated, canonical_json
    from ctxkit._tools import tool_schema

    class Old:  # tool blocks added by hand, callables in `functions`: the first contract
        name = "old"
        functions = {"add": add}

        def __call__(self, draft: Draft, turn: Turn) -> Draft:
            return draft.add(Block(layer=self.name, role="system", kind="tool", name="add",
                                   content=canonical_json(tool_schema(add))))

    _deprecated._warned.discard("layer.functions")
    pipe = ContextPipeline(ScriptedBackend([ToolCall(id="c", name="add",
                                                     arguments={"a": 1, "b": 1}), "two"]),
                           [Old(), History()])
    with pytest.warns(DeprecationWarning, match="draft.add_tool"):
        assert pipe.run("1+1?").text == "two"
    assert [b.content for b in pipe.session.transcript if b.kind == "tool_result"] == ["2"]
