"""The LangChain v1 strategies, run through the real ``langchain.agents.create_agent``.

Owns replaying a Script through a real agent graph with LangChain's own middleware and a
recording chat model: ``RecordingChat`` subclasses ``ChatAnthropic`` (so
``AnthropicPromptCachingMiddleware`` treats it as the Anthropic model it is configured
for), answers each call with the script's move instead of an HTTP request, and records
the request the middleware stack produced — system message, tools, messages and the
``cache_control`` settings — which is converted to the neutral Prompt and scored.

Configurations (the middleware's documented settings, scaled to the window; ``avail``
is the window less the reply reserve; token counts are o200k over the whole prompt, via
each middleware's ``token_counter`` parameter):

* ``langchain_summarization``: ``SummarizationMiddleware`` with the reference docs'
  ``trigger=("fraction", 0.8)``, ``keep=("fraction", 0.3)`` as token counts (0.8 of
  ``avail``; the prefix plus 0.3 of what the window leaves for messages: the default
  ``keep=("messages", 20)`` overflows small windows), and ``trim_tokens_to_summarize=None``: the
  default (4000) trims the messages to summarize to their last 4000 tokens *starting on a
  human message*, which inside a long tool loop leaves nothing, and the summary becomes
  "Previous conversation was too long to summarize."; the summary is written by
  ``summarizer=`` — the same extractive summarizer ctxkit uses.
* ``langchain_context_editing``: ``ContextEditingMiddleware`` with
  ``ClearToolUsesEdit(trigger=0.8*avail, keep=3)`` (defaults otherwise; the edit applies
  to each request, not to the stored history, so ``clear_at_least`` would stop each
  request's clearing early and let the prompt outgrow the window).
* ``langchain_stack``: both, then ``AnthropicPromptCachingMiddleware(ttl="5m")``.
"""

from __future__ import annotations

from typing import Any

from .baselines import prefix_segments
from .score import Prompt, Scorer, Segment
from .sessions import Script

LANGCHAIN = ("langchain_summarization", "langchain_context_editing", "langchain_stack")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


def run_langchain(name: str, script: Script, scorer: Scorer) -> None:
    from langchain.agents import create_agent
    from langchain.agents.middleware import (
        ClearToolUsesEdit,
        ContextEditingMiddleware,
        SummarizationMiddleware,
    )
    from langchain_anthropic import ChatAnthropic
    from langchain_anthropic.middleware import AnthropicPromptCachingMiddleware
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import StructuredTool

    from ctxkit.compaction import ExtractiveSummarizer, SummaryRequest

    count = scorer.count
    prefix = prefix_segments(script)
    prefix_tokens = sum(count(s.text) + 4 for s in prefix)
    avail = scorer.limit
    state: dict[str, Any] = {"i": 0, "output": ""}

    def msg_segments(m: Any) -> list[Segment]:
        if isinstance(m, HumanMessage):
            return [Segment("user", _text(m.content))]
        if isinstance(m, ToolMessage):
            return [Segment("tool_result", _text(m.content), m.tool_call_id)]
        if isinstance(m, AIMessage):
            return [Segment("assistant", _text(m.content))] + [
                Segment("tool_use", f"{tc['name']} {tc['args']}", tc["id"] or "")
                for tc in m.tool_calls]
        return [Segment("system", _text(m.content))]

    use_tokens: dict[str, int] = {}

    def count_messages(messages: Any) -> int:
        n = prefix_tokens
        for m in messages:
            c = m.content
            n += (count(c) if isinstance(c, str) else count(_text(c))) + 4
            for tc in getattr(m, "tool_calls", None) or ():
                k = tc["id"] or ""
                if k not in use_tokens:
                    use_tokens[k] = count(f"{tc['name']} {tc['args']}") + 4
                n += use_tokens[k]
        return n

    def summarize(messages: Any) -> str:
        from ctxkit import Block

        blocks = []
        for m in messages:
            for s in msg_segments(m):
                role = {"tool_use": "assistant", "tool_result": "tool"}.get(s.role, s.role)
                kind = s.role if s.role in ("tool_use", "tool_result") else "text"
                blocks.append(Block(layer="history", role=role, kind=kind,  # type: ignore[arg-type]
                                    content=s.text, call_id=s.call_id or None))
        text = ExtractiveSummarizer().summarize(SummaryRequest(dropped=blocks)).render()
        scorer.summary_call("\n".join(b.content for b in blocks), text)
        scorer.t.compactions += 1
        return text

    class RecordingChat(ChatAnthropic):
        """A ChatAnthropic that answers from the script and records each request."""

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            i = state["i"]
            c = script.calls[i]
            segs = list(prefix)
            for m in messages[1:] if messages and messages[0].type == "system" else messages:
                segs += msg_segments(m)
            bps: dict[int, str] = {}
            if kwargs.get("cache_control"):
                ttl = kwargs["cache_control"].get("ttl", "5m")
                bps = {0: ttl, len(prefix) - 1: ttl, len(segs) - 1: ttl}
            scorer.call(Prompt(segs, bps), reply=c.reply, new_turn=c.user is not None,
                        needs=[(script.facts[n].kind, script.facts[n].probe)
                               for n in c.needs])
            state["i"] = i + 1
            calls = []
            if c.tool is not None:
                calls = [{"name": c.tool, "args": c.args, "id": f"call_{i}"}]
                state["output"] = c.output
            return ChatResult(generations=[ChatGeneration(
                message=AIMessage(content=c.reply, tool_calls=calls))])

    def run_tool(command: str = "", path: str | None = None) -> str:
        return str(state["output"])

    tools = [StructuredTool.from_function(run_tool, name=t["name"],
                                          description=t["description"]) for t in script.tools]
    model = RecordingChat(model="claude-sonnet-4-5", api_key="recorded",  # type: ignore[call-arg]
                          max_tokens=4096)
    middleware: list[Any] = []
    if name in ("langchain_summarization", "langchain_stack"):
        middleware.append(SummarizationMiddleware(
            model=model, trigger=("tokens", int(0.8 * avail)),
            keep=("tokens", prefix_tokens + int(0.3 * (avail - prefix_tokens))),
            token_counter=count_messages, trim_tokens_to_summarize=None, summarizer=summarize))
    if name in ("langchain_context_editing", "langchain_stack"):
        middleware.append(ContextEditingMiddleware(
            edits=[ClearToolUsesEdit(trigger=int(0.8 * avail), keep=3)],
            token_counter=count_messages))
    if name == "langchain_stack":
        middleware.append(AnthropicPromptCachingMiddleware(ttl="5m"))
    agent = create_agent(model, tools=tools or None, system_prompt=script.system,
                         middleware=middleware)
    messages: list[Any] = []
    for c in script.calls:
        if c.user is None:
            continue
        result = agent.invoke({"messages": [*messages, HumanMessage(c.user)]},
                              {"recursion_limit": 100_000})
        messages = result["messages"]
    if state["i"] != len(script.calls):
        raise RuntimeError(f"{name}: the agent made {state['i']} of {len(script.calls)} calls")
