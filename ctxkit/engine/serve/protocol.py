"""The HTTP request shapes ``ctxkit serve`` accepts: OpenAI chat/completions, Anthropic
messages. Pydantic models (outside JSON enters here), and their translation to what the
engine takes: chat-template messages, tools, SamplingParams.

Owns validation with messages a client can act on; knows nothing of routes or streaming.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..sampling import MAX_LOGPROBS, SamplingParams

MAX_N = 8  # choices per OpenAI request


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


def _text(content: Any) -> str:
    """A message's text: a plain string, or the text parts of a content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for p in content:
        if isinstance(p, dict) and p.get("type") in ("text", "input_text"):
            parts.append(str(p.get("text", "")))
        elif isinstance(p, dict):
            raise ValueError(f"content part type {p.get('type')!r} is not supported; "
                             "send text parts only")
    return "".join(parts)


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    return (stop,) if isinstance(stop, str) else tuple(stop)


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class ChatRequest(_Open):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=0, ge=0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    return_token_ids: bool = False

    def template_messages(self) -> list[dict[str, Any]]:
        out = []
        for m in self.messages:
            msg: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role,
                                   "content": _text(m.content)}
            if m.tool_calls:
                msg["tool_calls"] = [_template_call(c) for c in m.tool_calls]
            if m.role == "tool":
                msg["tool_call_id"] = m.tool_call_id
                if m.name:
                    msg["name"] = m.name
            out.append(msg)
        return out

    def sampling(self, room: int) -> SamplingParams:
        want = self.max_completion_tokens or self.max_tokens or room
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return SamplingParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                              seed=self.seed, stop=_stops(self.stop), max_tokens=min(want, room),
                              logprobs=(self.top_logprobs or 0) if self.logprobs else None)


def _template_call(call: dict[str, Any]) -> dict[str, Any]:
    fn = dict(call.get("function") or {})
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            fn["arguments"] = json.loads(args or "{}")
        except ValueError as exc:
            raise ValueError(f"tool call arguments are not JSON: {args[:80]!r}") from exc
    return {"id": call.get("id"), "type": "function", "function": fn}


class CompletionRequest(_Open):
    model: str
    prompt: str | list[int]
    max_tokens: int = Field(default=16, ge=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=0, ge=0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)

    def sampling(self, room: int) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                              seed=self.seed, stop=_stops(self.stop),
                              max_tokens=min(self.max_tokens, room), logprobs=self.logprobs)


class AnthropicMessage(_Open):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class MessagesRequest(_Open):
    model: str
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    temperature: float = Field(default=1.0, ge=0, le=1)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=0, ge=0)
    stop_sequences: list[str] | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None

    @field_validator("tools")
    @classmethod
    def _named(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for t in tools or []:
            if not isinstance(t.get("name"), str):
                raise ValueError("every tool needs a 'name'")
        return tools

    def template_messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.system:
            out.append({"role": "system", "content": _text(self.system)})
        for m in self.messages:
            if isinstance(m.content, str):
                out.append({"role": m.role, "content": m.content})
                continue
            texts, calls = [], []
            for block in m.content:
                kind = block.get("type")
                if kind == "text":
                    texts.append(str(block.get("text", "")))
                elif kind == "tool_use":
                    calls.append({"id": block.get("id"), "type": "function", "function": {
                        "name": block.get("name"), "arguments": block.get("input") or {}}})
                elif kind == "tool_result":
                    body = block.get("content")
                    out.append({"role": "tool", "tool_call_id": block.get("tool_use_id"),
                                "content": body if isinstance(body, str) else _text(body)})
                else:
                    raise ValueError(f"content block type {kind!r} is not supported; send "
                                     "text, tool_use or tool_result blocks")
            if texts or calls:
                msg: dict[str, Any] = {"role": m.role, "content": "".join(texts)}
                if calls:
                    msg["tool_calls"] = calls
                out.append(msg)
        return out

    def template_tools(self) -> list[dict[str, Any]] | None:
        if not self.tools:
            return None
        return [{"type": "function", "function": {
            "name": t["name"], "description": t.get("description", ""),
            "parameters": t.get("input_schema") or {"type": "object", "properties": {}}}}
            for t in self.tools]

    def sampling(self, room: int) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                              stop=tuple(self.stop_sequences or ()),
                              max_tokens=min(self.max_tokens, room))


class TokenizeRequest(_Open):
    """vLLM's ``POST /tokenize`` body: chat ``messages`` (+ ``tools``) or a plain ``prompt``."""
    model: str | None = None
    messages: list[ChatMessage] | None = None
    tools: list[dict[str, Any]] | None = None
    prompt: str | None = None
    add_generation_prompt: bool = True

    def chat(self) -> ChatRequest:
        return ChatRequest(model=self.model or "", messages=self.messages or [],
                           tools=self.tools)
