"""Finding and reading recorded prompts: files and directories → RecordedSessions.

Owns format detection, the walk over directories, and the errors a user sees for files
that are not recorded prompts. Each format's mapping onto blocks lives in ``_formats``.
Knows nothing of analysis.

Accepted inputs (``FORMATS``):

* ``openai``: JSONL, one chat request per line: ``{"messages": [...], "tools": [...],
  "model": ...}``, a bare list of messages, or a batch line ``{"body": {...}}``.
* ``anthropic``: JSONL, one messages request per line: ``{"system": str | [blocks],
  "tools": [...], "messages": [...]}``.
* ``swe-agent``: a ``.traj`` JSON file; its ``history`` is the message list sent to the
  model, so the prompt of call k is the history before the k-th assistant message.
* ``openhands``: a directory of ``prompt_NNN.log`` files, one full text prompt per call.

A JSONL file is one session, unless its lines carry ``session_id`` (or ``session``): then
one session per id. A ``.traj`` is one session per agent named in its history.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._errors import UserError
from ._formats import (
    Item,
    anthropic_call,
    has_cache_markers,
    openai_call,
    openai_items,
    text_call,
)
from ._prompt import CallBuilder, RecordedCall, RecordedSession

FORMATS = ("openai", "anthropic", "swe-agent", "openhands")
ACCEPTED = (
    "ctxkit audit reads: OpenAI chat JSONL (one request per line: {\"messages\": [...], "
    "\"tools\": [...]} or a bare list of messages), Anthropic messages JSONL ({\"system\", "
    "\"tools\", \"messages\"} per line), SWE-agent .traj JSON, or a directory of OpenHands "
    "prompt_NNN.log files; force a format with --format openai|anthropic|swe-agent|openhands"
)
_PROMPT_LOG = re.compile(r"^prompt_(\d+)\.log$")
_DATA_SUFFIXES = (".traj", ".jsonl", ".json")


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The auditable items under ``paths``: data files, and directories of prompt logs."""
    items: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"{path}: no such file or directory; pass a recorded-prompt file "
                            "or a directory that holds some")
        if path.is_file():
            items.append(path.parent if _PROMPT_LOG.match(path.name) else path)
            continue
        found: list[Path] = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            if any(_PROMPT_LOG.match(f) for f in files):
                found.append(Path(root))
            found += [Path(root) / f for f in sorted(files) if f.endswith(_DATA_SUFFIXES)]
        if not found:
            raise UserError(f"{path}: no recorded prompts found (no .traj, .jsonl, .json or "
                            f"prompt_NNN.log files). {ACCEPTED}")
        items += found
    return list(dict.fromkeys(items))  # once each, in order


def load(item: Path, fmt: str | None = None) -> list[RecordedSession]:
    """The sessions recorded in one file or prompt-log directory.

    Raises:
        UserError: the item is unreadable or in none of the accepted formats.
    """
    if fmt is not None and fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if item.is_dir():
        if fmt not in (None, "openhands"):
            raise UserError(f"{item} is a directory; --format {fmt} reads files")
        return [load_prompt_logs(item)]
    try:
        text = item.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{item}: cannot read it ({exc}). {ACCEPTED}") from exc
    if fmt == "openhands":
        return [_session(item, "openhands", [text_call(0, text)])]
    doc = _whole_json(text)
    if fmt == "swe-agent" or (fmt is None and isinstance(doc, dict) and "history" in doc):
        if not isinstance(doc, dict) or not isinstance(doc.get("history"), list):
            raise UserError(f"{item}: not a SWE-agent trajectory (no 'history' list). {ACCEPTED}")
        return load_traj(item, doc)
    is_messages = isinstance(doc, list) and bool(doc) and all(
        isinstance(m, dict) and "role" in m for m in doc)
    if isinstance(doc, list) and not is_messages:
        requests = doc  # a JSON array of requests
    elif doc is not None:
        requests = [doc]  # one request, or one bare message list (a one-line JSONL too)
    else:
        requests = _jsonl(item, text)
    return load_requests(item, requests, fmt)


def _whole_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _jsonl(item: Path, text: str) -> list[Any]:
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UserError(f"{item}:{n}: not JSON ({exc.msg}). {ACCEPTED}") from exc
    if not out:
        raise UserError(f"{item}: empty file. {ACCEPTED}")
    return out


def _request(raw: Any, item: Path, n: int) -> dict[str, Any]:
    if isinstance(raw, list):
        return {"messages": raw}
    if isinstance(raw, dict):
        for wrapper in ("body", "request"):
            inner = raw.get(wrapper)
            if isinstance(inner, dict) and "messages" in inner:
                return {**inner, "session_id": raw.get("session_id", inner.get("session_id"))}
        if isinstance(raw.get("messages"), list):
            return raw
    raise UserError(f"{item}: request {n} has no 'messages' list. {ACCEPTED}")


def detect_messages_format(requests: list[dict[str, Any]]) -> str:
    """``anthropic`` or ``openai``, from the shapes a request uses (openai when both fit)."""
    for r in requests:
        if "system" in r or any(isinstance(t, dict) and "input_schema" in t
                                for t in (r.get("tools") or [])):
            return "anthropic"
        for m in r["messages"]:
            if not isinstance(m, dict):
                continue
            if m.get("role") in ("system", "developer", "tool") or "tool_calls" in m:
                return "openai"
            content = m.get("content")
            parts: list[Any] = content if isinstance(content, list) else []
            if any(isinstance(p, dict) and p.get("type") in ("tool_use", "tool_result")
                   for p in parts):
                return "anthropic"
    return "openai"


def load_requests(item: Path, raw: list[Any], fmt: str | None) -> list[RecordedSession]:
    requests = [_request(r, item, n) for n, r in enumerate(raw, start=1)]
    if not requests:
        raise UserError(f"{item}: no requests in it. {ACCEPTED}")
    kind = fmt or detect_messages_format(requests)
    if kind not in ("openai", "anthropic"):
        raise UserError(f"{item}: --format {kind} does not read message-list JSONL. {ACCEPTED}")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in requests:
        groups.setdefault(str(r.get("session_id") or r.get("session") or ""), []).append(r)
    sessions = []
    for sid, reqs in groups.items():
        try:
            if kind == "anthropic":
                calls = [anthropic_call(k, r) for k, r in enumerate(reqs)]
            else:
                calls = [openai_call(k, r["messages"], r.get("tools") or r.get("functions"))
                         for k, r in enumerate(reqs)]
        except (AttributeError, TypeError, KeyError) as exc:
            raise UserError(f"{item}: a request does not have the {kind} shape ({exc}). "
                            f"{ACCEPTED}") from exc
        s = _session(item, kind, calls, suffix=sid)
        s.has_cache_markers = kind == "anthropic" and any(has_cache_markers(r) for r in reqs)
        sessions.append(s)
    return sessions


def load_traj(item: Path, doc: dict[str, Any]) -> list[RecordedSession]:
    """SWE-agent: one session per agent; call k's prompt is the history before the k-th
    assistant message. User messages after the first assistant one are observations."""
    history = [m for m in doc["history"] if isinstance(m, dict)]
    agents = list(dict.fromkeys(str(m.get("agent", "")) for m in history))
    stats = (doc.get("info") or {}).get("model_stats") or {}
    sessions = []
    for agent in agents:
        msgs = [m for m in history if str(m.get("agent", "")) == agent]
        items: list[list[Item]] = []
        seen_assistant = False
        for i, m in enumerate(msgs):
            category = "observation" if seen_assistant else "user"
            items.append(openai_items(m, i, where="history", user_category=category))
            seen_assistant = seen_assistant or m.get("role") == "assistant"
        calls: list[RecordedCall] = []
        for end in (i for i, m in enumerate(msgs) if m.get("role") == "assistant"):
            b = CallBuilder(len(calls))
            for blocks in items[:end]:
                for blk, at in blocks:
                    b.add(blk, at)
            calls.append(b.build())
        s = _session(item, "swe-agent", calls, suffix=agent if len(agents) > 1 else "")
        if len(agents) == 1 and stats.get("tokens_sent"):
            s.reported_tokens_sent = int(stats["tokens_sent"])
            s.notes.append(f"the run recorded {int(stats['tokens_sent']):,} prompt tokens "
                           f"sent over {stats.get('api_calls', '?')} API calls")
        if len(agents) == 1 and stats.get("api_calls") and stats["api_calls"] != len(calls):
            s.notes.append(f"the run made {stats['api_calls']} API calls but its history has "
                           f"{len(calls)} replies; calls whose reply was not kept are not "
                           "in the history and are not audited")
        sessions.append(s)
    return sessions


def load_prompt_logs(folder: Path) -> RecordedSession:
    """A directory of ``prompt_NNN.log`` files, in NNN order, as one session."""
    logs = sorted((int(m.group(1)), f) for f in folder.iterdir()
                  if (m := _PROMPT_LOG.match(f.name)))
    if not logs:
        raise UserError(f"{folder}: no prompt_NNN.log files. {ACCEPTED}")
    calls: list[RecordedCall] = []
    for k, (_, f) in enumerate(logs):
        try:
            calls.append(text_call(k, f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{f}: cannot read it ({exc})") from exc
    return _session(folder, "openhands", calls)


def _session(item: Path, fmt: str, calls: list[Any], *, suffix: str = "") -> RecordedSession:
    name = item.name if item.is_dir() else item.stem
    if item.is_dir() and item.parent.name:
        name = f"{item.parent.name}/{item.name}"
    return RecordedSession(name=f"{name}#{suffix}" if suffix else name, source=str(item),
                           format=fmt, calls=calls)
