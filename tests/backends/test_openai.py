"""OpenAI backend: the real ``openai`` SDK over HTTP against the loopback server, for Chat
Completions, Responses, and an OpenAI-compatible (vLLM-like) server."""

from __future__ import annotations

import asyncio

import pytest

from ctxkit import UserError
from ctxkit.backends import OpenAI

from .conftest import AGENTS_MD, SYSTEM, agent
from .fakeserver import FakeServer

TOOL_REPLY = {"tool_calls": [{"name": "grep", "arguments": {"pattern": "parse"}}]}


def backend(server: FakeServer, **kw) -> OpenAI:  # type: ignore[no-untyped-def]
    return OpenAI(kw.pop("model", "gpt-5"), base_url=server.openai_url, api_key="test-key",
                  **kw)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_tool_loop_round_trip(server: FakeServer, api: str) -> None:
    server.reply("", **TOOL_REPLY).reply("found it")
    pipe = agent(backend(server, api=api))
    assert pipe.run("where is parse?").text == "found it"
    assert server.violations == []
    path = "/v1/chat/completions" if api == "chat" else "/v1/responses"
    second = server.bodies(path)[1]
    if api == "chat":
        msgs = second["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool"]
        assert msgs[2]["content"] is None
        call = msgs[2]["tool_calls"][0]
        assert call["function"] == {"name": "grep", "arguments": '{"pattern":"parse"}'}
        assert msgs[3] == {"role": "tool", "tool_call_id": call["id"],
                           "content": "src/app.py:12: parse = 1"}
        assert {t["function"]["name"] for t in second["tools"]} == {"grep", "read_file"}
    else:
        items = second["input"]
        assert [i.get("type", i.get("role")) for i in items] == [
            "system", "user", "function_call", "function_call_output"]
        assert items[3]["output"] == "src/app.py:12: parse = 1"
        assert second["tools"][0]["type"] == "function" and "parameters" in second["tools"][0]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_cached_tokens_are_read_back(server: FakeServer, api: str) -> None:
    pipe = agent(backend(server, api=api))
    pipe.run("first question")
    pipe.run("second question")
    first, second = (r.reported for r in pipe.records)
    assert first is not None and second is not None
    assert first.cache_read_tokens == 0
    key = "prompt_tokens_details" if api == "chat" else "input_tokens_details"
    total = "prompt_tokens" if api == "chat" else "input_tokens"
    u = server.answers[1]["usage"]
    assert second.cache_read_tokens == u[key]["cached_tokens"] >= 1024
    assert second.input_tokens == u[total]  # OpenAI's prompt count already includes cached
    assert pipe.records[1].by_layer["prefix"].read > 0


def test_prompt_cache_key_is_stable_per_session(server: FakeServer) -> None:
    a = agent(backend(server, cache_key="session"))
    a.run("fix the parser")
    a.run("now the lexer")
    b = agent(backend(server, cache_key="session"))
    b.run("write docs")
    keys = [body["prompt_cache_key"] for body in server.bodies("/v1/chat/completions")]
    assert keys[0] == keys[1] != keys[2]
    assert all(k.startswith("ctxkit-") for k in keys)
    c = agent(backend(server, cache_key="prefix"))
    c.run("anything")
    d = agent(backend(server, cache_key="prefix"))
    d.run("something else")
    k3, k4 = (body["prompt_cache_key"] for body in server.bodies("/v1/chat/completions")[3:])
    assert k3 == k4  # one key per system + tools, shared by sessions


def test_prompt_cache_key_defaults() -> None:
    official = OpenAI("gpt-5", api_key="k")
    assert official.render(agent(official).assemble("x"))["prompt_cache_key"].startswith(
        "ctxkit-")
    hosted = OpenAI("gpt-5", base_url="http://localhost:1/v1")
    assert "prompt_cache_key" not in hosted.render(agent(hosted).assemble("x"))
    fixed = OpenAI("gpt-5", api_key="k", cache_key="team-a")
    assert fixed.render(agent(fixed).assemble("x"))["prompt_cache_key"] == "team-a"


def test_vllm_like_server_that_reports_no_cache() -> None:
    with FakeServer(report_cached=False, openai_min_tokens=0, openai_increment=16) as server:
        b = OpenAI("Qwen/Qwen3-8B", base_url=server.openai_url, profile="vllm")
        assert b.name == "openai-compatible" and b.api_key == "EMPTY"
        pipe = agent(b)
        pipe.run("one")
        pipe.run("two")
        rec = pipe.records[1]
        assert rec.reported is None  # the profile says the server does not report cache hits
        assert rec.predicted.cache_read_tokens > 0  # so the record keeps ctxkit's prediction
        assert rec.usage.output_tokens == server.answers[1]["usage"]["completion_tokens"]
        assert "prompt_tokens_details" not in server.answers[1]["usage"]


def test_compatible_server_that_reports_cache() -> None:
    with FakeServer(openai_min_tokens=0, openai_increment=16) as server:
        b = OpenAI("served-model", base_url=server.openai_url, profile="local")
        pipe = agent(b)
        pipe.run("one")
        pipe.run("two")
        assert pipe.records[1].reported is not None
        assert pipe.records[1].reported.cache_read_tokens == \
            server.answers[1]["usage"]["prompt_tokens_details"]["cached_tokens"] > 0


def test_unknown_model_needs_a_profile_unless_self_hosted() -> None:
    assert OpenAI("my-finetune", base_url="http://h/v1").profile.cache.kind == "paged"
    with pytest.raises(UserError, match="no profile"):
        OpenAI("my-finetune", api_key="k")
    with pytest.raises(UserError, match="api="):
        OpenAI("gpt-5", api="completions")  # type: ignore[arg-type]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_yields_text_then_the_response(server: FakeServer, api: str) -> None:
    server.reply("a streamed answer, in pieces")
    b = backend(server, api=api)
    *deltas, final = list(b.stream(agent(b).assemble("stream please")))
    assert len(deltas) > 1 and "".join(deltas) == final.text == "a streamed answer, in pieces"
    assert final.usage is not None and final.usage.output_tokens > 0
    assert final.stop_reason == "end_turn"
    if api == "chat":
        body = server.bodies("/v1/chat/completions")[0]
        assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_assembles_tool_calls(server: FakeServer, api: str) -> None:
    server.reply("", tool_calls=[{"name": "read_file", "arguments": {"path": "src/a.py"}},
                                 {"name": "grep", "arguments": {"pattern": "p"}}])
    b = backend(server, api=api)
    final = list(b.stream(agent(b).assemble("read")))[-1]
    assert [(c.name, c.arguments) for c in final.tool_calls] == [
        ("read_file", {"path": "src/a.py"}), ("grep", {"pattern": "p"})]
    assert final.stop_reason == "tool_use"


def test_reasoning_from_a_compatible_server_becomes_thinking(server: FakeServer) -> None:
    server.reply("42", thinking="six times seven")
    b = backend(server)
    pipe = agent(b)
    reply = pipe.run("answer?")
    assert reply.thinking == "six times seven"
    server.reply("ok")
    pipe.run("and?")
    # reasoning is not sent back to OpenAI-protocol servers
    assert "six times seven" not in str(server.bodies("/v1/chat/completions")[1])


def test_async_run_and_stream(server: FakeServer) -> None:
    server.reply("", **TOOL_REPLY).reply("async done").reply("streamed async")
    b = backend(server, api="responses")
    pipe = agent(b)

    async def go() -> tuple[str, list[object]]:
        reply = await pipe.arun("find it")
        items = [x async for x in b.astream(pipe.assemble("more"))]
        await b.aclose()
        return reply.text, items

    text, items = asyncio.run(go())
    assert text == "async done" and items[-1].text == "streamed async"
    assert server.violations == []


def test_max_tokens_and_params_reach_the_request(server: FakeServer) -> None:
    b = backend(server, max_tokens=77, params={"temperature": 0.2})
    agent(b).run("x")
    body = server.bodies("/v1/chat/completions")[0]
    assert body["max_completion_tokens"] == 77 and body["temperature"] == 0.2
    r = backend(server, api="responses", max_tokens=55)
    agent(r).run("y")
    assert server.bodies("/v1/responses")[0]["max_output_tokens"] == 55


class BuildNote:
    """A long, cached note whose last line (a build stamp) changes between calls."""

    name = "note"

    def __init__(self) -> None:
        self.stamp = "2026-12-03"

    def __call__(self, draft, turn):  # type: ignore[no-untyped-def]
        from ctxkit import Block

        draft.add(Block(layer="note", role="system", key="note", cache="5m",
                        content=SYSTEM + f"\nBuild {self.stamp}."))


@pytest.mark.moves_prefix("the note's last line changes on purpose: a partial-block hit")
def test_a_partial_block_hit_is_predicted_to_the_token_and_a_real_miss_is_flagged(
        server: FakeServer) -> None:
    """OpenAI serves the unchanged start of a changed block (to the 128-token step): the
    prediction expects it, so the record agrees; when the provider has dropped the prefix
    (a real miss), the record says so."""
    from ctxkit import ContextPipeline
    from ctxkit.layers import History, Prefix

    note = BuildNote()
    pipe = ContextPipeline(backend(server, model="gpt-4o"), [
        Prefix(system="You are terse.", project=[("AGENTS.md", AGENTS_MD)]), note, History()])
    pipe.run("first")
    note.stamp = "2026-12-04"
    pipe.run("second")
    server.openai_cache.seen.clear()  # the provider evicts the prefix: a real miss follows
    note.stamp = "2026-12-05"
    pipe.run("third")
    _, partial, miss = pipe.records
    assert partial.drift and partial.drift[0].key == "note"
    note_start = sum(b.tokens for b in partial.blocks[:[b.key for b in partial.blocks
                                                        ].index("note")])
    reported = partial.reported.cache_read_tokens  # type: ignore[union-attr]
    # OpenAI's way: the common token prefix, from 1,024 in 128-token steps, well into the note
    assert reported % 128 == 0 and reported > note_start + 1000
    predicted = partial.predicted.cache_read_tokens
    assert predicted > note_start + 1000 and (predicted - 1024) % 128 == 0
    assert abs(predicted - reported) <= 128 and partial.disagreement is None
    assert miss.reported.cache_read_tokens == 0  # type: ignore[union-attr]
    assert miss.predicted.cache_read_tokens > note_start + 1000
    assert miss.disagreement and "cache read predicted" in miss.disagreement
