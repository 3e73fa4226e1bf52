"""Anthropic backend: the real ``anthropic`` SDK over HTTP against the loopback server."""

from __future__ import annotations

import asyncio

import pytest

from ctxkit import Block, Breakpoint, Budget, Draft, ToolResult, UserError, profile_for
from ctxkit.backends import Anthropic
from ctxkit.layers import History, Prefix

from . import fake_anthropic as fa
from .conftest import SYSTEM, agent
from .fakeserver import FakeServer

MODEL = "claude-sonnet-4-6"


def backend(server: FakeServer, **kw) -> Anthropic:  # type: ignore[no-untyped-def]
    return Anthropic(kw.pop("model", MODEL), base_url=server.url, api_key="test-key", **kw)


def manual_draft(blocks: list[Block], breakpoints: list[Breakpoint]) -> Draft:
    b = Anthropic(MODEL)
    d = Draft(profile=b.profile, counter=b.counter(), budget=Budget())
    d.extend(blocks)
    d.breakpoints = breakpoints
    return d


def cache_marks(req: dict) -> list[tuple[str, str]]:
    """(where, ttl) of every cache_control in a request, in prefix order."""
    out = [("tool:" + t["name"], t["cache_control"]["ttl"]) for t in req.get("tools", [])
           if "cache_control" in t]
    out += [("system", b["cache_control"]["ttl"]) for b in req.get("system", [])
            if "cache_control" in b]
    for i, m in enumerate(req["messages"]):
        out += [(f"{m['role']}:{i}:{c['type']}", c["cache_control"]["ttl"])
                for c in m["content"] if "cache_control" in c]
    return out


def test_breakpoints_land_on_system_project_and_history() -> None:
    pipe = agent(Anthropic(MODEL))
    pipe.session.transcript += [Block(layer="history", role="user", content="hi"),
                                Block(layer="history", role="assistant", content="hello")]
    req = Anthropic(MODEL).render(pipe.assemble("fix the parser"))
    # tools follow the system prompt in the draft but precede it on the wire: the 1h
    # breakpoint after the last tool moves to the system prompt, which covers them all
    # ...and the user's text, right after the history, is cached for the next call to read
    assert cache_marks(req) == [("system", "1h"), ("system", "5m"), ("assistant:1:text", "5m"),
                                ("user:2:text", "5m")]
    assert req["system"][1]["text"].startswith("# AGENTS.md")
    assert [m["role"] for m in req["messages"]] == ["user", "assistant", "user"]
    assert req["messages"][-1]["content"][-1] == {
        "type": "text", "text": "fix the parser",
        "cache_control": {"type": "ephemeral", "ttl": "5m"}}
    assert fa.validate(req) == []


def test_breakpoint_on_a_tool_when_tools_lead() -> None:
    tool = Block(layer="prefix", role="system", kind="tool", name="grep",
                 content='{"description":"d","input_schema":{"type":"object"},"name":"grep"}')
    d = manual_draft([tool, Block(layer="turn", role="user", content="go")],
                     [Breakpoint(0, "1h")])
    req = Anthropic(MODEL).render(d)
    assert req["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_more_than_four_breakpoints_is_refused_and_ttls_are_ordered() -> None:
    blocks = [Block(layer="x", role="user" if i % 2 == 0 else "assistant", content=f"m{i}")
              for i in range(6)]
    with pytest.raises(UserError, match="allows 4"):
        Anthropic(MODEL).render(manual_draft(blocks, [Breakpoint(i, "5m") for i in range(5)]))
    req = Anthropic(MODEL).render(manual_draft(blocks, [Breakpoint(1, "5m"),
                                                         Breakpoint(3, "1h")]))
    assert [ttl for _, ttl in cache_marks(req)] == ["5m", "5m"]  # never 1h after 5m


def test_empty_text_is_not_sent_and_its_breakpoint_moves_back() -> None:
    blocks = [Block(layer="h", role="user", content="q"),
              Block(layer="h", role="assistant", content="a"),
              Block(layer="h", role="user", content="q2"),
              Block(layer="h", role="assistant", content="")]
    req = Anthropic(MODEL).render(manual_draft(blocks, [Breakpoint(3, "5m")]))
    assert [m["role"] for m in req["messages"]] == ["user", "assistant", "user"]
    assert cache_marks(req) == [("user:2:text", "5m")]


def test_minimum_cacheable_length_follows_the_model() -> None:
    # ~2,000 tokens of prefix: cacheable on Sonnet (1,024), not on Opus 4.5 (4,096)
    for model, marked in (("claude-sonnet-4-6", True), ("claude-opus-4-5", False)):
        b = Anthropic(model)
        pipe = agent(b)
        req = b.render(pipe.assemble("hi"))
        assert bool(cache_marks(req)) is marked, model


def test_tool_loop_round_trip(server: FakeServer) -> None:
    server.reply("", tool_calls=[{"name": "grep", "arguments": {"pattern": "parse"}}])
    server.reply("found it")
    pipe = agent(backend(server))
    reply = pipe.run("where is parse?")
    assert reply.text == "found it"
    assert server.violations == []
    second = server.bodies("/v1/messages")[1]
    last = second["messages"][-1]["content"]
    assert last[0]["type"] == "tool_result"
    assert last[0]["content"] == "src/app.py:12: parse = 1"
    assert second["messages"][-2]["content"][0]["type"] == "tool_use"
    assert len(pipe.records) == 2 and all(r.ok for r in pipe.records)


def test_pending_tool_calls_are_answered_through_run(server: FakeServer) -> None:
    server.reply("", tool_calls=[{"id": "toolu_x", "name": "deploy", "arguments": {}}])
    server.reply("deployed")
    pipe = agent(backend(server))
    first = pipe.run("deploy it")
    assert first.tool_calls[0].name == "deploy" and first.stop_reason == "tool_use"
    reply = pipe.run(tool_results=[ToolResult(call_id="toolu_x", content="ok", is_error=True)])
    assert reply.text == "deployed" and server.violations == []
    result = server.bodies("/v1/messages")[1]["messages"][-1]["content"][0]
    assert result == {"type": "tool_result", "tool_use_id": "toolu_x", "content": "ok",
                      "is_error": True, "cache_control": {"type": "ephemeral", "ttl": "5m"}}


def test_usage_is_normalized_and_cache_reads_come_back(server: FakeServer) -> None:
    pipe = agent(backend(server))
    pipe.run("first question")
    pipe.run("second question")
    raw = [a["usage"] for a in server.answers]
    recs = [r.reported for r in pipe.records]
    for u, rep in zip(raw, recs, strict=True):
        assert rep is not None
        assert rep.input_tokens == (u["input_tokens"] + u["cache_read_input_tokens"]
                                    + u["cache_creation_input_tokens"])
        assert rep.cache_read_tokens == u["cache_read_input_tokens"]
        assert rep.cache_write_tokens == u["cache_creation_input_tokens"]
        assert rep.cache_write_1h_tokens == u["cache_creation"]["ephemeral_1h_input_tokens"]
    assert recs[0].cache_read_tokens == 0 and recs[0].cache_write_1h_tokens > 1000
    # the second call reads everything the first one wrote
    assert recs[1].cache_read_tokens == recs[0].cache_write_tokens > 1000
    assert recs[1].cache_write_tokens > 0  # and writes the grown history (5m)
    assert recs[1].cache_write_1h_tokens == 0


def test_thinking_blocks_are_sent_back_with_their_signature(server: FakeServer) -> None:
    server.reply("", thinking="grep first", tool_calls=[{"name": "grep",
                                                         "arguments": {"pattern": "x"}}])
    server.reply("done", thinking="that was enough")
    pipe = agent(backend(server, thinking=2048, max_tokens=4096))
    reply = pipe.run("look for x")
    assert reply.text == "done" and reply.thinking == "that was enough"
    assert server.violations == []  # the server checks every signature it is sent
    second = server.bodies("/v1/messages")[1]
    assert second["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    sent = second["messages"][-2]["content"][0]
    assert sent == {"type": "thinking", "thinking": "grep first",
                    "signature": fa.signature("grep first")}


def test_thinking_unknown_to_the_backend_is_left_out() -> None:
    blocks = [Block(layer="h", role="user", content="q"),
              Block(layer="h", role="assistant", kind="thinking", content="not ours"),
              Block(layer="h", role="assistant", content="a"),
              Block(layer="turn", role="user", content="q2")]
    req = Anthropic(MODEL).render(manual_draft(blocks, []))
    assert req["messages"][1]["content"] == [{"type": "text", "text": "a"}]


def test_stream_yields_text_then_the_response(server: FakeServer) -> None:
    server.reply("a streamed answer, in pieces")
    b = backend(server)
    items = list(b.stream(agent(b).assemble("stream please")))
    *deltas, final = items
    assert len(deltas) > 1 and "".join(deltas) == "a streamed answer, in pieces"
    assert final.text == "a streamed answer, in pieces" and final.stop_reason == "end_turn"
    assert final.usage.cache_write_tokens == server.answers[0]["usage"][
        "cache_creation_input_tokens"]
    assert server.bodies("/v1/messages")[0]["stream"] is True


def test_stream_assembles_tool_input_and_thinking(server: FakeServer) -> None:
    server.reply("", thinking="plan", tool_calls=[{"name": "read_file",
                                                  "arguments": {"path": "a/b.py"}}])
    b = backend(server, thinking=2048, max_tokens=4096)
    final = list(b.stream(agent(b).assemble("read it")))[-1]
    assert final.tool_calls[0].arguments == {"path": "a/b.py"}
    assert final.thinking == "plan"


def test_count_tokens_uses_the_endpoint_when_a_key_is_present(server: FakeServer,
                                                              monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = "def parse(s):\n    return s.split(',')\n" * 20
    b = backend(server)
    assert b.count_tokens(text) == fa.tokens(text)
    assert any(r.path == "/v1/messages/count_tokens" for r in server.requests)
    draft = agent(b).assemble("count me")
    body = {k: v for k, v in b.render(draft).items() if k != "max_tokens"}
    assert b.count_draft(draft) == fa.count(body)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    keyless = Anthropic(MODEL, base_url=server.url)
    n = len(server.requests)
    assert keyless.count_tokens(text) == keyless.counter().count_text(text)
    assert len(server.requests) == n  # no key, no request


def test_async_run_and_stream(server: FakeServer) -> None:
    server.reply("", tool_calls=[{"name": "grep", "arguments": {"pattern": "y"}}])
    server.reply("async done").reply("streamed async")
    b = backend(server)
    pipe = agent(b)

    async def go() -> tuple[str, list[object]]:
        reply = await pipe.arun("find y")
        items = [x async for x in b.astream(pipe.assemble("more"))]
        await b.aclose()
        return reply.text, items

    text, items = asyncio.run(go())
    assert text == "async done" and items[-1].text == "streamed async"
    assert server.violations == []


def test_profile_and_model_name_are_separate() -> None:
    b = Anthropic("my-proxy-claude", profile="claude-opus-4-5")
    assert b.model == "my-proxy-claude" and b.profile.cache.min_tokens == 4096
    pipe = agent(b)
    assert b.render(pipe.assemble("x"))["model"] == "my-proxy-claude"
    assert Anthropic("claude-haiku-4-5").profile == profile_for("claude-haiku-4-5")


def test_budget_output_reserve_is_max_tokens() -> None:
    b = Anthropic(MODEL)
    pipe = agent(b, budget=Budget(reserve_output=1234))
    assert b.render(pipe.assemble("x"))["max_tokens"] == 1234
    assert Anthropic(MODEL, max_tokens=99).render(pipe.assemble("x"))["max_tokens"] == 99


def test_bad_thinking_setting_is_a_user_error() -> None:
    with pytest.raises(UserError, match="1024"):
        Anthropic(MODEL, thinking=100)


def test_history_layer_breakpoint_reaches_the_wire(server: FakeServer) -> None:
    pipe = agent(backend(server))
    pipe.layers = [Prefix(system=SYSTEM), History(ttl="1h")]
    pipe.run("one")
    pipe.run("two")
    marks = cache_marks(server.bodies("/v1/messages")[1])
    assert marks[-2:] == [("assistant:1:text", "1h"), ("user:2:text", "5m")]
    assert server.violations == []
