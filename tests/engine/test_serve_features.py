"""``ctxkit serve`` features on loopback with the real SDKs: ``n`` choices, logprobs,
per-tier cached tokens, /metrics, sessions, tool calls in streamed replies (both
protocols, checked against the SDKs' own event types) and graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="ctxkit serve needs: pip install 'ctxkit[engine]'")
openai = pytest.importorskip("openai", reason="pip install openai")
anthropic = pytest.importorskip("anthropic", reason="pip install anthropic")

from ctxkit.engine import LLM, RequestOutput, SamplingParams  # noqa: E402
from ctxkit.engine.async_engine import AsyncEngine, EngineClosed  # noqa: E402
from ctxkit.engine.serve.server import _chat_chunks, anthropic_usage  # noqa: E402
from ctxkit.engine.serve.streaming import anthropic_events  # noqa: E402

from . import test_server  # noqa: E402
from .test_server import SYSTEM, chat_messages, oai  # noqa: E402

server = test_server.server  # the loopback server fixture, shared

CALL = '<tool_call>{"name": "lookup", "arguments": {"city": "Paris"}}</tool_call>'


def test_n_choices_with_logprobs_streamed_and_not(server: tuple[str, LLM]) -> None:
    client = oai(server[0])
    kw: dict[str, Any] = dict(model="tiny", messages=chat_messages("hello world"),
                              max_tokens=6, temperature=1.0, seed=5, n=3, logprobs=True,
                              top_logprobs=2)
    whole = client.chat.completions.create(**kw)
    assert [c.index for c in whole.choices] == [0, 1, 2]
    assert whole.usage.completion_tokens == 18
    texts = [c.message.content for c in whole.choices]
    assert len(set(texts)) > 1  # seeds 5, 6, 7: distinct draws
    for c in whole.choices:
        content = c.logprobs.content
        assert len(content) == 6
        for tok in content:
            assert tok.logprob <= 0 and len(tok.top_logprobs) == 2
            assert tok.top_logprobs[0].logprob >= tok.top_logprobs[1].logprob
    again = client.chat.completions.create(**kw)
    assert [c.message.content for c in again.choices] == texts
    streamed: dict[int, str] = {0: "", 1: "", 2: ""}
    lp_count = dict.fromkeys(range(3), 0)
    for chunk in client.chat.completions.create(**kw, stream=True):
        for ch in chunk.choices:
            streamed[ch.index] += ch.delta.content or ""
            if ch.logprobs is not None:
                lp_count[ch.index] += len(ch.logprobs.content or [])
    assert [streamed[i] for i in range(3)] == texts
    assert lp_count == dict.fromkeys(range(3), 6)


def test_completion_logprobs_and_per_tier_usage(server: tuple[str, LLM]) -> None:
    base, llm = server
    client = oai(base)
    out = client.completions.create(model="tiny", prompt=SYSTEM, max_tokens=5,
                                    temperature=0, logprobs=3)
    lp = out.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 5
    assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0
    # keys are token texts (two ids can share one), so up to 3 entries per position
    assert all(1 <= len(t) <= 3 and max(t.values()) <= 0 for t in lp.top_logprobs)
    assert all(v <= 0 for v in lp.token_logprobs)
    details = out.usage.prompt_tokens_details
    assert details.cached_tokens_host == 0  # no host tier on this server
    with pytest.raises(openai.BadRequestError, match="top_logprobs"):
        client.chat.completions.create(model="tiny", messages=chat_messages("x"),
                                       top_logprobs=2)


def test_metrics_report_tiers_rate_and_sessions(server: tuple[str, LLM]) -> None:
    base, _ = server
    req = urllib.request.Request(
        base + "/v1/completions", headers={"content-type": "application/json",
                                           "x-session-id": "agent-7"},
        data=json.dumps({"model": "tiny", "prompt": SYSTEM + " x", "max_tokens": 4,
                         "temperature": 0}).encode())
    with urllib.request.urlopen(req) as r:
        assert json.load(r)["usage"]["completion_tokens"] == 4
    with urllib.request.urlopen(base + "/metrics") as r:
        text = r.read().decode()
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith("ctxkit_")}
    for name in ("cached_prompt_tokens_device", "cached_prompt_tokens_host",
                 "host_kv_blocks_total", "host_kv_occupancy", "running", "waiting",
                 "generation_tokens_per_second", "recomputed_tokens"):
        assert f"ctxkit_{name}" in values
    assert values["ctxkit_active_sessions"] >= 1
    assert values["ctxkit_generation_tokens_per_second"] > 0


def _outputs(text: str, step: int = 3) -> list[RequestOutput]:
    """Successive outputs of one reply, a few characters at a time."""
    outs = []
    for end in range(step, len(text) + step, step):
        done = end >= len(text)
        outs.append(RequestOutput(request_id="r", prompt_token_ids=[1, 2, 3],
                                  token_ids=list(range(min(end, len(text)))),
                                  text=text[:end], finished=done,
                                  finish_reason="stop" if done else None,
                                  num_cached_tokens=0))
    return outs


async def _feed(outs: list[RequestOutput]) -> AsyncIterator[tuple[int, RequestOutput]]:
    for o in outs:
        yield 0, o


async def _feed1(outs: list[RequestOutput]) -> AsyncIterator[RequestOutput]:
    for o in outs:
        yield o


def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(x[len("data: "):]) for chunk in lines for x in chunk.splitlines()
            if x.startswith("data: {")]


def test_tool_calls_in_streamed_openai_chat_chunks() -> None:
    from openai.types.chat import ChatCompletionChunk

    outs = _outputs("Checking the weather. " + CALL)
    params = SamplingParams(temperature=0)

    async def collect() -> list[str]:
        return [c async for c in _chat_chunks(_feed(outs), "id", "tiny", params, False, 1,
                                              True, lambda t: "x")]

    chunks = [ChatCompletionChunk.model_validate(e) for e in _events(asyncio.run(collect()))]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Checking the weather. "  # no part of the marker leaked into text
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and calls[0].function.name == "lookup"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_use_in_streamed_anthropic_events() -> None:
    from anthropic.types import RawMessageStreamEvent
    from pydantic import TypeAdapter

    outs = _outputs("Let me look. " + CALL, step=5)
    params = SamplingParams(temperature=0)

    async def collect() -> list[str]:
        return [e async for e in anthropic_events(_feed1(outs), "m", "tiny", params,
                                                  anthropic_usage, True)]

    adapter: Any = TypeAdapter(RawMessageStreamEvent)
    events = [adapter.validate_python(e) for e in _events(asyncio.run(collect()))]
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta"
                   and e.delta.type == "text_delta")
    assert text == "Let me look. "
    start = next(e for e in events if e.type == "content_block_start" and e.index == 1)
    assert start.content_block.type == "tool_use" and start.content_block.name == "lookup"
    args = "".join(e.delta.partial_json for e in events if e.type == "content_block_delta"
                   and e.delta.type == "input_json_delta")
    assert json.loads(args) == {"city": "Paris"}
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.delta.stop_reason == "tool_use"


def test_text_that_only_looks_like_a_call_is_not_lost() -> None:
    outs = _outputs("a <tool_ca and <tool_call>not json</tool_call> end")
    params = SamplingParams(temperature=0)

    async def collect() -> list[str]:
        return [c async for c in _chat_chunks(_feed(outs), "id", "tiny", params, False, 1,
                                              True, lambda t: "x")]

    events = _events(asyncio.run(collect()))
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
    assert text == "a <tool_ca and <tool_call>not json</tool_call> end"
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_graceful_shutdown_drains_then_fails_the_rest(llama_path: Path) -> None:
    llm = LLM(str(llama_path), num_kv_blocks=128, block_size=8)
    long = SamplingParams(temperature=0, max_tokens=200, ignore_eos=True)

    async def run(drain: float) -> tuple[list[Any], Any]:
        engine = AsyncEngine(llm)
        outs: list[Any] = []

        async def consume() -> None:
            try:
                async for o in engine.generate([5, 6, 7, 8], long):
                    outs.append(o)
            except EngineClosed as exc:
                outs.append(exc)

        task = asyncio.create_task(consume())
        while not outs:
            await asyncio.sleep(0.01)
        closer = threading.Thread(target=engine.close, args=(drain,))
        closer.start()
        await task
        closer.join()
        with pytest.raises(EngineClosed):
            async for _ in engine.generate([5, 6], long):
                pass
        return outs, engine

    drained, _ = asyncio.run(run(60.0))
    assert drained[-1].finished and len(drained[-1].token_ids) == 200
    cut, _ = asyncio.run(run(0.0))
    assert isinstance(cut[-1], EngineClosed)
    assert not llm.has_unfinished() and llm.block_manager.num_used_blocks == 0


def test_serve_command_line_takes_the_host_tier_sessions_and_drain() -> None:
    import argparse

    from ctxkit.cli.serve import add_arguments, engine_kwargs

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "/m", "--host-kv-cache-gib", "2.5",
                              "--session-ttl", "90", "--drain", "5"])
    kw = engine_kwargs(args)
    assert kw["host_kv_cache_gib"] == 2.5 and kw["session_ttl_s"] == 90 and args.drain == 5
