"""Parity: one Draft rendered for Anthropic, OpenAI chat, OpenAI Responses and the local
(token-level) order carries the same content in the same order."""

from __future__ import annotations

from ctxkit import Block, ContextPipeline, canonical_json
from ctxkit.backends import Anthropic, OpenAI
from ctxkit.backends._parity import from_anthropic, from_chat, from_draft, from_responses
from ctxkit.layers import History, Prefix

from . import fake_anthropic as fa
from . import fake_openai as fo
from .conftest import AGENTS_MD, SYSTEM, grep, read_file


def state_layer(draft, turn):  # type: ignore[no-untyped-def]
    """A late system block (like the State layer) and a retrieved chunk after the history."""
    return draft.add(Block(layer="state", role="system", content="STATE: goal=fix parser"),
                     Block(layer="retrieval", role="user", content="src/parse.py:1 def parse"))


def session_draft(backend):  # type: ignore[no-untyped-def]
    pipe = ContextPipeline(backend, [Prefix(system=SYSTEM, tools=[read_file, grep],
                                            project=[("AGENTS.md", AGENTS_MD)]),
                                     History(), state_layer])
    pipe.session.transcript += [
        Block(layer="history", role="user", content="q1"),
        Block(layer="history", role="assistant", kind="thinking", content="plan: grep"),
        Block(layer="history", role="assistant", content=""),
        Block(layer="history", role="assistant", kind="tool_use", name="grep", call_id="c1",
              content=canonical_json({"pattern": "parse"})),
        Block(layer="history", role="tool", kind="tool_result", name="grep", call_id="c1",
              content="src/parse.py:1"),
        Block(layer="history", role="assistant", content="found it"),
    ]
    return pipe.assemble("q2")


def expected() -> list[tuple[str, str, str]]:
    from ctxkit.tools import tool_schema

    tools = [("tools", "tool", canonical_json({**tool_schema(f)})) for f in (grep, read_file)]
    return tools + [
        ("system", "text", SYSTEM),
        ("system", "text", f"# AGENTS.md\n{AGENTS_MD}"),
        ("user", "text", "q1"),
        ("assistant", "tool_use", canonical_json({"id": "c1", "name": "grep",
                                                  "arguments": {"pattern": "parse"}})),
        ("tool", "tool_result", canonical_json({"id": "c1", "content": "src/parse.py:1"})),
        ("assistant", "text", "found it"),
        ("user", "text", "STATE: goal=fix parser"),  # stays in place, as user content
        ("user", "text", "src/parse.py:1 def parse"),
        ("user", "text", "q2"),
    ]


def test_same_content_same_order_everywhere() -> None:
    anthropic = Anthropic("claude-sonnet-4-6")
    draft = session_draft(anthropic)
    a = anthropic.render(draft)
    chat = OpenAI("gpt-5", api_key="k").render(draft)
    resp = OpenAI("gpt-5", api="responses", api_key="k").render(draft)
    local = from_draft(draft)
    assert local == expected()
    assert from_anthropic(a) == local
    assert from_chat(chat) == local
    assert from_responses(resp) == local
    # and each rendering is one its provider accepts
    assert fa.validate(a) == []
    assert fo.validate_chat(chat) == [] and fo.validate_responses(resp) == []


def test_parity_holds_when_anthropic_sends_thinking_back() -> None:
    anthropic = Anthropic("claude-sonnet-4-6")
    anthropic._parse({"content": [{"type": "thinking", "thinking": "plan: grep",
                                   "signature": fa.signature("plan: grep")}],
                      "model": "m", "usage": {"input_tokens": 1, "output_tokens": 1}})
    draft = session_draft(anthropic)
    a = anthropic.render(draft)
    assistant = a["messages"][1]["content"]
    assert assistant[0]["type"] == "thinking" and assistant[1]["type"] == "tool_use"
    assert fa.validate(a) == []
    assert from_anthropic(a) == from_draft(draft) == expected()
