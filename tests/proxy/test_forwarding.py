"""The official SDKs -> ctxkit proxy -> the loopback fake upstreams: bytes pass unchanged
both ways, streams included, and each model call leaves one record with reported usage."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx2 as httpx

from ctxkit.proxy import Proxy
from tests.backends import fake_anthropic as fa
from tests.backends.fakeserver import FakeServer
from tests.proxy.conftest import ANTHROPIC_KEY, OPENAI_KEY, SYSTEM, ant, get, oai, system_block


def test_anthropic_request_and_reply_pass_byte_for_byte(fake: FakeServer, proxy: Proxy) -> None:
    # keys in an unusual order and odd spacing: a re-serializing proxy would change them
    raw = (b'{"max_tokens": 32,  "model":"claude-sonnet-4-5", "messages":[{"role":"user",'
           b'"content":"hi \\u00e9"}], "system": "be brief"}')
    headers = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01",
               "content-type": "application/json", "x-custom": "kept"}
    reply = httpx.post(proxy.url + "/v1/messages?beta=true", content=raw, headers=headers)
    assert reply.status_code == 200
    seen = fake.requests[-1]
    assert seen.raw == raw
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY and seen.headers["x-custom"] == "kept"
    assert reply.content == json.dumps(fake.answers[-1]).encode()
    (record,) = proxy.records()
    assert record.ok and record.model == "claude-sonnet-4-5"
    assert record.reported is not None
    assert record.reported.input_tokens == fake.answers[-1]["usage"]["input_tokens"]


def test_anthropic_stream_passes_unchanged_and_usage_comes_from_its_events(
        fake: FakeServer, proxy: Proxy) -> None:
    client = ant(proxy)
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "explain the cache"}]
    fake.reply(text="first answer, long enough to stream in several deltas")
    client.messages.create(model="claude-sonnet-4-5", max_tokens=64, system=system_block(),
                           messages=msgs)
    msgs += [{"role": "assistant", "content": "first answer, long enough to stream in "
              "several deltas"}, {"role": "user", "content": "and then?"}]
    fake.reply(text="the second answer streams too")
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True,
            "system": system_block(), "messages": msgs}
    with httpx.stream("POST", proxy.url + "/v1/messages", json=body,
                      headers={"x-api-key": ANTHROPIC_KEY,
                               "anthropic-version": "2023-06-01"}) as r:
        got = b"".join(r.iter_raw())
        assert r.headers["content-type"] == "text/event-stream"
    sent = "".join(f"event: {n}\ndata: {json.dumps(d)}\n\n"
                   for n, d in fa.events(fake.answers[-1])).encode()
    assert got == sent
    first, second = proxy.records()
    assert second.session_id == first.session_id and second.index == 1 and not second.drift
    usage = fake.answers[-1]["usage"]
    assert second.reported is not None
    assert second.reported.cache_read_tokens == usage["cache_read_input_tokens"] > 0
    assert second.reported.output_tokens == usage["output_tokens"]  # from message_delta
    assert second.response is not None and second.response.text == \
        "the second answer streams too"
    assert second.extras["stream"] is True and second.extras["first_byte_s"] is not None
    # the prediction replays the session's cache: the system prompt written, then read
    assert first.predicted.cache_write_tokens > 0 and first.predicted.cache_read_tokens == 0
    assert second.predicted.cache_read_tokens == first.predicted.cache_write_tokens


def test_anthropic_sdk_tool_loop_is_one_session_without_drift(
        fake: FakeServer, proxy: Proxy) -> None:
    client = ant(proxy)
    tools = [{"name": "grep", "description": "search files",
              "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "find the bug"}]
    fake.reply(tool_calls=[{"name": "grep", "arguments": {"q": "parse"}}])
    first = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, tools=tools,
                                   system=system_block(), messages=msgs)
    use = first.content[0]
    assert use.type == "tool_use" and use.name == "grep"
    msgs += [{"role": "assistant", "content": [c.model_dump() for c in first.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                           "content": "src/parse.py:3: def parse("}]}]
    fake.reply(text="fixed")
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64, tools=tools,
                                system=system_block(), messages=msgs) as stream:
        assert stream.get_final_text() == "fixed"
    assert not fake.violations
    a, b = proxy.records()
    assert a.response is not None and a.response.tool_calls[0].name == "grep"
    assert a.response.tool_calls[0].arguments == {"q": "parse"}
    assert b.session_id == a.session_id and not b.drift
    kinds = [(blk.layer, blk.kind) for blk in b.blocks]
    assert ("tools", "tool") in kinds and ("assistant", "tool_use") in kinds
    assert ("observation", "tool_result") in kinds


def test_openai_chat_and_responses_stream_usage_from_final_events(
        fake: FakeServer, proxy: Proxy) -> None:
    client = oai(proxy)
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hello"}]
    client.chat.completions.create(model="gpt-4o", messages=msgs)
    fake.reply(text="streamed chat reply")
    chunks = list(client.chat.completions.create(
        model="gpt-4o", messages=msgs, stream=True, stream_options={"include_usage": True}))
    final_usage = chunks[-1].usage
    assert final_usage is not None and final_usage.prompt_tokens_details.cached_tokens > 0
    fake.reply(text="a responses reply", tool_calls=[{"name": "grep", "arguments": {"q": 1}}])
    events = list(client.responses.create(model="gpt-4o", instructions=SYSTEM, stream=True,
                                          input=[{"role": "user", "content": "hi"}]))
    assert events[-1].type == "response.completed"
    done = events[-1].response
    chat1, chat2, resp = proxy.records()
    assert chat2.session_id == chat1.session_id != resp.session_id
    assert chat2.reported is not None
    assert chat2.reported.cache_read_tokens == final_usage.prompt_tokens_details.cached_tokens
    assert chat2.reported.input_tokens == final_usage.prompt_tokens
    assert chat2.response is not None and chat2.response.text == "streamed chat reply"
    assert resp.reported is not None
    assert resp.reported.input_tokens == done.usage.input_tokens
    assert resp.response is not None and resp.response.tool_calls[0].name == "grep"
    assert resp.backend == "proxy:responses" and resp.blocks[0].key == "instructions"
    assert all(r.cost_usd > 0 for r in (chat1, chat2, resp))


def test_twenty_megabyte_body_passes_whole(fake: FakeServer, proxy: Proxy) -> None:
    big = "lorem ipsum dolor sit amet " * (20 * 1024 * 1024 // 27)
    client = ant(proxy)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=8,
                           messages=[{"role": "user", "content": big}])
    seen = fake.requests[-1]
    assert len(seen.raw) > 20 * 1024 * 1024
    assert hashlib.sha256(seen.body["messages"][0]["content"].encode()).digest() == \
        hashlib.sha256(big.encode()).digest()
    (record,) = proxy.records(timeout=60)
    assert record.ok and record.blocks[-1].tokens > 1_000_000


def test_count_tokens_is_forwarded_but_not_a_model_call(fake: FakeServer, proxy: Proxy) -> None:
    n = ant(proxy).messages.count_tokens(model="claude-sonnet-4-5",
                                         messages=[{"role": "user", "content": "count me"}])
    assert n.input_tokens == fa.count({"messages": [{"role": "user", "content": "count me"}]})
    assert fake.requests[-1].path == "/v1/messages/count_tokens"
    assert proxy.records() == []
    assert "ctxkit_proxy_count_tokens_total 1" in get(proxy, "/metrics").text


def test_other_paths_are_forwarded_unrecorded(fake: FakeServer, proxy: Proxy) -> None:
    r = httpx.post(proxy.url + "/v1/unknown", content=b"{}",
                   headers={"authorization": f"Bearer {OPENAI_KEY}"})
    assert r.status_code == 404 and "no route /v1/unknown" in r.text  # the fake's own answer
    assert proxy.records() == []
