"""The HTTP request shapes ``ctxkit serve`` accepts: OpenAI chat/completions, Anthropic
messages. Pydantic models (outside JSON enters here), and their translation to what the
engine takes: chat-template messages, tools, SamplingParams.

Owns validation with messages a client can act on: every number is bounded here (a seed
or top_k that overflows the engine's int64 tensors is a 400, never an engine error), tool
definitions and tool calls are checked for shape, and text with lone surrogates is
refused. Knows nothing of routes or streaming.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..sampling import MAX_LOGPROBS, MAX_SEED, MAX_TOP_K, MIN_SEED, SamplingParams

MAX_N = 8  # choices per OpenAI request
MAX_TOKENS = 2 ** 31 - 1
MAX_STOPS = 16

Seed = Annotated[int | None, Field(default=None, ge=MIN_SEED, le=MAX_SEED)]
TopK = Annotated[int, Field(default=0, ge=0, le=MAX_TOP_K)]
TopP = Annotated[float, Field(default=1.0, gt=0, le=1, allow_inf_nan=False)]
Stops = Annotated[list[str], Field(max_length=MAX_STOPS)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Request(_Open):
    """A request body: refuses text that cannot be encoded (lone UTF-16 surrogates, which
    JSON's ``\\ud800`` escapes can carry) before anything tries to tokenize it."""

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        bad = _surrogate_path(data, "")
        if bad is not None:
            raise ValueError(f"{bad or 'body'} contains a lone UTF-16 surrogate; send "
                             "valid Unicode (pair \\ud800-\\udbff with \\udc00-\\udfff)")
        return data


def _surrogate_path(obj: Any, where: str) -> str | None:
    if isinstance(obj, str):
        if obj.isascii():
            return None
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(obj, dict):
        for k, v in obj.items():
            bad = _surrogate_path(k, where) or _surrogate_path(v, f"{where}.{k}".lstrip("."))
            if bad is not None:
                return bad
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            bad = _surrogate_path(v, f"{where}[{i}]")
            if bad is not None:
                return bad
    return None


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


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

    @field_validator("tool_calls")
    @classmethod
    def _calls(cls, calls: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for c in calls or []:
            fn = c.get("function")
            _need(isinstance(fn, dict) and isinstance(fn.get("name"), str),
                  "every tool call needs a 'function' object with a string 'name'")
            assert isinstance(fn, dict)
            _need(isinstance(fn.get("arguments"), (str, dict, type(None))),
                  "a tool call's 'arguments' is a JSON string")
        return calls


class _OpenAISampling(_Request):
    """The sampling and streaming fields the OpenAI chat and completion routes share."""

    model: str
    temperature: float = Field(default=1.0, ge=0, le=2, allow_inf_nan=False)
    top_p: TopP = 1.0
    top_k: TopK = 0
    seed: Seed = None
    stop: str | Stops | None = None
    n: int = Field(default=1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class ChatRequest(_OpenAISampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    tools: list[dict[str, Any]] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    return_token_ids: bool = False

    @field_validator("tools")
    @classmethod
    def _functions(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for t in tools or []:
            fn = t.get("function")
            _need(t.get("type", "function") == "function" and isinstance(fn, dict)
                  and isinstance(fn.get("name"), str),
                  "every tool is {'type': 'function', 'function': {'name': str, ...}}")
            assert isinstance(fn, dict)
            _need(isinstance(fn.get("parameters", {}), dict),
                  f"tool {fn['name']!r}: 'parameters' is a JSON Schema object")
        return tools

    def num_text_chars(self) -> int:
        """Characters of message text: every one of them reaches the tokenizer."""
        return sum(len(_text(m.content)) for m in self.messages)

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


class CompletionRequest(_OpenAISampling):
    prompt: str | list[int]
    max_tokens: int = Field(default=16, ge=1, le=MAX_TOKENS)
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)

    def num_text_chars(self) -> int:
        return len(self.prompt)

    def sampling(self, room: int) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                              seed=self.seed, stop=_stops(self.stop),
                              max_tokens=min(self.max_tokens, room), logprobs=self.logprobs)


class AnthropicMessage(_Open):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]

    @field_validator("content")
    @classmethod
    def _blocks(cls, content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        for b in [] if isinstance(content, str) else content:
            kind = b.get("type")
            if kind == "text":
                _need(isinstance(b.get("text"), str), "a text block's 'text' is a string")
            elif kind == "tool_use":
                _need(isinstance(b.get("name"), str) and isinstance(b.get("input", {}), dict),
                      "a tool_use block needs a string 'name' and an object 'input'")
            elif kind == "tool_result":
                body = b.get("content")
                _need(body is None or isinstance(body, str) or (
                    isinstance(body, list) and all(isinstance(x, dict) for x in body)),
                      "a tool_result's 'content' is a string or a list of content blocks")
            else:
                raise ValueError(f"content block type {kind!r} is not supported; send "
                                 "text, tool_use or tool_result blocks")
        return content


class _AnthropicRequest(_Request):
    model: str
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None

    @field_validator("tools")
    @classmethod
    def _named(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for t in tools or []:
            _need(isinstance(t.get("name"), str), "every tool needs a string 'name'")
            _need(isinstance(t.get("input_schema", {}), dict),
                  f"tool {t['name']!r}: 'input_schema' is a JSON Schema object")
            _need(isinstance(t.get("description", ""), str),
                  f"tool {t['name']!r}: 'description' is a string")
        return tools

    def num_text_chars(self) -> int:
        n = len(_text(self.system))
        for m in self.messages:
            if isinstance(m.content, str):
                n += len(m.content)
                continue
            for b in m.content:
                body = b.get("text") if b.get("type") == "text" else b.get("content")
                n += len(body) if isinstance(body, str) else 0
        return n

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


class CountTokensRequest(_AnthropicRequest):
    """``/v1/messages/count_tokens``: a messages request without sampling."""


class MessagesRequest(_AnthropicRequest):
    max_tokens: int = Field(ge=1, le=MAX_TOKENS)
    temperature: float = Field(default=1.0, ge=0, le=1, allow_inf_nan=False)
    top_p: TopP = 1.0
    top_k: TopK = 0
    stop_sequences: Stops | None = None
    stream: bool = False

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
