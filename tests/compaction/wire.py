"""Provider message-sequence rules, checked on the real renderers' output.

What each provider rejects: Anthropic wants alternating user/assistant messages starting
with user, every tool_use answered by a tool_result (first) in the next user message and no
tool_result without its tool_use just before; OpenAI chat wants an assistant message's
tool calls answered by tool messages right after it; the Responses API wants every
function_call_output after its function_call.
"""

from __future__ import annotations

from typing import Any

from ctxkit import Draft
from ctxkit.backends.anthropic._render import render as render_anthropic
from ctxkit.backends.openai._render import render_chat, render_responses


def check_anthropic(req: dict[str, Any]) -> None:
    msgs = req["messages"]
    assert msgs and msgs[0]["role"] == "user", "Anthropic: the first message must be user"
    for a, b in zip(msgs, msgs[1:], strict=False):
        assert a["role"] != b["role"], "Anthropic: roles must alternate"
    open_ids: set[str] = set()
    for m in msgs:
        assert m["content"], "Anthropic: empty message content"
        kinds = [p["type"] for p in m["content"]]
        if m["role"] == "user":
            results = [p["tool_use_id"] for p in m["content"] if p["type"] == "tool_result"]
            assert set(results) == open_ids, f"Anthropic: results {results} for calls {open_ids}"
            n = len(results)
            assert all(k == "tool_result" for k in kinds[:n]), "tool results must come first"
            open_ids = set()
        else:
            assert not open_ids
            open_ids = {p["id"] for p in m["content"] if p["type"] == "tool_use"}
    assert not open_ids or msgs[-1]["role"] == "assistant"


def check_openai_chat(req: dict[str, Any]) -> None:
    waiting: set[str] = set()
    for m in req["messages"]:
        if m["role"] == "tool":
            assert m["tool_call_id"] in waiting, f"chat: tool message {m['tool_call_id']} " \
                "does not answer the assistant message before it"
            waiting.discard(m["tool_call_id"])
            continue
        assert not waiting, f"chat: calls {waiting} unanswered before a {m['role']} message"
        if m["role"] == "assistant":
            waiting = {c["id"] for c in m.get("tool_calls") or []}


def check_openai_responses(req: dict[str, Any]) -> None:
    called: set[str] = set()
    answered: set[str] = set()
    for item in req["input"]:
        if item.get("type") == "function_call":
            called.add(item["call_id"])
        elif item.get("type") == "function_call_output":
            assert item["call_id"] in called and item["call_id"] not in answered
            answered.add(item["call_id"])
    assert called == answered


def check_all(draft: Draft) -> None:
    """Render ``draft`` for every provider and check its rules."""
    check_anthropic(render_anthropic(draft, model="claude-sonnet-4-5", max_tokens=100))
    check_openai_chat(render_chat(draft, model="gpt-5"))
    check_openai_responses(render_responses(draft, model="gpt-5"))
