"""LangChain v1 ``create_agent`` with ctxkit's middleware: the real ``langchain`` package,
a fake chat model that records what it was sent, a tool loop. The prompt the model sees is
the one ctxkit's layers assembled, and every model call leaves a CallRecord."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langchain.agents", reason="pip install 'ctxkit[langchain]'")

from langchain.agents import create_agent  # noqa: E402
from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from ctxkit import UserError, WorkingState  # noqa: E402
from ctxkit.integrations.langchain import ContextMiddleware  # noqa: E402
from ctxkit.layers import History, Prefix, State  # noqa: E402
from tests.helpers import LONG_SYSTEM  # noqa: E402


class ScriptedChat(BaseChatModel):
    """Answers from a script; keeps every message list it was sent."""

    script: list[AIMessage]
    seen: list[list[Any]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kw: Any) -> Any:
        return self

    def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None,
                  **kw: Any) -> ChatResult:
        self.seen.append(list(messages))
        reply = self.script[len(self.seen) - 1]
        return ChatResult(generations=[ChatGeneration(message=reply)])


@tool
def grep(pattern: str) -> str:
    """Search the repository for a pattern."""
    return f"src/parse.py:3: def {pattern}("


def usage(n: int, read: int = 0) -> dict[str, Any]:
    return {"input_tokens": n, "output_tokens": 5, "total_tokens": n + 5,
            "input_token_details": {"cache_read": read}}


def test_tool_loop_through_ctxkit_layers_leaves_a_record_per_model_call() -> None:
    model = ScriptedChat(script=[
        AIMessage(content="", tool_calls=[{"name": "grep", "args": {"pattern": "parse"},
                                           "id": "call_1"}], usage_metadata=usage(1500)),
        AIMessage(content="the bug is in parse()", usage_metadata=usage(1560, read=1400)),
        AIMessage(content="fixed", usage_metadata=usage(1600, read=1500))], seen=[])
    state = WorkingState(goal="fix the parser test")
    mw = ContextMiddleware([Prefix(system=LONG_SYSTEM, tools=[grep_schema()]), History(),
                            State(state)], model="claude-sonnet-4-5")
    agent = create_agent(model, tools=[grep], middleware=[mw], system_prompt="ignored")
    out = agent.invoke({"messages": [HumanMessage("where is parse defined?")]})
    assert out["messages"][-1].content == "the bug is in parse()"
    assert isinstance(out["messages"][2], ToolMessage)  # LangChain ran the tool
    out = agent.invoke({"messages": [*out["messages"], HumanMessage("fix it")]})
    assert out["messages"][-1].content == "fixed"
    first, second, third = model.seen
    # the model saw ctxkit's prompt: the Prefix's system prompt, not the agent's
    assert isinstance(first[0], SystemMessage) and first[0].content == LONG_SYSTEM
    assert "fix the parser test" in first[-1].content  # the State block, in the last message
    assert first[-1].content.endswith("where is parse defined?")
    # the tool result came back through the pipeline, right after its call
    calls = [m for m in second if isinstance(m, AIMessage) and m.tool_calls]
    assert calls and calls[0].tool_calls[0]["id"] == "call_1"
    results = [m for m in second if isinstance(m, ToolMessage)]
    assert results and results[0].content == "src/parse.py:3: def parse("
    assert third[-1].content.endswith("fix it")
    pipe = mw.pipeline
    assert pipe is not None
    records = pipe.records
    assert len(records) == 3 and len({r.session_id for r in records}) == 1
    assert [r.reported.input_tokens for r in records] == [1500, 1560, 1600]  # type: ignore[union-attr]
    assert records[2].reported.cache_read_tokens == 1500  # type: ignore[union-attr]
    assert {"prefix", "history", "state"} <= set(records[1].by_layer)
    assert not any(r.drift for r in records)
    assert "prefix" in pipe.report().render()


def grep_schema() -> dict[str, Any]:
    return {"name": "grep", "description": "Search the repository for a pattern.",
            "input_schema": {"type": "object", "properties": {"pattern": {"type": "string"}},
                             "required": ["pattern"]}}


def test_default_layers_take_the_agents_system_prompt_and_tools() -> None:
    model = ScriptedChat(script=[AIMessage(content="hi", usage_metadata=usage(1200))], seen=[])
    mw = ContextMiddleware(model="gpt-4o")
    agent = create_agent(model, tools=[grep], middleware=[mw], system_prompt=LONG_SYSTEM)
    agent.invoke({"messages": [HumanMessage("hello")]})
    (sent,) = model.seen
    assert sent[0].content == LONG_SYSTEM and sent[-1].content == "hello"
    (record,) = mw.pipeline.records  # type: ignore[union-attr]
    assert [b.key for b in record.blocks if b.kind == "tool"] == ["tool:grep"]
    assert record.model == "gpt-4o" and record.cost_usd > 0


PARSER = '''"""The config parser."""


def parse_header(line):
    """Split a section header such as [server] into its name."""
    return line.strip()[1:-1]
'''
GUIDE = ("# Retry guide\n\nThe retry backoff delay doubles after each failed attempt, "
         "capped at 30 s.\n")


def test_retrieval_and_memory_layers_reach_the_model_through_a_tool_loop(tmp_path: Any) -> None:
    """A real index (tmp dir) and a real memory store (SQLite + LanceDB on tmp) feed the
    prompt of a LangChain agent: the retrieved chunk, the user's semantic fact and the
    recalled episode are in what the model receives, at the first call and in the tool
    loop's second; the records count their tokens by layer."""
    pytest.importorskip("lancedb", reason="pip install 'ctxkit[memory]'")
    from ctxkit.layers import Memory, Recall, Retrieval
    from ctxkit.memory import HashingEmbedder, MemoryStore, Scope
    from ctxkit.retrieval import Index

    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "config.py").write_text(PARSER)
    (repo / "docs").mkdir()
    (repo / "docs" / "retry.md").write_text(GUIDE)
    index = Index(tmp_path / "index", embedder=None, base=str(tmp_path))
    index.add_paths([repo])
    store = MemoryStore(f"sqlite:///{tmp_path / 'mem.db'}", vectors=tmp_path / "mem.vectors",
                        embedder=HashingEmbedder(64))
    scope = Scope(tenant="acme", user="u1", session="s1")
    fact = store.write(scope, "The user prefers pytest over unittest", tier="semantic",
                       source="user")
    episode = store.write(scope, "Last week the section header parser broke on empty "
                          "brackets; the fix was a length check", tier="episodic",
                          source="agent")
    model = ScriptedChat(script=[
        AIMessage(content="", tool_calls=[{"name": "grep", "args": {"pattern": "header"},
                                           "id": "call_1"}], usage_metadata=usage(1500)),
        AIMessage(content="parse_header splits it", usage_metadata=usage(1600, read=1400))],
        seen=[])
    mw = ContextMiddleware([Prefix(system=LONG_SYSTEM, tools=[grep_schema()]),
                            Memory(store, scope=scope), History(),
                            Retrieval(index, k=3, min_score=0.0),
                            Recall(store, scope=scope, k=2)], model="claude-sonnet-4-5")
    agent = create_agent(model, tools=[grep], middleware=[mw], system_prompt="ignored")
    try:
        out = agent.invoke({"messages": [HumanMessage("where is the section header parsed?")]})
    finally:
        store.close()
    assert out["messages"][-1].content == "parse_header splits it"
    first, second = model.seen
    for sent in (first, second):  # the tool loop's second call is assembled the same way
        text = "\n".join(str(m.content) for m in sent)
        assert "def parse_header(line):" in text  # the retrieved chunk
        assert "prefers pytest over unittest" in text  # the semantic fact (Memory)
        assert "broke on empty brackets" in text  # the recalled episode (Recall)
        assert isinstance(sent[0], SystemMessage) and sent[0].content.startswith(LONG_SYSTEM)
        assert "prefers pytest" in sent[0].content  # Memory joins the system prompt
    # the tool result sits right after its call; the turn's evidence comes after both
    at = next(i for i, m in enumerate(second) if isinstance(m, AIMessage) and m.tool_calls)
    assert isinstance(second[at + 1], ToolMessage)
    assert second[at + 1].content == "src/parse.py:3: def header("
    assert "def parse_header(line):" in str(second[-1].content)
    records = mw.pipeline.records  # type: ignore[union-attr]
    assert len(records) == 2
    for rec in records:
        for layer in ("retrieval", "memory", "recall"):
            assert rec.by_layer[layer].total > 0, (layer, rec.by_layer)
        reads = rec.extras["memory"]["reads"]
        assert {r["layer"] for r in reads} == {"memory", "recall"}
        assert fact.id in next(r for r in reads if r["layer"] == "memory")["ids"]
        assert episode.id in next(r for r in reads if r["layer"] == "recall")["ids"]
        (search,) = rec.extras["retrieval"]["searches"]
        assert search["query"] == "where is the section header parsed?"  # the asking turn
        assert any(h["packed"] and h["ref"].startswith("repo/src/config.py:")
                   for h in search["hits"])


def test_a_conversation_the_middleware_has_not_followed_is_refused_not_mixed_in() -> None:
    # one agent (and its middleware) built once, invoked for two unrelated conversations:
    # the second's messages were read from the first's length on, so its first message was
    # skipped (a one-message conversation ran with no message at all) and its later ones
    # were appended to the first conversation's history, which the model was then sent
    model = ScriptedChat(script=[AIMessage("a1", usage_metadata=usage(1200)),
                                 AIMessage("a2", usage_metadata=usage(1200))], seen=[])
    mw = ContextMiddleware(model="gpt-4o")
    agent = create_agent(model, tools=[grep], middleware=[mw], system_prompt=LONG_SYSTEM)
    first = agent.invoke({"messages": [HumanMessage("alice: my card ends 4242")]})
    with pytest.raises(UserError, match="one conversation") as info:
        agent.invoke({"messages": [HumanMessage("bob: hi"), AIMessage("hello bob"),
                                   HumanMessage("bob: what did the last user say?")]})
    assert "new ContextMiddleware" in str(info.value)
    assert len(model.seen) == 1  # the model never got bob's call with alice's history
    # the conversation it follows goes on
    agent.invoke({"messages": [*first["messages"], HumanMessage("alice: thanks")]})
    assert model.seen[1][-1].content == "alice: thanks"
    assert "alice: my card ends 4242" in [m.content for m in model.seen[1]]


@tool
def rows(table: str) -> list[dict[str, Any]]:
    """Rows of a table, as LangChain content blocks."""
    return [{"type": "text", "text": f"{table}: "}, {"type": "json", "json": {"rows": [1, 2]}}]


def test_message_parts_reach_the_model_as_text_and_media_is_refused_by_name() -> None:
    # a content list's parts other than text were dropped: a tool's "json" block reached
    # the model as an empty result, a data part of the user's message and an image vanished
    model = ScriptedChat(script=[
        AIMessage("", tool_calls=[{"name": "rows", "args": {"table": "t"}, "id": "c1"}],
                  usage_metadata=usage(1200)),
        AIMessage("done", usage_metadata=usage(1300))], seen=[])
    mw = ContextMiddleware(model="gpt-4o")
    agent = create_agent(model, tools=[rows], middleware=[mw], system_prompt=LONG_SYSTEM)
    agent.invoke({"messages": [HumanMessage(content=[{"type": "text", "text": "rows? "},
                                                     {"since": "2026-12-01"}])]})
    assert model.seen[0][-1].content == 'rows? {"since": "2026-12-01"}'
    (result,) = [m for m in model.seen[1] if isinstance(m, ToolMessage)]
    assert result.content == 't: {"type": "json", "json": {"rows": [1, 2]}}'
    agent2 = create_agent(ScriptedChat(script=model.script, seen=[]), tools=[],
                          middleware=[ContextMiddleware(model="gpt-4o")],
                          system_prompt=LONG_SYSTEM)
    with pytest.raises(UserError, match="image_url"):
        agent2.invoke({"messages": [HumanMessage(content=[
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}])]})


def test_an_agent_run_async_goes_through_the_layers_too() -> None:
    # only wrap_model_call existed: ainvoke/astream (LangGraph servers run agents async)
    # failed with LangChain's NotImplementedError for awrap_model_call
    import asyncio

    model = ScriptedChat(script=[
        AIMessage("", tool_calls=[{"name": "grep", "args": {"pattern": "parse"},
                                   "id": "call_1"}], usage_metadata=usage(1500)),
        AIMessage("in src/parse.py", usage_metadata=usage(1560, read=1400))], seen=[])
    mw = ContextMiddleware([Prefix(system=LONG_SYSTEM, tools=[grep_schema()]), History()],
                           model="claude-sonnet-4-5")
    agent = create_agent(model, tools=[grep], middleware=[mw], system_prompt="ignored")
    out = asyncio.run(agent.ainvoke({"messages": [HumanMessage("where is parse?")]}))
    assert out["messages"][-1].content == "in src/parse.py"
    first, second = model.seen
    assert first[0].content == LONG_SYSTEM and first[-1].content == "where is parse?"
    (result,) = [m for m in second if isinstance(m, ToolMessage)]
    assert result.content == "src/parse.py:3: def parse("
    records = mw.pipeline.records  # type: ignore[union-attr]
    assert [r.reported.input_tokens for r in records] == [1500, 1560]  # type: ignore[union-attr]
    with pytest.raises(UserError, match="one conversation"):
        asyncio.run(agent.ainvoke({"messages": [HumanMessage("another conversation")]}))
