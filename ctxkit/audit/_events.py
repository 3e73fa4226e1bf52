"""Event logs → RecordedSessions: OpenHands ``output.jsonl`` histories, Claude Code session
files (``~/.claude/projects/**/*.jsonl``) and ``--output-format stream-json`` output.

Owns turning each agent's events back into the conversation it sent, one prompt per model
call (``_transcript``), with the usage the provider reported for that call:

* OpenHands: a ``system`` action (system prompt and tools, newer versions), user
  ``message`` actions, agent actions carrying ``tool_call_metadata`` (one model response
  may hold several tool calls: one call per ``model_response.id``), observations as tool
  results; ``metrics.token_usages`` (per ``response_id``) is the measured usage.
* Claude Code: ``user`` / ``assistant`` lines whose ``message`` is an Anthropic message;
  one API response is split over several lines sharing ``message.id`` (one call);
  ``isSidechain`` lines (sub-agents) and stream-json lines with a ``parent_tool_use_id``
  are conversations of their own; ``message.usage`` is the measured usage. Claude Code
  does not record its system prompt and tool schemas, so measured input exceeds the
  rebuilt prompts (the audit states the gap).

Knows nothing of analysis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._block import Block
from ._formats import Item, anthropic_message_items, openai_items, text_of, tool_items
from ._prompt import RecordedSession, session_for
from ._transcript import rebuild_calls
from ._usage import MeasuredUsage, parse_usage


def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


class Conversation:
    """Messages of one conversation as they accumulate, with each reply's usage."""

    def __init__(self) -> None:
        self.head: list[Item] = []
        self.items: list[list[Item]] = []
        self.roles: list[str] = []
        self.usages: list[MeasuredUsage | None] = []
        self.reply_ids: list[str | None] = []
        self.model: str | None = None

    def add(self, items: list[Item], role: str, *, usage: MeasuredUsage | None = None,
            reply_id: str | None = None) -> None:
        """Append a message; an assistant message with the same ``reply_id`` as the last
        one is the same model response and is merged into it."""
        if role == "assistant" and reply_id is not None and self.roles \
                and self.roles[-1] == "assistant" and self.reply_ids[-1] == reply_id:
            self.items[-1] = self.items[-1] + items
            self.usages[-1] = self.usages[-1] or usage
            return
        self.items.append(items)
        self.roles.append(role)
        self.usages.append(usage)
        self.reply_ids.append(reply_id)

    def session(self, item: Path, fmt: str, suffix: str = "") -> RecordedSession:
        calls = rebuild_calls(self.head, self.items, self.roles, usages=self.usages,
                              model=self.model)
        s = session_for(item, fmt, calls, suffix=suffix)
        s.reconstructed, s.model = True, self.model
        return s


# -- OpenHands output.jsonl ------------------------------------------------------------

_SKIP_OBS = {"agent_state_changed", "null", "recall", "change_agent_state", "user_rejected"}


def _events(history: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in history if isinstance(history, list) else []:
        if isinstance(e, list):  # 2024 format: [action, observation] pairs
            out += [x for x in e if isinstance(x, dict)]
        elif isinstance(e, dict):
            out.append(e)
    return out


def _tool_args(meta: dict[str, Any], call_id: str, event: dict[str, Any]) -> str:
    for choice in _d(meta.get("model_response")).get("choices") or []:
        for tc in _d(_d(choice).get("message")).get("tool_calls") or []:
            if _d(tc).get("id") == call_id:
                return str(_d(tc.get("function")).get("arguments", ""))
    return json.dumps(_d(event.get("args")), ensure_ascii=False)


def load_openhands_output(item: Path, doc: dict[str, Any], n: int) -> RecordedSession:
    """One ``output.jsonl`` line (one evaluated instance) as one session."""
    conv = Conversation()
    conv.model = _d(_d(doc.get("metadata")).get("llm_config")).get("model")
    usage_by_id = {str(u.get("response_id")): parse_usage(u)
                   for u in _d(doc.get("metrics")).get("token_usages") or []
                   if isinstance(u, dict)}
    k = 0
    for e in _events(doc.get("history")):
        args = _d(e.get("args"))
        meta = _d(e.get("tool_call_metadata"))
        if e.get("action") == "system":
            conv.head = [(Block(layer="system", role="system", key="system",
                                content=text_of(args.get("content"))), f"history[{k}]")]
            conv.head += tool_items(args.get("tools"))
        elif "observation" in e:
            if e.get("observation") in _SKIP_OBS or not e.get("content"):
                continue
            call_id = meta.get("tool_call_id")
            msg = {"role": "tool", "tool_call_id": call_id, "content": e.get("content")} \
                if call_id else {"role": "user", "content": e.get("content")}
            conv.add(openai_items(msg, k, where="history", user_category="observation"),
                     "tool" if call_id else "user")
        elif e.get("source") == "user" and e.get("action") == "message":
            conv.add(openai_items({"role": "user", "content": args.get("content")}, k,
                                  where="history"), "user")
        elif e.get("source") == "agent" and "action" in e:
            rid = str(_d(meta.get("model_response")).get("id") or f"event{e.get('id', k)}")
            usage = usage_by_id.get(rid) or parse_usage(
                _d(meta.get("model_response")).get("usage"))
            if meta.get("tool_call_id"):
                cid = str(meta["tool_call_id"])
                msg = {"role": "assistant", "content": args.get("thought") or None,
                       "tool_calls": [{"id": cid, "function": {
                           "name": meta.get("function_name", e.get("action")),
                           "arguments": _tool_args(meta, cid, e)}}]}
            elif e.get("action") == "message":
                msg = {"role": "assistant", "content": args.get("content")}
            else:
                continue  # bookkeeping actions (state changes) are not model replies
            conv.add(openai_items(msg, k, where="history"), "assistant", usage=usage,
                     reply_id=rid)
        k += 1
    name = str(doc.get("instance_id") or n)
    s = conv.session(item, "openhands-output", suffix=name)
    usages = _d(doc.get("metrics")).get("token_usages")
    if isinstance(usages, list) and usages:
        s.reported_calls = len(usages)
    if not conv.head:
        s.notes.append("the history holds no system action: the system prompt and tools "
                       "(sent with every call) are not in the log and not counted")
    return s


# -- Claude Code ---------------------------------------------------------------------------

def _claude_message(line: dict[str, Any], conv: Conversation, n: int) -> None:
    msg = _d(line.get("message"))
    role = str(msg.get("role") or line.get("type"))
    if role not in ("user", "assistant"):
        return
    if isinstance(msg.get("model"), str) and msg["model"] != "<synthetic>":
        conv.model = conv.model or msg["model"]
    items = anthropic_message_items(msg, n, where="lines")
    rid = str(msg.get("id") or line.get("requestId") or line.get("uuid") or n)
    conv.add(items, role, usage=parse_usage(msg.get("usage")) if role == "assistant" else None,
             reply_id=rid if role == "assistant" else None)


def load_claude_lines(item: Path, lines: list[tuple[int, dict[str, Any]]], fmt: str
                      ) -> list[RecordedSession]:
    """Claude Code session JSONL (``fmt='claude-code'``) or stream-json
    (``fmt='claude-stream'``): one session per conversation (main, each sub-agent)."""
    convs: dict[str, Conversation] = {}
    chain: dict[str, str] = {}  # uuid -> conversation key
    sidechains = 0
    result: dict[str, Any] = {}
    tools: list[str] = []
    for n, line in lines:
        kind = line.get("type")
        if kind == "result":
            result = line
            continue
        if kind == "system" and line.get("subtype") == "init":
            tools = [str(t) for t in line.get("tools") or []]
            continue
        if kind not in ("user", "assistant"):
            continue
        if fmt == "claude-stream":
            key = str(line.get("parent_tool_use_id") or "main")
        elif line.get("isSidechain"):
            parent = line.get("parentUuid")
            if parent in chain:
                key = chain[parent]
            else:
                sidechains += 1
                key = f"agent {sidechains}"
        else:
            key = "main"
        if uuid := line.get("uuid"):
            chain[str(uuid)] = key
        _claude_message(line, convs.setdefault(key, Conversation()), n)
    sessions = []
    for key, conv in convs.items():
        s = conv.session(item, fmt, suffix="" if key == "main" else key)
        s.notes.append("Claude Code does not record its system prompt and tool schemas: "
                       "they are sent with every call but are not in the rebuilt prompts"
                       + (f" ({len(tools)} tools named at init)" if tools else ""))
        if fmt == "claude-stream" and key == "main":
            s.notes.append("stream-json does not echo the first user prompt")
            if isinstance(result.get("num_turns"), int):
                s.notes.append(f"the run reported {result['num_turns']} turns")
        if s.calls:
            sessions.append(s)
    return sessions
