"""Finding and reading recorded prompts: files and directories → a stream of calls.

Owns the walk over directories, format detection (and saying what it chose and why), and
the errors a user sees for inputs that are not logs. Every file passes ``_read`` first
(regular files only, size cap, bounded JSON depth). JSONL request logs are streamed line by
line; when their lines carry no session id, sessions are inferred with
``_sessions.SessionSplitter``. Whole-JSON files are read whole. Each agent's mapping lives
in ``_formats`` (wire shapes), ``_agents`` (run files) and ``_events`` (event logs).

``stream(item)`` yields ``(session, call)`` pairs and ``(session, None)`` when a session is
complete; ``load(item)`` gathers them into RecordedSessions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .._errors import UserError
from ._agents import load_completion_files, load_mini, load_runs, load_traj, load_transcript
from ._estimate import head_length
from ._events import load_claude_lines, load_openhands_output
from ._formats import (
    anthropic_call,
    detect_messages_format,
    has_cache_markers,
    openai_call,
    text_call,
)
from ._prompt import RecordedCall, RecordedSession, session_for
from ._read import MAX_BYTES, check_regular, iter_lines, loads, read_text
from ._sessions import DEFAULT_LOOKBACK, SessionSplitter

FORMATS = ("openai", "anthropic", "swe-agent", "mini-swe-agent", "tau-bench", "transcript",
           "openhands", "openhands-output", "openhands-completions", "claude-code",
           "claude-stream")
ACCEPTED = (
    "ctxkit audit reads: OpenAI or Anthropic request JSONL (one request per line), SWE-agent "
    ".traj, mini-swe-agent .traj.json, result lists of runs with 'traj'/'messages' "
    "(tau-bench), a JSON transcript with 'messages', OpenHands output.jsonl, llm_completions "
    "directories and prompt_NNN.log directories, Claude Code session JSONL and stream-json; "
    "force one with --input-format " + "|".join(FORMATS))
_PROMPT_LOG = re.compile(r"^prompt_(\d+)\.log$")
_DATA_SUFFIXES = (".traj", ".jsonl", ".json")

Event = tuple[RecordedSession, RecordedCall | None]
Progress = Callable[[int], None]


def discover(paths: Iterable[str | os.PathLike[str]], max_bytes: int = MAX_BYTES
             ) -> tuple[list[Path], list[tuple[str, str]]]:
    """The auditable items under ``paths`` (data files, prompt-log and llm_completions
    directories) and the files found but skipped, with the reason."""
    items: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"{path}: no such file or directory; pass a recorded-prompt file "
                            "or a directory that holds some")
        if not path.is_dir():
            check_regular(path, max_bytes)
            items.append(path.parent if _PROMPT_LOG.match(path.name) else path)
            continue
        found: list[Path] = []
        for root, dirs, files in os.walk(path):  # does not follow directory symlinks
            dirs.sort()
            here = Path(root)
            if any(_PROMPT_LOG.match(f) for f in files) or (
                    here.parent.name == "llm_completions" and any(f.endswith(".json")
                                                                  for f in files)):
                found.append(here)
                continue
            for f in sorted(files):
                if f.endswith(_DATA_SUFFIXES):
                    try:
                        check_regular(here / f, max_bytes)
                    except UserError as exc:
                        skipped.append((str(here / f), str(exc).removeprefix(f"{here / f}: ")))
                        continue
                    found.append(here / f)
        if not found and not skipped:
            raise UserError(f"{path}: no recorded prompts found (no .traj, .jsonl, .json or "
                            f"prompt_NNN.log files). {ACCEPTED}")
        items += found
    return list(dict.fromkeys(items)), skipped


def load(item: Path, fmt: str | None = None, max_bytes: int = MAX_BYTES
         ) -> list[RecordedSession]:
    """Every session recorded in one item, calls gathered (small inputs, tests)."""
    out: dict[int, tuple[RecordedSession, list[RecordedCall]]] = {}
    for s, call in stream(item, fmt, max_bytes)[1]:
        _, calls = out.setdefault(id(s), (s, []))
        if call is not None:
            call.index = len(calls)
            calls.append(call)
    for s, calls in out.values():
        s.calls = calls
    return [s for s, _ in out.values()]


def stream(item: Path, fmt: str | None = None, max_bytes: int = MAX_BYTES,
           progress: Progress | None = None) -> tuple[tuple[str, str], Iterator[Event]]:
    """The detected format of ``item`` (with why) and its calls as a stream.

    Raises:
        UserError: the item is unreadable, in none of the accepted formats, or not in the
            forced ``fmt``.
    """
    if fmt is not None and fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if item.is_dir():
        return _directory(item, fmt, max_bytes)
    if item.suffix == ".jsonl":
        return _jsonl(item, fmt, max_bytes, progress)
    text = read_text(item, max_bytes)
    if fmt == "openhands":
        return ("openhands", "forced"), _whole([session_for(item, "openhands",
                                                            [text_call(0, text)])])
    try:
        doc = loads(text, str(item))
    except ValueError:
        return _jsonl(item, fmt, max_bytes, progress)  # JSONL under another suffix
    detected, why, sessions = _document(item, doc)
    _check_forced(item, fmt, detected)
    if progress is not None:
        progress(len(text))
    return (detected, why), _whole(sessions)


def _check_forced(item: Path, fmt: str | None, detected: str) -> None:
    same = {detected, "openai" if detected in ("transcript", "openai") else detected}
    if fmt is not None and fmt not in same:
        raise UserError(f"{item}: --input-format {fmt} does not fit this file: it reads as "
                        f"{detected}. Leave the format out to detect it, or pick the right one")


def _whole(sessions: list[RecordedSession]) -> Iterator[Event]:
    for s in sessions:
        calls, s.calls = s.calls, []
        for c in calls:
            yield s, c
        yield s, None


def _directory(item: Path, fmt: str | None, max_bytes: int
               ) -> tuple[tuple[str, str], Iterator[Event]]:
    logs = sorted((int(m.group(1)), f) for f in item.iterdir()
                  if (m := _PROMPT_LOG.match(f.name)))
    if logs and fmt in (None, "openhands"):
        calls = [text_call(k, read_text(f, max_bytes)) for k, (_, f) in enumerate(logs)]
        return (("openhands", "a directory of prompt_NNN.log files"),
                _whole([session_for(item, "openhands", calls)]))
    files = sorted(f for f in item.iterdir() if f.suffix == ".json")
    if files and fmt in (None, "openhands-completions"):
        docs = []
        for f in files:
            d = loads(read_text(f, max_bytes), str(f))
            if not (isinstance(d, dict) and "messages" in d and "response" in d):
                raise UserError(f"{f}: not an llm_completions log (no 'messages' and "
                                f"'response'). {ACCEPTED}")
            docs.append((f, d))
        return (("openhands-completions", "an llm_completions directory"),
                _whole([load_completion_files(item, docs)]))
    raise UserError(f"{item}: a directory without prompt_NNN.log or llm_completions files"
                    + (f" for --input-format {fmt}" if fmt else "") + f". {ACCEPTED}")


def _document(item: Path, doc: Any) -> tuple[str, str, list[RecordedSession]]:
    """A whole-JSON file: which format, why, and its sessions."""
    if isinstance(doc, dict):
        fmt_tag = str(doc.get("trajectory_format", ""))
        if fmt_tag.startswith("mini-swe-agent") or (
                isinstance(doc.get("messages"), list)
                and "api_calls" in ((doc.get("info") or {}).get("model_stats") or {})):
            return "mini-swe-agent", "'messages' with info.model_stats", load_mini(item, doc)
        if isinstance(doc.get("trajectory"), list) or isinstance(doc.get("history"), list) \
                and "instance_id" not in doc:
            return "swe-agent", "a 'trajectory'/'history' run file", load_traj(item, doc)
        if isinstance(doc.get("history"), list):
            return ("openhands-output", "an evaluation record with 'history'",
                    [load_openhands_output(item, doc, 0)])
        if isinstance(doc.get("messages"), list) and "response" in doc:
            return ("openhands-completions", "one llm_completions call",
                    [load_completion_files(item, [(item, doc)])])
        if isinstance(doc.get("messages"), list):
            if _is_anthropic([doc]):
                return "anthropic", "one Anthropic request", [
                    _single(item, "anthropic", anthropic_call(0, doc), doc)]
            return ("transcript", "'messages' (one prompt per assistant turn)",
                    [load_transcript(item, doc, "transcript")])
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
        if all(isinstance(r.get("traj"), list) or ("messages" in r and "role" not in r
                                                    and ("task_id" in r or "reward" in r))
               for r in doc):
            return "tau-bench", "a list of runs with 'traj'/'messages'", load_runs(item, doc)
        if all("role" in m for m in doc):
            return ("transcript", "a list of messages",
                    [load_transcript(item, {"messages": doc}, "transcript")])
        if all(isinstance(r.get("messages"), list) for r in doc):
            kind = "anthropic" if _is_anthropic(doc) else "openai"
            calls = [_request_call(kind, k, r) for k, r in enumerate(doc)]
            s = session_for(item, kind, calls)
            s.has_cache_markers = kind == "anthropic" and any(has_cache_markers(r) for r in doc)
            return kind, "a JSON array of requests", [s]
    raise UserError(f"{item}: JSON in none of the accepted shapes. {ACCEPTED}")


def _single(item: Path, kind: str, call: RecordedCall, doc: dict[str, Any]
            ) -> RecordedSession:
    s = session_for(item, kind, [call])
    s.has_cache_markers = has_cache_markers(doc)
    return s


def _is_anthropic(requests: list[dict[str, Any]]) -> bool:
    return detect_messages_format(requests) == "anthropic"


def _request_call(kind: str, k: int, r: dict[str, Any]) -> RecordedCall:
    if kind == "anthropic":
        return anthropic_call(k, r)
    model = r.get("model") if isinstance(r.get("model"), str) else None
    return openai_call(k, r["messages"], r.get("tools") or r.get("functions"), model=model)


# -- JSONL ---------------------------------------------------------------------------------

def _jsonl(item: Path, fmt: str | None, max_bytes: int, progress: Progress | None
           ) -> tuple[tuple[str, str], Iterator[Event]]:
    lines = _parsed(item, max_bytes, progress)
    head: list[tuple[int, Any]] = []
    for pair in lines:
        head.append(pair)
        if len(head) >= 5:
            break
    if not head:
        raise UserError(f"{item}: empty file. {ACCEPTED}")
    detected, why = _detect_lines(item, [x for _, x in head])
    if fmt is not None and fmt != detected and not (
            fmt in ("openai", "anthropic") and detected in ("openai", "anthropic")):
        raise UserError(f"{item}: --input-format {fmt} does not fit this file: its lines read "
                        f"as {detected} ({why}). Leave the format out to detect it")
    detected = fmt or detected
    rest = _chain(head, lines)
    if detected in ("claude-code", "claude-stream"):
        objs = [(n, x) for n, x in rest if isinstance(x, dict)]
        return (detected, why), _whole(load_claude_lines(item, objs, detected))
    if detected == "openhands-output":
        return (detected, why), _openhands_lines(item, rest)
    return (detected, why), _requests(item, rest, detected)


def _parsed(item: Path, max_bytes: int, progress: Progress | None
            ) -> Iterator[tuple[int, Any]]:
    for n, line in iter_lines(item, max_bytes, progress):
        try:
            yield n, loads(line, f"{item}:{n}")
        except ValueError as exc:
            raise UserError(f"{item}:{n}: not JSON ({exc}). {ACCEPTED}") from exc


def _chain(head: list[tuple[int, Any]], rest: Iterator[tuple[int, Any]]
           ) -> Iterator[tuple[int, Any]]:
    yield from head
    yield from rest


def _detect_lines(item: Path, objs: list[Any]) -> tuple[str, str]:
    dicts = [o for o in objs if isinstance(o, dict)]
    if dicts and all("call_id" in o and "predicted" in o for o in dicts):
        raise UserError(f"{item}: a ctxkit trace (CallRecords, written by "
                        "ContextPipeline(trace=...)), not another agent's log; read it with "
                        f"`ctxkit report {item}`")
    if any(o.get("type") == "system" and o.get("subtype") == "init" for o in dicts) or any(
            o.get("type") in ("assistant", "user", "result") and "session_id" in o
            for o in dicts):
        return "claude-stream", "lines typed system/assistant/user/result with session_id"
    if any(o.get("type") in ("user", "assistant", "summary", "file-history-snapshot")
           and ("sessionId" in o or "uuid" in o or "leafUuid" in o) for o in dicts):
        return "claude-code", "lines typed user/assistant with sessionId/uuid"
    if any(isinstance(o.get("history"), list) and "messages" not in o for o in dicts):
        return "openhands-output", "evaluation records with an event 'history'"
    reqs = [_request(o) for o in objs]
    if all(r is None for r in reqs):
        raise UserError(f"{item}: the first lines are neither requests ('messages'), events "
                        f"(Claude Code, OpenHands) nor message lists. {ACCEPTED}")
    if _is_anthropic([r for r in reqs if r is not None]):
        return "anthropic", "requests with a top-level 'system', tool_use or input_schema"
    return "openai", "chat requests with 'messages'"


def _request(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, list):
        return {"messages": raw}
    if isinstance(raw, dict):
        for wrapper in ("body", "request"):
            inner = raw.get(wrapper)
            if isinstance(inner, dict) and "messages" in inner:
                sid = raw.get("session_id", inner.get("session_id"))
                return {**inner, "session_id": sid, "usage": _usage_of(raw)}
        if isinstance(raw.get("messages"), list):
            return raw
    return None


def _usage_of(raw: dict[str, Any]) -> Any:
    for key in ("response", "result"):
        inner = raw.get(key)
        if isinstance(inner, dict):
            body = inner["body"] if isinstance(inner.get("body"), dict) else inner
            if "usage" in body:
                return body["usage"]
    return raw.get("usage")


def _openhands_lines(item: Path, lines: Iterator[tuple[int, Any]]) -> Iterator[Event]:
    for n, doc in lines:
        if not isinstance(doc, dict) or not isinstance(doc.get("history"), list):
            raise UserError(f"{item}:{n}: not an OpenHands evaluation record (no 'history')")
        yield from _whole([load_openhands_output(item, doc, n)])


def _requests(item: Path, lines: Iterator[tuple[int, Any]], kind: str) -> Iterator[Event]:
    """Request JSONL, streamed; sessions by id, else inferred by conversation start."""
    from ._usage import parse_usage

    splitter = SessionSplitter()
    sessions: dict[str, RecordedSession] = {}
    last_seen: dict[str, int] = {}
    for idx, (n, raw) in enumerate(lines):
        r = _request(raw)
        if r is None:
            raise UserError(f"{item}:{n}: request has no 'messages' list. {ACCEPTED}")
        try:
            call = _request_call(kind, 0, r)
        except (AttributeError, TypeError, KeyError) as exc:
            raise UserError(f"{item}:{n}: not in the {kind} request shape ({exc}). "
                            f"{ACCEPTED}") from exc
        call.usage = parse_usage(r.get("usage"))
        sid = r.get("session_id") or r.get("session")
        if sid:
            key = f"id:{sid}"
            label = str(sid)
        else:
            h = head_length(call.blocks)
            body = call.blocks[h:]
            a = splitter.assign([b.hash for b in call.blocks[:h]], [b.hash for b in body],
                                [len(b.content) + 1 for b in body])
            key, label = f"s:{a.session}", f"{a.session + 1}"
        s = sessions.get(key)
        if s is None:
            s = sessions[key] = session_for(item, kind, [], suffix=label)
            s.model = call.model
            if not sid:
                s.notes.append("session inferred: the log carries no session ids, so a call "
                               "that continues no earlier conversation starts a new session")
        s.has_cache_markers = s.has_cache_markers or (kind == "anthropic"
                                                      and has_cache_markers(r))
        last_seen[key] = idx
        yield s, call
        for old in [k for k, seen in last_seen.items()
                    if k.startswith("s:") and idx - seen >= DEFAULT_LOOKBACK]:
            yield sessions.pop(old), None
            del last_seen[old]
    for s in sessions.values():
        yield s, None
