"""``ctxkit serve``: the engine over HTTP, OpenAI- and Anthropic-compatible.

Owns the routes: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/models`` (OpenAI),
``/v1/messages`` (Anthropic), streamed as server-sent events or not; ``/health``; and
``/metrics`` in Prometheus text (prefix hit rate, KV occupancy, queue depth,
preemptions). Usage reports the engine's measured cached prompt tokens in each protocol's
own field: ``usage.prompt_tokens_details.cached_tokens`` (OpenAI) and
``usage.cache_read_input_tokens`` (Anthropic, whose ``input_tokens`` excludes them).
Bad requests get a 4xx in the protocol's error shape. Knows nothing of the engine's
internals beyond LLM and AsyncEngine.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from ..._errors import UserError
from ..async_engine import AsyncEngine
from ..llm import LLM, RequestOutput
from ..sampling import SamplingParams
from .protocol import ChatRequest, CompletionRequest, MessagesRequest
from .streaming import Deltas, anthropic_events, sse

_OPENAI_FINISH = {"stop": "stop", "length": "length", "abort": "stop"}
_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "abort": "end_turn"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _error(path: str, status: int, message: str, kind: str) -> JSONResponse:
    if path.startswith("/v1/messages"):
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status)


def openai_usage(out: RequestOutput) -> dict[str, Any]:
    return {"prompt_tokens": out.num_prompt_tokens, "completion_tokens": len(out.token_ids),
            "total_tokens": out.num_prompt_tokens + len(out.token_ids),
            "prompt_tokens_details": {"cached_tokens": out.num_cached_tokens}}


def anthropic_usage(out: RequestOutput) -> dict[str, Any]:
    return {"input_tokens": out.num_prompt_tokens - out.num_cached_tokens,
            "output_tokens": len(out.token_ids), "cache_read_input_tokens": out.num_cached_tokens,
            "cache_creation_input_tokens": 0}


def build_app(llm: LLM, *, served_name: str | None = None) -> FastAPI:
    """The FastAPI app serving ``llm`` (stepped by one background thread)."""
    engine = AsyncEngine(llm)
    name = served_name or llm.model_name

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.close()

    app = FastAPI(title="ctxkit serve", version="0.1.0", lifespan=lifespan)
    app.state.engine = engine
    created = int(time.time())

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(request.url.path, exc.status, exc.message, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid body"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(request.url.path, 400, f"{where or 'body'}: {first.get('msg')}",
                      "invalid_request_error")

    def check_model(model: str) -> None:
        if model not in (name, llm.config.model):
            raise ApiError(404, f"model {model!r} is not served here; this server serves "
                                f"{name!r} (see /v1/models)", "not_found_error")

    def prepare(build: Any) -> tuple[list[int], SamplingParams]:
        try:
            ids, make_params = build()
            room = int(llm.config.max_model_len or 0) - len(ids)
            if room < 1:
                raise UserError(f"the prompt has {len(ids)} tokens; max_model_len is "
                                f"{llm.config.max_model_len}: shorten it")
            params = make_params(room)
            llm.validate(ids, params)
        except (UserError, ValueError) as exc:
            raise ApiError(400, str(exc)) from exc
        return ids, params

    async def final(ids: list[int], params: SamplingParams) -> RequestOutput:
        last = None
        async for out in engine.generate(ids, params):
            last = out
        assert last is not None
        return last

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        s = llm.stats()
        lines = []
        for key, kind, help_ in _METRICS:
            lines += [f"# HELP ctxkit_{key} {help_}", f"# TYPE ctxkit_{key} {kind}",
                      f"ctxkit_{key} {s[key] if key in s else engine.num_requests}"]
        return PlainTextResponse("\n".join(lines) + "\n")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                            "owned_by": "ctxkit",
                                            "max_model_len": llm.config.max_model_len}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(req: ChatRequest) -> Any:
        check_model(req.model)
        ids, params = prepare(lambda: (llm.apply_chat_template(req.template_messages(),
                                                               req.tools), req.sampling))
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if req.stream:
            usage = bool((req.stream_options or {}).get("include_usage"))
            return _stream(_chat_chunks(engine.generate(ids, params), rid, name, params, usage))
        out = await final(ids, params)
        from ...backends._local import parse_tool_calls

        text, calls = parse_tool_calls(out.text) if req.tools else (out.text, [])
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = _OPENAI_FINISH.get(out.finish_reason or "", "stop")
        if calls:
            message["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name, "arguments": json.dumps(c.arguments)}} for c in calls]
            finish = "tool_calls"
        return {"id": rid, "object": "chat.completion", "created": int(time.time()),
                "model": name, "choices": [{"index": 0, "message": message,
                                            "finish_reason": finish, "logprobs": None}],
                "usage": openai_usage(out)}

    @app.post("/v1/completions", response_model=None)
    async def completions(req: CompletionRequest) -> Any:
        check_model(req.model)
        ids, params = prepare(lambda: (llm.encode(req.prompt), req.sampling))
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        if req.stream:
            usage = bool((req.stream_options or {}).get("include_usage"))
            return _stream(_completion_chunks(engine.generate(ids, params), rid, name, params,
                                              usage))
        out = await final(ids, params)
        return {"id": rid, "object": "text_completion", "created": int(time.time()),
                "model": name, "choices": [{"index": 0, "text": out.text, "logprobs": None,
                                            "finish_reason": _OPENAI_FINISH.get(
                                                out.finish_reason or "", "stop")}],
                "usage": openai_usage(out)}

    @app.post("/v1/messages", response_model=None)
    async def messages(req: MessagesRequest) -> Any:
        check_model(req.model)
        ids, params = prepare(lambda: (llm.apply_chat_template(req.template_messages(),
                                                               req.template_tools()),
                                       req.sampling))
        mid = f"msg_{uuid.uuid4().hex[:24]}"
        if req.stream:
            return _stream(anthropic_events(engine.generate(ids, params), mid, name, params,
                                            anthropic_usage))
        out = await final(ids, params)
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

    return app


def _stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _chat_chunks(outs: AsyncIterator[RequestOutput], rid: str, model: str,
                       params: SamplingParams, include_usage: bool) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return sse({"id": rid, "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": model, "choices": [{"index": 0, "delta": delta,
                                                 "finish_reason": finish, "logprobs": None}]})

    yield chunk({"role": "assistant", "content": ""})
    deltas = Deltas(params.stop)
    last = None
    async for out in outs:
        last = out
        text = deltas.next(out)
        if text:
            yield chunk({"content": text})
    assert last is not None
    yield chunk({}, _OPENAI_FINISH.get(last.finish_reason or "", "stop"))
    if include_usage:
        yield sse({"id": rid, "object": "chat.completion.chunk", "created": int(time.time()),
                   "model": model, "choices": [], "usage": openai_usage(last)})
    yield "data: [DONE]\n\n"


async def _completion_chunks(outs: AsyncIterator[RequestOutput], rid: str, model: str,
                             params: SamplingParams, include_usage: bool
                             ) -> AsyncIterator[str]:
    deltas = Deltas(params.stop)
    last = None
    async for out in outs:
        last = out
        text = deltas.next(out)
        finish = _OPENAI_FINISH.get(out.finish_reason or "", "stop") if out.finished else None
        if text or finish:
            yield sse({"id": rid, "object": "text_completion", "created": int(time.time()),
                       "model": model, "choices": [{"index": 0, "text": text, "logprobs": None,
                                                    "finish_reason": finish}]})
    if include_usage and last is not None:
        yield sse({"id": rid, "object": "text_completion", "created": int(time.time()),
                   "model": model, "choices": [], "usage": openai_usage(last)})
    yield "data: [DONE]\n\n"


_METRICS = [
    ("prefix_hit_rate", "gauge", "Share of prompt tokens served from the prefix cache."),
    ("prompt_tokens", "counter", "Prompt tokens admitted."),
    ("cached_prompt_tokens", "counter", "Prompt tokens whose KV came from the prefix cache."),
    ("generated_tokens", "counter", "Tokens generated."),
    ("kv_occupancy", "gauge", "Share of KV blocks held by running requests."),
    ("kv_blocks_total", "gauge", "KV blocks in the pool."),
    ("kv_blocks_used", "gauge", "KV blocks held by running requests."),
    ("kv_blocks_cached", "gauge", "Unreferenced KV blocks kept for prefix hits."),
    ("waiting", "gauge", "Requests waiting for admission (queue depth)."),
    ("running", "gauge", "Requests running."),
    ("preemptions", "counter", "Requests preempted (recomputed later) for lack of KV."),
    ("evictions", "counter", "Cached KV blocks evicted."),
    ("requests", "counter", "Requests received."),
]
