"""Small real-shaped logs of the agents ``ctxkit audit`` reads, written from each format's
public schema or documentation (no code or data copied):

* SWE-agent 1.1 ``trajectory[k].query`` / 1.0 ``trajectory[k].messages`` (``sweagent/types.py``
  ``TrajectoryStep``; 1.0 stores the messages after step k) with ``info.model_stats``;
* mini-swe-agent ``.traj.json`` (docs "Output files": ``info.model_stats.api_calls``,
  ``messages`` with an ``extra`` field, ``trajectory_format``), observations as ``user``
  messages in its ``<returncode>``/``<output>`` template;
* tau-bench result lists (``task_id``, ``reward``, ``info``, ``traj``, ``trial``);
* OpenHands ``output.jsonl`` (``instance_id``, ``metadata.llm_config``, event ``history``
  with ``tool_call_metadata``, ``metrics.token_usages``) and ``llm_completions`` files
  (``messages``, ``response``, ``args``, ``kwargs``, ``timestamp``, ``cost``);
* Claude Code session lines (``type``, ``uuid``, ``parentUuid``, ``sessionId``,
  ``isSidechain``, ``message`` with ``usage``; one response split over lines sharing
  ``message.id``) and ``--output-format stream-json`` (``system``/``init``, ``assistant``,
  ``user``, ``result``).

Each builder returns plain JSON-able data, so tests can recompute expected figures from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SYSTEM = ("You are a helpful assistant that can interact with a computer shell to solve "
          "programming tasks. Reply with one THOUGHT and one bash command. " * 12)
TASK = "Fix the bug: parse('') raises IndexError instead of returning an empty list."


def listing(k: int, lines: int = 40) -> str:
    return "\n".join(f"src/pkg/module_{k}_{i}.py: def function_{i}(value): return value + {i}"
                     for i in range(lines))


def write(path: Path, data: Any, *, jsonl: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if jsonl:
        path.write_text("".join(json.dumps(x) + "\n" for x in data), encoding="utf-8")
    else:
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


# -- SWE-agent --------------------------------------------------------------------------

def _swe_turns(n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    turns = []
    for k in range(n):
        action = f"grep -rn 'def parse' src/ | head -{40 + k}"
        turns.append((
            {"role": "assistant", "content": f"THOUGHT: look at step {k}\n\n```\n{action}\n```",
             "thought": f"look at step {k}", "action": action, "agent": "main",
             "message_type": "action"},
            {"role": "user", "content": f"OBSERVATION:\n{listing(k)}", "agent": "main",
             "message_type": "observation"}))
    return turns


def _elided(obs: dict[str, Any]) -> dict[str, Any]:
    lines = obs["content"].count("\n")
    return {**obs, "content": f"Old environment output: ({lines} lines omitted)"}


def swe_agent(n: int = 8, *, last_n: int = 2, version: str = "1.1",
              tokens_sent: int | None = None) -> dict[str, Any]:
    """A text-mode run whose history processor (``last_n_observations``) keeps only the
    last ``last_n`` observations whole; ``history`` is the unprocessed conversation."""
    head = [{"role": "system", "content": SYSTEM, "agent": "main",
             "message_type": "system_prompt"},
            {"role": "user", "content": TASK, "agent": "main", "message_type": "observation"}]
    turns = _swe_turns(n)

    def sent(k: int) -> list[dict[str, Any]]:  # the prompt of call k, processed
        msgs = list(head)
        for j, (act, obs) in enumerate(turns[:k]):
            msgs += [act, obs if j >= k - last_n else _elided(obs)]
        return msgs

    steps = []
    for k, (act, obs) in enumerate(turns):
        step = {"action": act["action"], "observation": obs["content"], "response":
                act["content"], "thought": act["thought"], "state": {"working_dir": "/repo"},
                "execution_time": 0.5, "extra_info": {}}
        if version == "1.1":
            step["query"] = sent(k)
        else:
            step["messages"] = sent(k + 1)  # 1.0 stores the messages after the step
        steps.append(step)
    history = list(head) + [m for pair in turns for m in pair]
    stats = {"instance_cost": 0.42, "tokens_sent": tokens_sent or 0, "tokens_received": 900,
             "api_calls": n}
    return {"trajectory": steps, "history": history, "info": {
        "exit_status": "submitted", "submission": "diff --git a/src b/src\n",
        "model_stats": stats, "swe_agent_version": version + ".0"},
        "replay_config": json.dumps({"agent": {"model": {"name": "gpt-4.1"}}}),
        "environment": "swe_main"}


# -- mini-swe-agent -----------------------------------------------------------------------

def _obs(output: str, code: int = 0) -> str:
    return f"<returncode>{code}</returncode>\n<output>\n{output}</output>"


def mini_swe_agent(*, api_calls: int | None = None) -> dict[str, Any]:
    """Six calls: two empty outputs (not duplicates), one 40-line output received twice
    (a duplicate delivered as a ``user`` message); each reply carries litellm usage."""
    outputs = [listing(0), "", listing(1), "", listing(0), "done\n"]
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"<pr_description>\n{TASK}\n</pr_description>"}]
    cached = 0
    for k, out in enumerate(outputs):
        prompt = 800 + 300 * k
        usage = {"prompt_tokens": prompt, "completion_tokens": 60,
                 "prompt_tokens_details": {"cached_tokens": cached},
                 "cache_creation_input_tokens": prompt - cached, "cache_read_input_tokens":
                 cached}
        cached = prompt
        msgs.append({"role": "assistant", "content": f"THOUGHT: step {k}\n\n```bash\nls\n```",
                     "extra": {"response": {"id": f"chatcmpl-{k}", "model":
                                            "claude-sonnet-4-5-20250929", "usage": usage}}})
        msgs.append({"role": "user", "content": _obs(out)})
    return {"info": {"exit_status": "Submitted", "submission": "", "mini_version": "1.9.0",
                     "model_stats": {"instance_cost": 0.05,
                                     "api_calls": api_calls or len(outputs)},
                     "config": {"model": {"model_name": "claude-sonnet-4-5-20250929"},
                                "agent": {"step_limit": 250}}},
            "messages": msgs, "trajectory_format": "mini-swe-agent-1"}


# -- tau-bench ------------------------------------------------------------------------------

WIKI = "# Retail agent policy\nAs a retail agent, you can help users cancel or modify " \
    "pending orders, return delivered orders, and update their address. " * 20


def tau_bench(runs: int = 3) -> list[dict[str, Any]]:
    out = []
    for t in range(runs):
        traj = [{"role": "system", "content": WIKI},
                {"role": "user", "content": f"Hi, I want to return order #W{1000 + t}."},
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": f"call_{t}", "type": "function", "function": {
                        "name": "get_order_details",
                        "arguments": json.dumps({"order_id": f"#W{1000 + t}"})}}]},
                {"role": "tool", "tool_call_id": f"call_{t}", "name": "get_order_details",
                 "content": json.dumps({"order_id": f"#W{1000 + t}", "status": "delivered"})},
                {"role": "assistant", "content": "Your order is delivered; I can return it."},
                {"role": "user", "content": "Yes please. ###STOP###"}]
        out.append({"task_id": t, "reward": 1.0, "info": {"task": {"user_id": f"u{t}"}},
                    "traj": traj, "trial": 0})
    return out


# -- OpenHands -------------------------------------------------------------------------------

def openhands_output(instance: str, steps: int = 3) -> dict[str, Any]:
    tools = [{"type": "function", "function": {"name": "execute_bash", "description":
                                              "Run a bash command", "parameters": {
                                                  "type": "object", "properties": {
                                                      "command": {"type": "string"}}}}}]
    history: list[dict[str, Any]] = [
        {"id": 0, "timestamp": "2025-05-01T10:00:00", "source": "agent", "message": "system",
         "action": "system", "args": {"content": SYSTEM, "tools": tools}},
        {"id": 1, "timestamp": "2025-05-01T10:00:01", "source": "user", "message": TASK,
         "action": "message", "args": {"content": TASK, "image_urls": None}}]
    usages = []
    for k in range(steps):
        rid = f"chatcmpl-{instance}-{k}"
        meta = {"function_name": "execute_bash", "tool_call_id": f"toolu_{k}",
                "model_response": {"id": rid, "choices": [{"message": {"tool_calls": [{
                    "id": f"toolu_{k}", "function": {"name": "execute_bash", "arguments":
                                                     json.dumps({"command": f"ls src/{k}"})}}]
                }}]}, "total_calls_in_response": 1}
        history.append({"id": 2 + 2 * k, "source": "agent", "action": "run",
                        "args": {"command": f"ls src/{k}", "thought": f"step {k}"},
                        "tool_call_metadata": meta})
        history.append({"id": 3 + 2 * k, "source": "agent", "observation": "run",
                        "content": listing(k, 20), "extras": {"command": f"ls src/{k}"},
                        "cause": 2 + 2 * k, "tool_call_metadata": meta})
        usages.append({"model": "anthropic/claude-sonnet-4-5", "prompt_tokens": 1500 + 400 * k,
                       "completion_tokens": 40, "cache_read_tokens": 1400 + 350 * k if k else 0,
                       "cache_write_tokens": 400, "response_id": rid})
    history.append({"id": 99, "source": "agent", "action": "finish",
                    "args": {"final_thought": "done"}})
    return {"instance_id": instance, "instruction": TASK, "history": history,
            "metadata": {"agent_class": "CodeActAgent",
                         "llm_config": {"model": "anthropic/claude-sonnet-4-5"}},
            "metrics": {"accumulated_cost": 0.1, "token_usages": usages},
            "test_result": {"git_patch": ""}, "error": None}


def llm_completions(root: Path, instance: str = "repo__repo-1", calls: int = 3) -> Path:
    folder = root / "llm_completions" / instance
    msgs: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM},
                                  {"role": "user", "content": TASK}]
    for k in range(calls):
        usage = {"prompt_tokens": 1200 + 500 * k, "completion_tokens": 30,
                 "prompt_tokens_details": {"cached_tokens": 1100 + 450 * k if k else 0}}
        doc = {"messages": list(msgs), "response": {
            "id": f"chatcmpl-{k}", "model": "gpt-4.1", "usage": usage, "choices": [{
                "message": {"role": "assistant", "content": f"step {k}"}}]},
            "args": [], "kwargs": {"tools": [], "temperature": 0.0},
            "timestamp": 1733300000.0 + k, "cost": 0.01}
        write(folder / f"gpt-4.1-{1733300000.0 + k}.json", doc)
        msgs += [{"role": "assistant", "content": f"step {k}"},
                 {"role": "user", "content": listing(k, 20)}]
    return folder


# -- Claude Code -----------------------------------------------------------------------------

def _usage(inp: int, read: int, write_: int) -> dict[str, Any]:
    return {"input_tokens": inp, "cache_creation_input_tokens": write_,
            "cache_read_input_tokens": read, "output_tokens": 50, "service_tier": "standard"}


CLAUDE_USAGES = [_usage(4, 0, 15000), _usage(3, 15000, 900), _usage(5, 15900, 1200)]


def claude_code_session(session: str = "5f0c1c7e-0000-4000-8000-000000000001"
                        ) -> list[dict[str, Any]]:
    """A main conversation of three calls (the first reply split over two lines) and a
    sub-agent (sidechain) of one call."""
    base = {"userType": "external", "cwd": "/repo", "sessionId": session,
            "version": "1.0.120", "gitBranch": "main"}
    lines: list[dict[str, Any]] = [{"type": "summary", "summary": "Fix parse", "leafUuid": "x"}]
    parent = None

    def add(kind: str, message: dict[str, Any], uuid: str, **extra: Any) -> None:
        nonlocal parent
        lines.append({**base, "parentUuid": parent, "isSidechain": False, "type": kind,
                      "message": message, "uuid": uuid,
                      "timestamp": f"2025-09-30T10:00:{len(lines):02d}Z", **extra})
        parent = uuid

    model = "claude-sonnet-4-5-20250929"
    add("user", {"role": "user", "content": TASK}, "u0")
    for k in range(3):
        mid = f"msg_0{k}"
        msg = {"id": mid, "type": "message", "role": "assistant", "model": model,
               "stop_reason": None, "usage": CLAUDE_USAGES[k]}
        add("assistant", {**msg, "content": [{"type": "text", "text": f"Looking {k}."}]},
            f"a{k}", requestId=f"req_{k}")
        if k == 2:
            break
        add("assistant", {**msg, "content": [{"type": "tool_use", "id": f"toolu_{k}",
                                              "name": "Bash", "input": {"command": "ls"}}]},
            f"a{k}b", requestId=f"req_{k}")
        add("user", {"role": "user", "content": [{"tool_use_id": f"toolu_{k}", "type":
                                                  "tool_result", "content": listing(k)}]},
            f"r{k}", toolUseResult={"stdout": listing(k), "stderr": ""})
    side = {**base, "isSidechain": True, "type": "user", "parentUuid": None, "uuid": "s0",
            "message": {"role": "user", "content": "Search the repo for parse()."}}
    lines.append(side)
    lines.append({**base, "isSidechain": True, "type": "assistant", "parentUuid": "s0",
                  "uuid": "s1", "message": {"id": "msg_s", "role": "assistant", "model": model,
                                            "content": [{"type": "text", "text": "Found."}],
                                            "usage": _usage(3, 0, 9000)}})
    return lines


def claude_stream(session: str = "9d1e-stream") -> list[dict[str, Any]]:
    model = "claude-sonnet-4-5-20250929"
    out: list[dict[str, Any]] = [{
        "type": "system", "subtype": "init", "cwd": "/repo", "session_id": session,
        "tools": ["Task", "Bash", "Read", "Edit"], "mcp_servers": [], "model": model,
        "permissionMode": "default", "apiKeySource": "none"}]
    for k in range(3):
        out.append({"type": "assistant", "parent_tool_use_id": None, "session_id": session,
                    "message": {"id": f"msg_{k}", "type": "message", "role": "assistant",
                                "model": model, "usage": CLAUDE_USAGES[k], "content": [
                                    {"type": "tool_use", "id": f"toolu_{k}", "name": "Bash",
                                     "input": {"command": f"cat f{k}"}}]}})
        out.append({"type": "user", "parent_tool_use_id": None, "session_id": session,
                    "message": {"role": "user", "content": [{
                        "tool_use_id": f"toolu_{k}", "type": "tool_result",
                        "content": listing(k)}]}})
    out.append({"type": "result", "subtype": "success", "is_error": False, "num_turns": 4,
                "result": "Fixed.", "session_id": session, "total_cost_usd": 0.07,
                "usage": {"input_tokens": 12, "cache_read_input_tokens": 30900,
                          "cache_creation_input_tokens": 17100, "output_tokens": 150}})
    return out
