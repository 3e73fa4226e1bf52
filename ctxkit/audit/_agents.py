"""Agent run files → RecordedSessions: SWE-agent ``.traj``, mini-swe-agent ``.traj.json``,
result lists of runs (tau-bench), OpenHands ``output.jsonl`` histories and
``llm_completions`` logs, a JSON transcript.

Owns where each agent keeps the prompts it sent, and what it says about its own calls:

* SWE-agent 1.1 ``trajectory[k].query`` and 1.0 ``trajectory[k].messages`` are the
  prompts after the agent's history processors: the bytes sent (1.0 stores the messages
  *after* step k, so call k+1 sent ``trajectory[k].messages``). Older files keep only
  ``history``, which is rebuilt (and said to be).
* mini-swe-agent, tau-bench and OpenHands histories keep a final transcript: one prompt per
  assistant turn, rebuilt. Observations that mini-swe-agent and SWE-agent send as ``user``
  messages are tool output.
* OpenHands ``llm_completions``: one file per call with the messages sent and the provider's
  response (measured usage).

Recorded call counts and tokens sent go on the session for the audit to compare. Knows
nothing of analysis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._errors import UserError
from ._formats import Item, openai_call, openai_items, tool_items
from ._prompt import CallBuilder, RecordedCall, RecordedSession, session_for
from ._transcript import rebuild_calls
from ._usage import parse_usage


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _messages(x: Any) -> list[dict[str, Any]]:
    return [m for m in x if isinstance(m, dict)] if isinstance(x, list) else []


def message_items(msgs: list[dict[str, Any]], *, observations_as_user: bool, where: str
                  ) -> tuple[list[list[Item]], list[str]]:
    """Blocks and role of each message; ``user`` messages after the first assistant one
    (or marked ``message_type: observation``) are tool output when the agent says so."""
    items, roles, seen_assistant = [], [], False
    for i, m in enumerate(msgs):
        role = str(m.get("role", "user"))
        is_obs = m.get("message_type") == "observation" or (observations_as_user
                                                              and seen_assistant)
        items.append(openai_items(m, i, where=where,
                                  user_category="observation" if is_obs else "user"))
        roles.append(role)
        seen_assistant = seen_assistant or role == "assistant"
    return items, roles


def _stats_notes(s: RecordedSession, stats: dict[str, Any]) -> None:
    if stats.get("tokens_sent"):
        s.reported_tokens_sent = int(stats["tokens_sent"])
    if stats.get("api_calls"):
        s.reported_calls = int(stats["api_calls"])


def _sent_call(k: int, msgs: list[dict[str, Any]], model: str | None) -> RecordedCall:
    """One prompt the agent stored as sent (observations in ``user`` messages are tool
    output)."""
    b = CallBuilder(k, model=model)
    items, _ = message_items(msgs, observations_as_user=True, where="messages")
    for blocks in items:
        for blk, at in blocks:
            b.add(blk, at)
    return b.build()


def _swe_model(doc: dict[str, Any]) -> str | None:
    cfg = doc.get("replay_config")
    if isinstance(cfg, str):
        try:
            cfg = json.loads(cfg)
        except ValueError:
            cfg = None
    name = _dict(_dict(_dict(cfg).get("agent")).get("model")).get("name")
    return name if isinstance(name, str) and name else None


def load_traj(item: Path, doc: dict[str, Any]) -> list[RecordedSession]:
    """SWE-agent: the prompts sent when the file has them, else rebuilt from history."""
    steps = [s for s in doc.get("trajectory") or [] if isinstance(s, dict)]
    stats = _dict(_dict(doc.get("info")).get("model_stats"))
    model = _swe_model(doc)
    if steps and all(isinstance(s.get("query"), list) for s in steps):  # 1.1
        calls = [_sent_call(k, _messages(s["query"]), model) for k, s in enumerate(steps)]
        s = session_for(item, "swe-agent", calls)
        s.notes.append("prompts as sent (trajectory[k].query, SWE-agent >= 1.1)")
    elif steps and all(isinstance(s.get("messages"), list) for s in steps):  # 1.0
        first = _messages(steps[0]["messages"])
        last_reply = max((i for i, m in enumerate(first) if m.get("role") == "assistant"),
                         default=len(first))
        prompts = [first[:last_reply]] + [_messages(s["messages"]) for s in steps[:-1]]
        calls = [_sent_call(k, p, model) for k, p in enumerate(prompts)]
        s = session_for(item, "swe-agent", calls)
        s.notes.append("prompts as sent (trajectory[k].messages, SWE-agent 1.0: call k+1 "
                       "sent the messages stored with step k)")
    else:
        return _traj_history(item, doc, stats, model)
    s.model = model
    _stats_notes(s, stats)
    return [s]


def _traj_history(item: Path, doc: dict[str, Any], stats: dict[str, Any], model: str | None
                  ) -> list[RecordedSession]:
    history = _messages(doc.get("history"))
    agents = list(dict.fromkeys(str(m.get("agent", "")) for m in history))
    sessions = []
    for agent in agents:
        msgs = [m for m in history if str(m.get("agent", "")) == agent]
        items, roles = message_items(msgs, observations_as_user=True, where="history")
        s = session_for(item, "swe-agent", rebuild_calls([], items, roles, model=model),
                        suffix=agent if len(agents) > 1 else "")
        s.reconstructed, s.model = True, model
        s.notes.append("prompts rebuilt from `history` (this SWE-agent version did not store "
                       "the prompts it sent; history processors are not visible)")
        if len(agents) == 1:
            _stats_notes(s, stats)
        sessions.append(s)
    return sessions


def load_mini(item: Path, doc: dict[str, Any]) -> list[RecordedSession]:
    """mini-swe-agent ``.traj.json``: the final messages, one prompt per assistant turn;
    observations come back as ``user`` messages; assistant ``extra.response.usage`` is the
    call's measured usage."""
    msgs = _messages(doc.get("messages"))
    info = _dict(doc.get("info"))
    cfg = _dict(_dict(info.get("config")).get("model"))
    model = cfg.get("model_name") if isinstance(cfg.get("model_name"), str) else None
    items, roles = message_items(msgs, observations_as_user=True, where="messages")
    usages = [parse_usage(_dict(_dict(m.get("extra")).get("response")).get("usage"))
              for m in msgs]
    s = session_for(item, "mini-swe-agent",
                    rebuild_calls([], items, roles, usages=usages, model=model))
    s.reconstructed, s.model = True, model
    _stats_notes(s, _dict(info.get("model_stats")))
    return [s]


def load_transcript(item: Path, doc: dict[str, Any], fmt: str, *, suffix: str = "",
                    messages_key: str = "messages") -> RecordedSession:
    """One conversation (a JSON transcript, a tau-bench run): a prompt per assistant turn,
    and the whole list as the last prompt when it ends with a request."""
    msgs = _messages(doc.get(messages_key))
    model = doc.get("model") if isinstance(doc.get("model"), str) else None
    items, roles = message_items(msgs, observations_as_user=False, where=messages_key)
    head = tool_items(doc.get("tools"))
    calls = rebuild_calls(head, items, roles, model=model, final=True)
    s = session_for(item, fmt, calls, suffix=suffix)
    s.reconstructed = sum(r == "assistant" for r in roles) > 0
    s.model = model
    return s


def load_runs(item: Path, runs: list[Any]) -> list[RecordedSession]:
    """A result file holding a list of runs, each with ``traj`` or ``messages``."""
    out = []
    for n, run in enumerate(runs):
        if not isinstance(run, dict):
            raise UserError(f"{item}: run {n} is not an object with a 'traj' list")
        key = "traj" if isinstance(run.get("traj"), list) else "messages"
        label = f"task {run.get('task_id', n)}"
        if run.get("trial"):
            label += f" trial {run['trial']}"
        s = load_transcript(item, run, "tau-bench" if key == "traj" else "runs",
                            suffix=label, messages_key=key)
        if s.calls:
            out.append(s)
    return out


def load_completion_files(folder: Path, files: list[tuple[Path, dict[str, Any]]]
                          ) -> RecordedSession:
    """OpenHands ``llm_completions/<instance>/*.json``: one file per call, in time order."""
    files = sorted(files, key=lambda f: (float(f[1].get("timestamp") or 0), f[0].name))
    calls = []
    for k, (_, d) in enumerate(files):
        kwargs = _dict(d.get("kwargs"))
        msgs = _messages(d.get("messages"))
        response = _dict(d.get("response"))
        model = response.get("model") if isinstance(response.get("model"), str) else None
        call = openai_call(k, msgs, kwargs.get("tools"), model=model)
        call.usage = parse_usage(response.get("usage"))
        calls.append(call)
    s = session_for(folder, "openhands-completions", calls)
    s.model = next((c.model for c in calls if c.model), None)
    s.notes.append("prompts as sent (one llm_completions file per call), usage as measured")
    return s
