"""Long sessions for the head-to-head eval: scripted model moves over real tool outputs.

Owns building the sessions every strategy replays: the system prompt, the tool schemas,
and per model call what the model does (its text, its one tool call and the tool's
output) and which planted facts the call needs. Knows nothing of strategies or scoring.

* **Coding sessions** draw their tool outputs from the recorded SWE-agent trajectories and
  OpenHands prompts in ``--data`` (file views, searches, test runs, shell output, edits).
  Agents re-read files and re-run tests: a re-read is byte-identical, a re-run differs
  only in its volatile bits (timestamps, durations, pids, tmp paths, addresses). The
  system prompt is a recorded SWE-agent system prompt followed by recorded
  demonstrations (as SWE-agent sends them), 15-30k tokens; 44 tools. Four planted facts
  per session — a user instruction, a path a search found, a flag a ``--help`` printed,
  a root cause the model stated — each introduced once and needed at a known later call.
  Split: ``dev`` sessions draw from the CTF and test-data trajectories (tune on these);
  ``heldout`` sessions from the marshmallow/HumanEvalFix trajectories and OpenHands.
* **LoCoMo sessions** (dev conversations only) arrive as user turns of four utterances;
  the last call asks the conversation's questions, and their evidence is what it needs.
"""

from __future__ import annotations

import glob
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEV_CONVERSATIONS = ("conv-26", "conv-30", "conv-41", "conv-42", "conv-43")
_WORDS = ("parser lexer buffer span node visitor config cache index query plan state module "
          "fixture schema field record loader writer handler codec").split()


@dataclass(slots=True)
class Call:
    """One model call: the user message before it (if a turn starts), what the model
    answers, and the tool it calls with the tool's output (None: the turn ends)."""

    user: str | None
    reply: str
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    needs: list[int] = field(default_factory=list)
    milestone: bool = False  # the work reached a milestone before this call


@dataclass(slots=True)
class Fact:
    kind: str      # instruction | path | flag | root_cause | evidence
    probe: str     # the text that must be in the prompt
    intro: int     # call index whose prompt first holds it
    need: int      # call index that needs it


@dataclass(slots=True)
class Script:
    name: str
    kind: str      # coding | locomo
    split: str     # dev | heldout
    system: str
    tools: list[dict[str, Any]]
    calls: list[Call]
    facts: list[Fact]


# -- recorded material ---------------------------------------------------------------------

def _kind(action: str) -> str:
    word = action.strip().split(" ", 1)[0].split("\n", 1)[0]
    if word in ("open", "goto", "scroll_down", "scroll_up", "cat", "decompile", "disassemble"):
        return "view"
    if word in ("search_dir", "search_file", "find_file", "grep", "find", "strings"):
        return "search"
    if word in ("python", "python3", "pytest", "./rock", "tshark"):
        return "run"
    if word in ("edit", "insert", "create", "append"):
        return "edit"
    return "shell"


@dataclass(slots=True)
class Pool:
    """Recorded tool outputs by kind, and recorded prompt text for system prompts."""

    outputs: dict[str, list[tuple[str, str]]]
    system: list[str]
    demos: list[str]


def load_pools(data: Path) -> dict[str, Pool]:
    """``{"dev": Pool, "heldout": Pool}`` from the SWE-agent and OpenHands recordings."""
    root = data / "sweagent_trajectories"
    pools = {s: Pool({k: [] for k in ("view", "search", "run", "edit", "shell")}, [], [])
             for s in ("dev", "heldout")}
    for path in sorted(glob.glob(str(root / "**" / "*.traj"), recursive=True)):
        split = "dev" if ("/ctf/" in path or "/test_data/" in path) else "heldout"
        d = json.loads(Path(path).read_text())
        hist = [m for m in d.get("history", []) if isinstance(m.get("content"), str)]
        pool = pools[split]
        if hist and hist[0]["role"] == "system" and len(hist[0]["content"]) > 1000:
            pool.system.append(hist[0]["content"])
        if len(hist) > 4:
            pool.demos.append("\n\n".join(f"{m['role'].upper()}:\n{m['content']}"
                                          for m in hist[1:]))
        for step in d.get("trajectory", []):
            obs, act = step.get("observation") or "", step.get("action") or ""
            if obs.strip() and act.strip():
                pool.outputs[_kind(act)].append((act.strip()[:200], obs))
    oh = sorted(glob.glob(str(data / "openhands_mock_prompts" / "**" / "prompt_*.log"),
                          recursive=True))
    seen: set[str] = set()
    for path in oh:
        text = Path(path).read_text()
        for obs in re.findall(r"OBSERVATION:\n(.*?)(?=\n\n----------|\nASSISTANT:|\Z)", text,
                              re.S):
            if obs.strip() and obs not in seen:
                seen.add(obs)
                kind = "view" if "|" in obs[:200] else "run" if "Traceback" in obs or \
                    "python" in obs[:100] else "shell"
                pools["heldout"].outputs[kind].append(("execute", obs))
        if path.endswith("prompt_001.log") and "START OF EXAMPLE" in text:
            pools["heldout"].system.append(text.split("----------", 2)[-1][:40_000])
    for p in pools.values():
        for k in p.outputs:
            p.outputs[k] = [o for o in p.outputs[k] if len(o[1]) < 24_000] or p.outputs["shell"]
    return pools


# -- volatile bits, as a re-run prints them --------------------------------------------------

def rerun_footer(rng: random.Random, passed: int, failed: int) -> str:
    ts = f"2026-0{rng.randint(1, 9)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:" \
         f"{rng.randint(10, 59)}:{rng.randint(10, 59)}.{rng.randint(100000, 999999)}Z"
    return (f"\n[{ts}] pid={rng.randint(1000, 65000)} worker=gw{rng.randint(0, 3)} "
            f"tmp=/tmp/pytest-of-agent/pytest-{rng.randint(1, 999)}/run0\n"
            f"object at 0x7f{rng.getrandbits(40):010x}\n"
            f"===== {failed} failed, {passed} passed in {rng.uniform(0.2, 40):.2f}s =====")


# -- coding sessions -----------------------------------------------------------------------

TOOL_NAMES = (
    "open", "goto", "scroll_down", "scroll_up", "create", "edit", "insert", "search_dir",
    "search_file", "find_file", "submit", "bash", "python", "run_tests", "pip_install",
    "git_status", "git_diff", "git_log", "git_show", "git_blame", "git_checkout", "git_commit",
    "ls", "cat", "head", "tail", "grep", "find", "tree", "wc", "diff", "patch", "mkdir", "rm",
    "mv", "cp", "curl", "env", "which", "tool_help", "lint", "format", "type_check",
    "coverage", "benchmark", "open_issue", "comment", "read_docs")


def tool_schemas(rng: random.Random, system: str) -> list[dict[str, Any]]:
    """44+ tool schemas; descriptions reuse recorded command docs where the system has them."""
    out = []
    for name in TOOL_NAMES:
        m = re.search(rf"\n{re.escape(name)}:\n  docstring: ([^\n]+)", system)
        desc = m.group(1) if m else f"{name.replace('_', ' ')} in the repository " + " ".join(
            rng.choice(_WORDS) for _ in range(12))
        out.append({"name": name, "description": desc, "input_schema": {
            "type": "object", "properties": {
                "command": {"type": "string", "description": f"arguments for {name}"},
                "path": {"type": "string", "description": "a path in the repository"}},
            "required": ["command"]}})
    return out


def _system_prompt(pool: Pool, rng: random.Random, target_chars: int) -> str:
    parts = [rng.choice(pool.system)]
    demos = list(pool.demos)
    rng.shuffle(demos)
    for d in demos:
        if sum(map(len, parts)) >= target_chars:
            break
        parts.append("Here is a demonstration of how to correctly accomplish this task. "
                     "It is included to show you how to correctly use the interface.\n"
                     "--- DEMONSTRATION ---\n" + d + "\n--- END OF DEMONSTRATION ---")
    return "\n\n".join(parts)[:target_chars]


def _ident(rng: random.Random) -> str:
    return f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}"


def coding_session(pool: Pool, split: str, seed: int, num_calls: int,
                   system_chars: tuple[int, int] = (64_000, 110_000)) -> Script:
    """A coding session of ``num_calls`` model calls over ``pool``'s recorded outputs
    (the system prompt: ``system_chars`` characters, about 15-30k tokens by default)."""
    rng = random.Random(seed)
    system = _system_prompt(pool, rng, rng.randint(*system_chars))
    tools = tool_schemas(rng, system)
    ticket = f"OPS-{rng.randint(10000, 99999)}"
    path = f"src/{_ident(rng)}/_{_ident(rng)}.py"
    flag = f"--{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-strict"
    func = _ident(rng)
    cause = f"{func}() reuses the cached {rng.choice(_WORDS)} after the {rng.choice(_WORDS)} " \
            f"is reset"
    # where facts enter and where they are needed (fractions of the session)
    at = {"path": int(num_calls * rng.uniform(0.08, 0.2)),
          "flag": int(num_calls * rng.uniform(0.15, 0.3)),
          "root_cause": int(num_calls * rng.uniform(0.25, 0.4))}
    need = {"instruction": num_calls - 2,
            "path": int(num_calls * rng.uniform(0.6, 0.95)),
            "flag": int(num_calls * rng.uniform(0.55, 0.95)),
            "root_cause": int(num_calls * rng.uniform(0.7, 0.97))}
    fixed = set(at.values()) | set(need.values())
    calls: list[Call] = []
    viewed: list[tuple[str, str]] = []
    turn_len = 0
    user: str | None = (f"We need to fix a bug in this repository; the failing tests are "
                        f"in tests/. The ticket for this work is {ticket}: every commit "
                        f"message must start with {ticket}. Investigate, fix, and verify.")
    for i in range(num_calls):
        turn_len += 1
        last_of_turn = i == num_calls - 1 or (turn_len >= rng.randint(18, 45) and
                                              i not in fixed)
        c = Call(user=user, reply="", milestone=user is not None and i > 0)
        user = None
        if last_of_turn:
            c.reply = "Done with this part. " + " ".join(rng.choice(_WORDS) for _ in range(30))
            user = (f"Thanks. Next: look at the {_ident(rng)} handling too, and keep the "
                    f"tests green." if i < num_calls - 1 else None)
            turn_len = 0
        else:
            _tool_move(c, pool, rng, i, viewed)
        if i == at["path"]:
            c.tool, c.args = "find_file", {"command": path.rsplit("/", 1)[1]}
            c.reply = "Let me find where this lives."
            c.output = f'Found 1 matches for "{path.rsplit("/", 1)[1]}" in /repo:\n/repo/{path}'
        elif i == at["flag"]:
            c.tool, c.args = "tool_help", {"command": "run_tests --help"}
            c.reply = "Checking the options of the test runner."
            c.output = _help_text(rng, flag)
        elif i == at["root_cause"]:
            c.reply = f"Found it. The root cause: {cause}. I'll fix that next."
        elif i == at["path"] + 1:
            c.reply = f"The module is {path}; reading the tests first."
        elif i == at["flag"] + 1:
            c.reply = f"The runner needs {flag} in CI."
        if i == need["path"]:
            c.tool, c.args, c.reply = "open", {"command": path}, "Back to the module."
        if i == need["flag"]:
            c.tool, c.args = "run_tests", {"command": f"tests/ {flag}"}
        calls.append(c)
    facts = [Fact("instruction", ticket, 0, need["instruction"]),
             Fact("path", path, at["path"] + 1, need["path"]),
             Fact("flag", flag, at["flag"] + 1, need["flag"]),
             Fact("root_cause", cause, at["root_cause"] + 1, need["root_cause"])]
    for n, f in enumerate(facts):
        calls[f.need].needs.append(n)
    return Script(f"{split}-coding-{seed}", "coding", split, system, tools, calls, facts)


def _tool_move(c: Call, pool: Pool, rng: random.Random, i: int,
               viewed: list[tuple[str, str]]) -> None:
    r = rng.random()
    if viewed and r < 0.22:  # re-read a file seen before: identical bytes
        act, obs = rng.choice(viewed)
        c.tool, c.args, c.output = "open", {"command": act}, obs
        c.reply = "Let me look at that file again."
        return
    kind = rng.choices(("view", "search", "run", "edit", "shell"), (30, 18, 24, 14, 14))[0]
    act, obs = rng.choice(pool.outputs[kind])
    if kind == "run":
        obs = obs + rerun_footer(rng, rng.randint(10, 60), rng.randint(0, 3))
        c.tool = "run_tests"
    else:
        c.tool = {"view": "open", "search": "search_dir", "edit": "edit"}.get(kind, "bash")
    if kind == "view":
        viewed.append((act, obs))
    c.args, c.output = {"command": act}, obs
    c.reply = f"Step {i}: " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 30)))


def _help_text(rng: random.Random, flag: str) -> str:
    opts = [f"  --{rng.choice(_WORDS)}-{rng.choice(_WORDS)}  "
            + " ".join(rng.choice(_WORDS) for _ in range(8)) for _ in range(24)]
    opts.insert(rng.randint(0, 24), f"  {flag}  required in CI: fail on unraisable warnings")
    return "usage: run_tests [options] [paths]\n\noptions:\n" + "\n".join(opts)


# -- LoCoMo sessions -----------------------------------------------------------------------

LOCOMO_SYSTEM = ("You are a personal assistant with a long memory. The user shares a "
                 "conversation between two people, a few lines at a time, over many "
                 "sessions. Acknowledge briefly; later you will answer questions about it. ")


def locomo_session(conv: dict[str, Any], per_turn: int = 4) -> Script:
    c = conv["conversation"]
    calls: list[Call] = []
    text_of: dict[str, tuple[str, int]] = {}
    k = 1
    while f"session_{k}" in c:
        dia = c[f"session_{k}"]
        date = c.get(f"session_{k}_date_time", "")
        for j in range(0, len(dia), per_turn):
            chunk = dia[j:j + per_turn]
            head = f"[conversation session {k}, {date}]\n" if j == 0 else ""
            for u in chunk:
                text_of[u["dia_id"]] = (u["text"], len(calls))
            calls.append(Call(user=head + "\n".join(f"{u['speaker']}: {u['text']}"
                                                    for u in chunk), reply="Noted.",
                              milestone=j == 0 and k > 1))
        k += 1
    facts: list[Fact] = []
    questions = []
    for q in conv["qa"]:
        ev = [text_of[e] for e in q.get("evidence", []) if e in text_of]
        if q.get("category") == 5 or not ev:
            continue
        questions.append(q["question"])
        for text, at in ev:
            parts = re.split(r"(?<=[.!?])\s+", text)
            facts.append(Fact("evidence", max(parts, key=len), at, len(calls)))
    uniq = list({f.probe: f for f in facts}.values())
    calls.append(Call(user="Questions about the conversation:\n" + "\n".join(questions),
                      reply="Answers follow.", needs=list(range(len(uniq))), milestone=True))
    return Script(f"locomo-{conv['sample_id']}", "locomo", "dev", LOCOMO_SYSTEM * 8, [],
                  calls, uniq)


def build(data: Path, *, num_heldout: int = 12, num_dev: int = 4,
          calls: tuple[int, int] = (150, 400), locomo: bool = True,
          system_chars: tuple[int, int] = (64_000, 110_000)) -> list[Script]:
    """The sessions: dev coding, held-out coding, LoCoMo dev conversations."""
    pools = load_pools(data)
    out = []
    for split, n, base in (("dev", num_dev, 0), ("heldout", num_heldout, 1000)):
        for s in range(n):
            rng = random.Random(base + s)
            out.append(coding_session(pools[split], split, base + s, rng.randint(*calls),
                                      system_chars))
    if locomo:
        convs = {c["sample_id"]: c for c in json.loads(
            (data / "locomo" / "locomo10.json").read_text())}
        out += [locomo_session(convs[cid]) for cid in DEV_CONVERSATIONS]
    return out
