"""``ctxkit serve``: the engine over HTTP, OpenAI- and Anthropic-compatible.

Owns the routes: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/models`` (OpenAI,
with ``n`` choices, ``logprobs``/``top_logprobs`` and tool calls, streamed or not),
``/v1/messages`` (Anthropic, tool use streamed too); ``/health``; and ``/metrics`` in
Prometheus text (queue depth, running/waiting, KV occupancy per tier, prefix hits per tier,
tokens per second, preemptions). An ``X-Session-Id`` header names an agent session whose
prefix the engine evicts last. Usage reports the engine's measured cached prompt tokens in
each protocol's own field: ``usage.prompt_tokens_details.cached_tokens`` (OpenAI) and
``usage.cache_read_input_tokens`` (Anthropic, whose ``input_tokens`` excludes them), and
the part copied back from the host tier beside it (``cached_tokens_host``,
``cache_read_input_tokens_host``). Shutting down lets requests in flight finish for
``drain_s`` seconds, then fails the rest with a 503. ``/v1/messages/count_tokens`` counts
a messages request's prompt. Bad requests get a 4xx in the protocol's error shape
(``errors``); ``guard`` checks API keys and body sizes before a route runs; ``intake``
tokenizes off the event loop and aborts requests whose client has gone. Knows nothing of
the engine's internals beyond LLM and AsyncEngine.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ..._errors import UserError
from ..async_engine import AsyncEngine, EngineClosed
from ..llm import LLM, RequestOutput
from ..sampling import SamplingParams
from . import errors
from .choices import (
    ToolStream,
    chat_logprobs,
    choice_params,
    completion_logprobs,
    merged,
)
from .errors import ApiError, error_response
from .guard import Guard
from .intake import Intake, until_gone, watched
from .protocol import (
    ChatRequest,
    CompletionRequest,
    CountTokensRequest,
    MessagesRequest,
    TokenizeRequest,
)
from .streaming import Deltas, anthropic_events, sse

MAX_REQUEST_BYTES = 16 << 20  # 16 MiB: far above any prompt max_model_len admits

_OPENAI_FINISH = {"stop": "stop", "length": "length", "abort": "stop"}
_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "abort": "end_turn"}


def openai_usage(out: RequestOutput, completion_tokens: int | None = None) -> dict[str, Any]:
    done = len(out.token_ids) if completion_tokens is None else completion_tokens
    return {"prompt_tokens": out.num_prompt_tokens, "completion_tokens": done,
            "total_tokens": out.num_prompt_tokens + done,
            "prompt_tokens_details": {"cached_tokens": out.num_cached_tokens,
                                      "cached_tokens_host": out.num_host_cached_tokens}}


def anthropic_usage(out: RequestOutput) -> dict[str, Any]:
    return {"input_tokens": out.num_prompt_tokens - out.num_cached_tokens,
            "output_tokens": len(out.token_ids), "cache_read_input_tokens": out.num_cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens_host": out.num_host_cached_tokens}


def build_app(llm: LLM, *, served_name: str | None = None, drain_s: float = 30.0,
              api_key: str | None = None, max_request_bytes: int = MAX_REQUEST_BYTES
              ) -> FastAPI:
    """The FastAPI app serving ``llm`` (stepped by one background thread).

    Args:
        llm: the engine.
        served_name: the model name clients send (default: the model directory's name).
        drain_s: on shutdown, requests in flight get this long to finish.
        api_key: when set, every route but ``/health`` needs it (Bearer or x-api-key).
        max_request_bytes: larger bodies are refused with 413 before they are read.
    """
    engine = AsyncEngine(llm)
    intake = Intake(llm)
    name = served_name or llm.model_name

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        intake.close()
        await asyncio.to_thread(engine.close, drain_s)

    app = FastAPI(title="ctxkit serve", version="0.1.0", lifespan=lifespan)
    app.state.engine = engine
    app.add_middleware(Guard, api_key=api_key, max_request_bytes=max_request_bytes)
    errors.install(app)
    created = int(time.time())

    @app.exception_handler(EngineClosed)
    async def _closed(request: Request, exc: EngineClosed) -> JSONResponse:
        kind = "overloaded_error" if request.url.path.startswith("/v1/messages") \
            else "server_error"
        return error_response(request.url.path, 503, str(exc), kind)

    def check_model(model: str) -> None:
        if model not in (name, llm.config.model):
            raise ApiError(404, f"model {model!r} is not served here; this server serves "
                                f"{name!r} (see /v1/models)", "not_found_error")

    def session(request: Request) -> str | None:
        return request.headers.get("x-session-id") or None

    async def final(ids: list[int], params: SamplingParams, sid: str | None = None
                    ) -> RequestOutput:
        last = None
        async for out in engine.generate(ids, params, session_id=sid):
            last = out
        assert last is not None
        return last

    async def finals(request: Request, ids: list[int], params: SamplingParams, n: int,
                     sid: str | None) -> list[RequestOutput]:
        return await until_gone(request, asyncio.gather(*[
            final(ids, p, sid) for p in choice_params(params, n)]))

    def streams(ids: list[int], params: SamplingParams, n: int, sid: str | None
                ) -> AsyncIterator[tuple[int, RequestOutput]]:
        return merged([engine.generate(ids, p, session_id=sid)
                       for p in choice_params(params, n)])

    def decode1(token: int) -> str:
        return str(llm.tokenizer.decode([token]))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        s = {**llm.stats(), "requests": engine.num_requests,
             "generation_tokens_per_second": engine.tokens_per_second()}
        s["host_kv_occupancy"] = (s["host_kv_blocks_used"] / s["host_kv_blocks_total"]
                                  if s["host_kv_blocks_total"] else 0.0)
        lines = []
        for key, kind, help_ in _METRICS:
            lines += [f"# HELP ctxkit_{key} {help_}", f"# TYPE ctxkit_{key} {kind}",
                      f"ctxkit_{key} {s[key]}"]
        return PlainTextResponse("\n".join(lines) + "\n")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                            "owned_by": "ctxkit",
                                            "max_model_len": llm.config.max_model_len}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(req: ChatRequest, request: Request) -> Any:
        check_model(req.model)
        ids, params = await intake.prepare(req.num_text_chars, lambda: (
            llm.apply_chat_template(req.template_messages(), req.tools), req.sampling))
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        sid = session(request)
        if req.stream:
            usage = bool((req.stream_options or {}).get("include_usage"))
            return _stream(_chat_chunks(streams(ids, params, req.n, sid), rid, name, params,
                                        usage, req.n, bool(req.tools), decode1), request)
        outs = await finals(request, ids, params, req.n, sid)
        from ...backends._local import parse_tool_calls

        choices = []
        for i, out in enumerate(outs):
            text, calls = parse_tool_calls(out.text) if req.tools else (out.text, [])
            message: dict[str, Any] = {"role": "assistant", "content": text}
            finish = _OPENAI_FINISH.get(out.finish_reason or "", "stop")
            if calls:
                message["tool_calls"] = [_openai_call(c) for c in calls]
                finish = "tool_calls"
            choices.append({"index": i, "message": message, "finish_reason": finish,
                            "logprobs": chat_logprobs(out, decode1)})
        if req.return_token_ids:  # vLLM's extension: the ids the engine read and wrote
            for choice, out in zip(choices, outs, strict=True):
                choice["token_ids"] = list(out.token_ids)
        body = {"id": rid, "object": "chat.completion", "created": int(time.time()),
                "model": name, "choices": choices,
                "usage": openai_usage(outs[0], sum(len(o.token_ids) for o in outs))}
        if req.return_token_ids:
            body["prompt_token_ids"] = ids
        return body

    @app.post("/tokenize", response_model=None)
    async def tokenize(req: TokenizeRequest) -> Any:
        """vLLM's ``/tokenize``: the ids the chat route would send to the engine."""
        if req.model:
            check_model(req.model)
        if (req.messages is None) == (req.prompt is None):
            raise ApiError(400, "send exactly one of 'messages' (chat) or 'prompt' (text)")
        if req.messages is not None and not req.add_generation_prompt:
            raise ApiError(400, "add_generation_prompt=false is not supported: the chat "
                                "route always adds it; leave it out")
        try:
            ids = (llm.encode(req.prompt) if req.prompt is not None else
                   llm.apply_chat_template(req.chat().template_messages(), req.tools))
        except (UserError, ValueError) as exc:
            raise ApiError(400, str(exc)) from exc
        return {"tokens": list(ids), "count": len(ids),
                "max_model_len": llm.config.max_model_len}

    @app.post("/v1/completions", response_model=None)
    async def completions(req: CompletionRequest, request: Request) -> Any:
        check_model(req.model)
        ids, params = await intake.prepare(req.num_text_chars,
                                           lambda: (llm.encode(req.prompt), req.sampling))
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        sid = session(request)
        if req.stream:
            usage = bool((req.stream_options or {}).get("include_usage"))
            return _stream(_completion_chunks(streams(ids, params, req.n, sid), rid, name,
                                              params, usage, req.n, decode1), request)
        outs = await finals(request, ids, params, req.n, sid)
        return {"id": rid, "object": "text_completion", "created": int(time.time()),
                "model": name, "choices": [
                    {"index": i, "text": out.text,
                     "logprobs": completion_logprobs(out, decode1),
                     "finish_reason": _OPENAI_FINISH.get(out.finish_reason or "", "stop")}
                    for i, out in enumerate(outs)],
                "usage": openai_usage(outs[0], sum(len(o.token_ids) for o in outs))}

    @app.post("/v1/messages", response_model=None)
    async def messages(req: MessagesRequest, request: Request) -> Any:
        check_model(req.model)
        ids, params = await intake.prepare(req.num_text_chars, lambda: (
            llm.apply_chat_template(req.template_messages(), req.template_tools()),
            req.sampling))
        mid = f"msg_{uuid.uuid4().hex[:24]}"
        sid = session(request)
        if req.stream:
            return _stream(anthropic_events(engine.generate(ids, params, session_id=sid), mid,
                                            name, params, anthropic_usage, bool(req.tools)),
                           request)
        out = await until_gone(request, final(ids, params, sid))
        from ...backends._local import parse_tool_calls

        text, calls = parse_tool_calls(out.text) if req.tools else (out.text, [])
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                    for c in calls]
        stop = "tool_use" if calls else _ANTHROPIC_STOP.get(out.finish_reason or "", "end_turn")
        if out.matched_stop is not None:
            stop = "stop_sequence"
        return {"id": mid, "type": "message", "role": "assistant", "model": name,
                "content": content, "stop_reason": stop, "stop_sequence": out.matched_stop,
                "usage": anthropic_usage(out)}

    @app.post("/v1/messages/count_tokens", response_model=None)
    async def count_tokens(req: CountTokensRequest) -> dict[str, int]:
        check_model(req.model)
        ids, _ = await intake.prepare(req.num_text_chars, lambda: (
            llm.apply_chat_template(req.template_messages(), req.template_tools()),
            lambda room: SamplingParams(max_tokens=1)))
        return {"input_tokens": len(ids)}

    return app


def _stream(events: AsyncIterator[str], request: Request) -> Response:
    return StreamingResponse(watched(events, request), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def _openai_call(call: Any, index: int | None = None) -> dict[str, Any]:
    out = {"id": call.id, "type": "function",
           "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
    return out if index is None else {"index": index, **out}


async def _chat_chunks(outs: AsyncIterator[tuple[int, RequestOutput]], rid: str, model: str,
                       params: SamplingParams, include_usage: bool, n: int, tools: bool,
                       decode: Any) -> AsyncIterator[str]:
    def chunk(i: int, delta: dict[str, Any], finish: str | None = None,
              logprobs: Any = None) -> str:
        return sse({"id": rid, "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": model, "choices": [{"index": i, "delta": delta,
                                                 "finish_reason": finish,
                                                 "logprobs": logprobs}]})

    for i in range(n):
        yield chunk(i, {"role": "assistant", "content": ""})
    deltas = [Deltas(params.stop) for _ in range(n)]
    held = [ToolStream() if tools else None for _ in range(n)]
    sent = [0] * n
    last: dict[int, RequestOutput] = {}
    async for i, out in outs:
        last[i] = out
        text = deltas[i].next(out)
        hold = held[i]
        if hold is not None:
            text = hold.feed(text)
        lps = chat_logprobs(out, decode, sent[i])
        sent[i] = len(out.token_ids)
        if text or (lps and lps["content"]):
            yield chunk(i, {"content": text}, logprobs=lps)
        if out.finished:
            finish = _OPENAI_FINISH.get(out.finish_reason or "", "stop")
            if hold is not None:
                rest, calls = hold.finish()
                if rest:
                    yield chunk(i, {"content": rest})
                if calls:
                    yield chunk(i, {"tool_calls": [_openai_call(c, k)
                                                   for k, c in enumerate(calls)]})
                    finish = "tool_calls"
            yield chunk(i, {}, finish)
    if include_usage and last:
        yield sse({"id": rid, "object": "chat.completion.chunk", "created": int(time.time()),
                   "model": model, "choices": [], "usage": openai_usage(
                       last[0], sum(len(o.token_ids) for o in last.values()))})
    yield "data: [DONE]\n\n"


async def _completion_chunks(outs: AsyncIterator[tuple[int, RequestOutput]], rid: str,
                             model: str, params: SamplingParams, include_usage: bool, n: int,
                             decode: Any) -> AsyncIterator[str]:
    deltas = [Deltas(params.stop) for _ in range(n)]
    sent, offset = [0] * n, [0] * n
    last: dict[int, RequestOutput] = {}
    async for i, out in outs:
        last[i] = out
        text = deltas[i].next(out)
        lps = completion_logprobs(out, decode, sent[i], offset[i])
        if lps:
            offset[i] += sum(len(t) for t in lps["tokens"])
        sent[i] = len(out.token_ids)
        finish = _OPENAI_FINISH.get(out.finish_reason or "", "stop") if out.finished else None
        if text or finish or (lps and lps["tokens"]):
            yield sse({"id": rid, "object": "text_completion", "created": int(time.time()),
                       "model": model, "choices": [{"index": i, "text": text, "logprobs": lps,
                                                    "finish_reason": finish}]})
    if include_usage and last:
        yield sse({"id": rid, "object": "text_completion", "created": int(time.time()),
                   "model": model, "choices": [], "usage": openai_usage(
                       last[0], sum(len(o.token_ids) for o in last.values()))})
    yield "data: [DONE]\n\n"


_METRICS = [
    ("prefix_hit_rate", "gauge", "Share of prompt tokens served from the prefix cache."),
    ("prompt_tokens", "counter", "Prompt tokens admitted."),
    ("cached_prompt_tokens", "counter", "Prompt tokens whose KV came from the prefix cache."),
    ("cached_prompt_tokens_device", "counter", "Cached prompt tokens found in the GPU pool."),
    ("cached_prompt_tokens_host", "counter", "Cached prompt tokens copied back from host."),
    ("generated_tokens", "counter", "Tokens generated."),
    ("generation_tokens_per_second", "gauge", "Tokens generated per second, last 10 s."),
    ("kv_occupancy", "gauge", "Share of KV blocks held by running requests."),
    ("kv_blocks_total", "gauge", "KV blocks in the pool."),
    ("kv_blocks_used", "gauge", "KV blocks held by running requests."),
    ("kv_blocks_cached", "gauge", "Unreferenced KV blocks kept for prefix hits."),
    ("host_kv_occupancy", "gauge", "Share of host-tier blocks holding evicted prefixes."),
    ("host_kv_blocks_total", "gauge", "Blocks in the host-memory prefix tier."),
    ("host_kv_blocks_used", "gauge", "Host-tier blocks holding evicted prefix blocks."),
    ("host_swapped_out_blocks", "counter", "Blocks copied from the pool to the host tier."),
    ("host_swapped_in_blocks", "counter", "Blocks copied back from the host tier."),
    ("active_sessions", "gauge", "Sessions whose prefix is protected from eviction."),
    ("waiting", "gauge", "Requests waiting for admission (queue depth)."),
    ("running", "gauge", "Requests running."),
    ("preemptions", "counter", "Requests preempted (recomputed later) for lack of KV."),
    ("recomputed_tokens", "counter", "Tokens recomputed after preemptions."),
    ("evictions", "counter", "Cached KV blocks evicted."),
    ("requests", "counter", "Requests received."),
]
