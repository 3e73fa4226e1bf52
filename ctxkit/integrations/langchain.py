"""LangChain v1 agents on ctxkit: an ``AgentMiddleware`` that assembles every model request
through ctxkit layers and leaves a CallRecord per model call.

``ContextMiddleware`` wraps each model call of a ``create_agent`` agent
(``wrap_model_call``; ``awrap_model_call`` when the agent runs async). It hands what is
new in the agent's messages since its last call (the user's message, or the results of
the tools the model asked for) to a
``ContextPipeline`` whose layers build the prompt (Prefix, History with milestone
compaction, State, Retrieval, Memory: any ctxkit layers), renders the pipeline's Draft
back into LangChain messages (``ctxkit.backends._layout``: system prompt, then the
conversation, tool results right after their calls), and lets LangChain call the model
with them. The reply and its ``usage_metadata`` go back to the pipeline, which records the
call like any other: tokens by layer, predicted and reported cache split, drift, cost. So
``middleware.pipeline.report()`` works for a LangChain agent.

    mw = ContextMiddleware(model="claude-sonnet-4-5", trace="agent.jsonl")
    agent = create_agent(ChatAnthropic(...), tools=[grep], middleware=[mw],
                         system_prompt=SYSTEM)
    agent.invoke({"messages": [HumanMessage("fix the parser")]})
    print(mw.pipeline.report())

Without ``layers``, the pipeline is ``Prefix(system=<the agent's system prompt>,
tools=<the agent's tool schemas>)`` then ``History()``. LangChain still binds and runs the
tools; ctxkit decides the prompt. Needs ``pip install 'ctxkit[langchain]'``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._backend import Backend
from .._draft import Draft
from .._errors import UserError, require
from .._pipeline import ContextPipeline
from .._profile import profile_for
from .._types import Response, ToolCall, ToolResult, Usage
from ..backends._layout import layout

require("langchain.agents", "langchain")
from langchain.agents.middleware import AgentMiddleware  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.utils.function_calling import convert_to_openai_tool  # noqa: E402


def to_messages(draft: Draft) -> tuple[SystemMessage | None, list[BaseMessage]]:
    """The Draft as LangChain messages: the system prompt and the conversation."""
    lay = layout(draft)
    system = "\n\n".join(p.block.content for p in lay.system)
    out: list[BaseMessage] = []
    for m in lay.messages:
        texts = [p.block.content for p in m.parts if p.block.kind in ("text", "thinking")]
        if m.role == "assistant":
            calls = [{"name": p.block.name or "", "id": p.block.call_id or "",
                      "args": _args(p.block.content)} for p in m.parts
                     if p.block.kind == "tool_use"]
            out.append(AIMessage(content="\n\n".join(texts), tool_calls=calls))
            continue
        for p in m.parts:
            if p.block.kind == "tool_result":
                out.append(ToolMessage(content=p.block.content, tool_call_id=p.block.call_id
                                       or "", name=p.block.name, status="error"
                                       if p.block.is_error else "success"))
        if texts:
            out.append(HumanMessage(content="\n\n".join(texts)))
    return (SystemMessage(content=system) if system else None), out


def _args(content: str) -> dict[str, Any]:
    try:
        value = json.loads(content) if content else {}
    except ValueError:
        return {"_unparsed_arguments": content}
    return value if isinstance(value, dict) else {"value": value}


def to_response(ai: AIMessage) -> Response:
    """A LangChain reply as a ctxkit Response, usage from ``usage_metadata``."""
    usage = None
    meta = ai.usage_metadata
    if meta:
        details: Any = meta.get("input_token_details") or {}
        read, write = int(details.get("cache_read") or 0), int(details.get("cache_creation") or 0)
        usage = Usage(input_tokens=max(int(meta["input_tokens"]), read + write),
                      output_tokens=int(meta["output_tokens"]), cache_read_tokens=read,
                      cache_write_tokens=write)
    calls = [ToolCall(id=c.get("id") or f"call_{i}", name=c["name"], arguments=c["args"])
             for i, c in enumerate(ai.tool_calls)]
    return Response(text=ai.text, tool_calls=calls, usage=usage,
                    stop_reason="tool_use" if calls else "end_turn")


class _LangChainBackend(Backend):
    """Sends a Draft through the LangChain handler of the model call in progress."""

    name = "langchain"

    def __init__(self, model: str) -> None:
        self.profile = profile_for(model)
        self.request: Any = None
        self.handler: Callable[[Any], Any] | None = None
        self.last: Any = None

    def complete(self, draft: Draft) -> Response:
        self.last = self._handler()(self._request(draft))
        return self._reply()

    async def acomplete(self, draft: Draft) -> Response:
        self.last = await self._handler()(self._request(draft))
        return self._reply()

    def _handler(self) -> Callable[[Any], Any]:
        if self.handler is None:
            raise UserError("ContextMiddleware's pipeline runs only inside a model call")
        return self.handler

    def _request(self, draft: Draft) -> Any:
        system, messages = to_messages(draft)
        return self.request.override(system_message=system, messages=messages)

    def _reply(self) -> Response:
        ai = next((m for m in reversed(self.last.result) if isinstance(m, AIMessage)), None)
        if ai is None:
            raise UserError("the model call returned no AIMessage")
        return to_response(ai)


class ContextMiddleware(AgentMiddleware):
    """Assemble each model request of a LangChain agent through ctxkit layers.

    Args:
        layers: the ctxkit layers (None: Prefix from the agent's system prompt and tools,
            then History).
        model: the model name whose profile gives tokenizer, prices and cache rules.
        **pipeline: more ``ContextPipeline`` arguments (``trace=``, ``budget=`` ...).
    """

    def __init__(self, layers: Sequence[Any] | None = None, *,
                 model: str = "claude-sonnet-4-5", **pipeline: Any) -> None:
        super().__init__()
        self.backend = _LangChainBackend(model)
        self.layers = list(layers) if layers is not None else None
        self.options = pipeline
        self.pipeline: ContextPipeline | None = None
        self._seen: list[BaseMessage] = []  # the messages of the previous model call

    def _pipeline(self, request: Any) -> ContextPipeline:
        if self.pipeline is None:
            layers = self.layers
            if layers is None:
                from ..layers import History, Prefix

                system = request.system_message.text if request.system_message else ""
                layers = [Prefix(system=system, tools=[_schema(t) for t in request.tools]),
                          History()]
            self.pipeline = ContextPipeline(self.backend, layers, **self.options)
        return self.pipeline

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        pipe, message, results = self._new_input(request)
        self.backend.request, self.backend.handler = request, handler
        try:
            pipe.run(message, tool_results=results, max_steps=1)
        finally:
            self.backend.handler = None
        self._seen = list(request.messages)
        return self.backend.last

    async def awrap_model_call(self, request: Any,
                               handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """``wrap_model_call`` for agents run async (``ainvoke``, ``astream``)."""
        pipe, message, results = self._new_input(request)
        self.backend.request, self.backend.handler = request, handler
        try:
            await pipe.arun(message, tool_results=results, max_steps=1)
        finally:
            self.backend.handler = None
        self._seen = list(request.messages)
        return self.backend.last

    def _new_input(self, request: Any) -> tuple[ContextPipeline, str | None, list[ToolResult]]:
        """The pipeline, and what is new in the agent's messages since the last model call:
        the user's text and the tool results."""
        self._check_continues(request.messages)
        pipe = self._pipeline(request)
        texts: list[str] = []
        results: list[ToolResult] = []
        for m in request.messages[len(self._seen):]:
            if isinstance(m, ToolMessage):
                results.append(ToolResult(call_id=m.tool_call_id, content=_text_of(m),
                                          name=m.name, is_error=m.status == "error"))
            elif isinstance(m, HumanMessage):
                texts.append(_text_of(m))
            # AIMessages are the replies the pipeline itself recorded
        return pipe, "\n\n".join(texts) or None, results

    def _check_continues(self, messages: Sequence[BaseMessage]) -> None:
        """Refuse messages that do not start with those of the previous model call: the
        pipeline's session (History, State, memory scopes) is one conversation's, and
        reading such messages from the old length on would mix two conversations."""
        seen = self._seen
        if len(messages) >= len(seen) and all(
                a is b or (a.id is not None and a.id == b.id) or a == b
                for a, b in zip(seen, messages, strict=False)):
            return
        raise UserError(
            f"ContextMiddleware follows one conversation, and this model call's "
            f"{len(messages)} message(s) do not continue the {len(seen)} it has seen (a new "
            "thread, or another user's?); build the agent with a new ContextMiddleware for "
            "each conversation")


# content parts ctxkit's text blocks cannot carry: refused rather than silently dropped
_MEDIA = frozenset({"image", "image_url", "input_image", "file", "input_file", "audio",
                    "input_audio", "video"})


def _text_of(message: BaseMessage) -> str:
    """A message's content as text: text parts as they are, other parts (plain data, a
    kind ctxkit does not know) as JSON, so nothing the model would have seen is lost."""
    content = message.content
    if isinstance(content, str):
        return content
    out: list[str] = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif part.get("type") == "text":
            out.append(str(part.get("text") or ""))
        elif part.get("type") in _MEDIA:
            raise UserError(
                f"a {type(message).__name__} holds a {part['type']!r} part, and "
                "ContextMiddleware passes text only (ctxkit blocks are text): the model "
                "would not see it; send media to an agent without ContextMiddleware")
        else:
            out.append(json.dumps(part, ensure_ascii=False, default=str))
    return "".join(out)


def _schema(tool: Any) -> dict[str, Any]:
    if isinstance(tool, dict) and "name" in tool:
        return tool
    fn = convert_to_openai_tool(tool)["function"]
    return {"name": fn["name"], "description": fn.get("description", ""),
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
