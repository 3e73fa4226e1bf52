"""Read an OpenAI Chat Completion or Response (as JSON dicts) into a ctxkit Response.

Owns the usage mapping: OpenAI's prompt/input tokens already count the whole prompt;
``prompt_tokens_details.cached_tokens`` (chat) and ``input_tokens_details.cached_tokens``
(responses) are the cache reads, and ``cache_write_tokens`` (where a server reports it) the
writes — the long-retention part goes to ``cache_write_1h_tokens``. Servers that report no
details (vLLM without ``--enable-prompt-tokens-details``) give reads of 0; the profile's
``reports_cached`` tells the pipeline not to trust them. Also normalizes stop reasons to
ctxkit's words (end_turn, max_tokens, tool_use, refusal), and keeps a choice's
``token_ids`` (vLLM's ``return_token_ids``, which ``ctxkit serve`` also answers) as the
reply's ``output_ids``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..._types import Response, ToolCall, Usage

_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
           "function_call": "tool_use", "content_filter": "refusal"}


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        # the model wrote arguments that are not JSON: keep them, visibly, for the tool
        return {"_unparsed_arguments": str(raw)}
    return value if isinstance(value, dict) else {"value": value}


def _usage(u: Mapping[str, Any] | None, *, prompt: str, completion: str,
           details: str) -> Usage | None:
    if not u:
        return None
    d = u.get(details) or {}
    read = int(d.get("cached_tokens") or 0)
    write = int(d.get("cache_write_tokens") or 0)
    long_ttl = int((d.get("cache_write_tokens_details") or {}).get("ttl_12h_tokens") or 0)
    total = int(u.get(prompt) or 0)
    return Usage(input_tokens=max(total, read + write), output_tokens=int(u.get(completion) or 0),
                 cache_read_tokens=read, cache_write_tokens=write,
                 cache_write_1h_tokens=min(long_ttl, write))


def chat_usage(u: Mapping[str, Any] | None) -> Usage | None:
    return _usage(u, prompt="prompt_tokens", completion="completion_tokens",
                  details="prompt_tokens_details")


def responses_usage(u: Mapping[str, Any] | None) -> Usage | None:
    return _usage(u, prompt="input_tokens", completion="output_tokens",
                  details="input_tokens_details")


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text") or "") for p in content if isinstance(p, Mapping))


def _token_ids(raw: Any) -> list[int] | None:
    """A choice's ``token_ids`` when they are a list of ids; anything else is ignored (the
    cache mirror then misses the reply's blocks, and the record says so)."""
    if isinstance(raw, list) and all(type(t) is int and t >= 0 for t in raw):
        return list(raw)
    return None


def parse_chat(data: Mapping[str, Any]) -> Response:
    """A Chat Completion (first choice) as a Response."""
    choices = data.get("choices") or [{}]
    choice = choices[0]
    msg = choice.get("message") or {}
    calls = [ToolCall(id=c.get("id") or f"call_{i}", name=(c.get("function") or {})["name"],
                      arguments=_arguments((c.get("function") or {}).get("arguments")))
             for i, c in enumerate(msg.get("tool_calls") or [])]
    thinking = msg.get("reasoning_content") or msg.get("reasoning") or None
    finish = choice.get("finish_reason")
    return Response(text=_content_text(msg.get("content")), tool_calls=calls,
                    thinking=thinking, stop_reason=_FINISH.get(finish, finish),
                    usage=chat_usage(data.get("usage")), model=data.get("model"),
                    output_ids=_token_ids(choice.get("token_ids")))


def parse_responses(data: Mapping[str, Any]) -> Response:
    """A Responses API response as a Response."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[str] = []
    for item in data.get("output") or []:
        t = item.get("type")
        if t == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    texts.append(part.get("text") or "")
                elif part.get("type") == "refusal":
                    texts.append(part.get("refusal") or "")
        elif t == "function_call":
            calls.append(ToolCall(id=item.get("call_id") or item.get("id") or "call",
                                  name=item["name"],
                                  arguments=_arguments(item.get("arguments"))))
        elif t == "reasoning":
            for s in item.get("summary") or []:
                thinking.append(s.get("text") or "")
    status = data.get("status")
    reason = ((data.get("incomplete_details") or {}).get("reason")
              if status == "incomplete" else None)
    stop = "tool_use" if calls else ("max_tokens" if reason == "max_output_tokens"
                                     else reason or "end_turn")
    return Response(text="".join(texts), tool_calls=calls,
                    thinking="\n\n".join(thinking) or None, stop_reason=stop,
                    usage=responses_usage(data.get("usage")), model=data.get("model"))
