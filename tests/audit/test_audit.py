"""``ctxkit audit``: recorded prompts of other agents → prefix reuse, cache-killers,
duplicate tool outputs, tokens by kind, estimated hit rate and cost.

Synthetic JSONL sessions (both message-list formats) are written to tmp_path; the real
recordings come from ../shared/evaldata (SWE-agent .traj, OpenHands prompt logs). Expected
figures are recomputed here from the raw inputs wherever that is feasible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ctxkit import UserError, get_tokenizer, profile_for
from ctxkit.audit import audit, load
from ctxkit.cli import main
from ctxkit.cli.audit import _Progress

SYSTEM = "You are a careful coding agent — café rules: read before you edit. " * 60
TOOLS = [{"type": "function", "function": {"name": n, "description": f"the {n} tool",
                                           "parameters": {"type": "object", "properties": {
                                               "arg": {"type": "string"}}}}}
         for n in ("read_file", "grep", "run_tests")]
FAILURE = "FAILED tests/test_parser.py::test_empty - AssertionError: got None\n" * 12


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def openai_session(n: int, system_for: Any) -> list[dict[str, Any]]:
    """n chat requests whose history grows append-only by a tool call and its result."""
    history: list[dict[str, Any]] = [{"role": "user", "content": "the parser fails on ''"}]
    out = []
    for k in range(n):
        out.append({"model": "gpt-4.1", "tools": TOOLS,
                    "messages": [{"role": "system", "content": system_for(k)}, *history]})
        history += [
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": f"call_{k}", "type": "function",
                "function": {"name": "run_tests", "arguments": '{"arg":"tests/"}'}}]},
            {"role": "tool", "tool_call_id": f"call_{k}", "content": FAILURE}]
    return out


def dated(k: int) -> str:
    return f"{SYSTEM}\nToday is 2026-11-{k + 10:02d}, 09:{k:02d} UTC."


# -- synthetic message-list JSONL ---------------------------------------------------------

def test_date_in_system_prompt_is_a_cache_killer_at_its_exact_byte_offset(tmp_path: Path
                                                                            ) -> None:
    path = write_jsonl(tmp_path / "dated.jsonl", openai_session(4, dated))
    report = audit(path)
    (s,) = report.sessions
    assert s.format == "openai" and s.num_calls == 4
    assert [k.call for k in s.killers] == [1, 2, 3]
    expected = len(os.path.commonprefix([dated(0), dated(1)]).encode("utf-8"))
    assert expected > len(os.path.commonprefix([dated(0), dated(1)]))  # the é and — count
    calls = load(path)[0].calls
    for k in s.killers:
        assert k.cause == "timestamp or date-like text"
        assert (k.where, k.role, k.region) == ("messages[0]", "system", "system+tools")
        assert k.content_offset == expected
        prev, cur = calls[k.compared_to].text, calls[k.call].text
        assert k.offset == len(os.path.commonprefix([prev, cur]).encode("utf-8"))
        assert "2026-11-1" in k.diff
    # the date sits in the cached head: as recorded nothing is ever read back; ctxkit's
    # ordering moves it to the end of the prompt and reads the head and history back
    assert s.recorded.cache_read_tokens == 0
    assert s.ctxkit.hit_rate > s.recorded.hit_rate
    assert s.ctxkit.cost_usd < s.recorded.cost_usd


def test_stable_prompt_has_no_killers_and_reuses_the_whole_previous_prompt(tmp_path: Path
                                                                          ) -> None:
    bare = [r["messages"] for r in openai_session(3, lambda k: SYSTEM)]  # bare lists
    path = write_jsonl(tmp_path / "bare.jsonl", bare)
    (s,) = audit(path, model="gpt-4.1").sessions
    calls = load(path)[0].calls
    assert s.killers == []
    for k in (1, 2):
        assert calls[k].text.startswith(calls[k - 1].text)
        assert s.calls[k].common_prefix_bytes == len(calls[k - 1].text.encode())
        assert s.calls[k].reuse == s.calls[k].common_prefix_tokens / s.calls[k].tokens


def test_duplicate_tool_outputs_are_counted_with_the_tokens_they_cost(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dup.jsonl", openai_session(4, lambda k: SYSTEM))
    report = audit(path)
    (dup,) = report.sessions[0].duplicates
    # results of calls 0, 1, 2 are identical; call k's prompt carries k of them
    assert dup.copies == 3 and dup.repeats == ["messages[5]", "messages[7]"]
    extra_copies_sent = sum(max(0, k - 1) for k in range(4))  # calls 2 and 3: 1 + 2
    assert dup.tokens_wasted == dup.tokens * extra_copies_sent
    # the content alone, counted under the model the requests name (gpt-4.1: o200k, exact)
    assert dup.tokens == get_tokenizer(profile_for("gpt-4.1").tokenizer).count(FAILURE)


def anthropic_request(k: int, tools: list[dict[str, Any]]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "find the parser bug"}]
    for j in range(k):
        messages += [
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me grep."},
                {"type": "tool_use", "id": f"toolu_{j}", "name": "grep",
                 "input": {"pattern": "def parse"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_{j}", "content": [
                    {"type": "text", "text": f"src/parser.py:{10 + j}: def parse(s):"}]}]}]
    return {"model": "claude-sonnet-4-5", "tools": tools, "messages": messages,
            "system": [{"type": "text", "text": SYSTEM,
                        "cache_control": {"type": "ephemeral"}}]}


def test_reordered_tools_are_named_in_anthropic_logs(tmp_path: Path) -> None:
    tools = [{"name": n, "description": f"the {n} tool",
              "input_schema": {"type": "object", "properties": {}}} for n in ("grep", "read")]
    path = write_jsonl(tmp_path / "anthropic.jsonl", [
        anthropic_request(0, tools), anthropic_request(1, tools[::-1]),
        anthropic_request(2, tools[::-1])])
    report = audit(path)
    (s,) = report.sessions
    assert s.format == "anthropic"
    (k,) = s.killers  # call 2 keeps call 1's order
    assert (k.call, k.cause, k.region, k.where) == (1, "reordered tools", "system+tools",
                                                     "tools[0] (grep)")
    calls = load(path)[0].calls
    common = os.path.commonprefix([calls[0].text, calls[1].text])
    assert k.offset == len(common.encode())
    assert common == "[system tool "  # Anthropic caches tools first: the first block moved
    assert "grep" in k.diff and "read" in k.diff
    assert s.tokens_by_kind["tools"] > 0 and s.tokens_by_kind["observation"] > 0
    # the recorded request carries cache_control, so no "assumed breakpoints" note
    assert not any("cache_control" in n for n in s.notes)


def test_anthropic_blocks_keep_roles_kinds_and_call_ids(tmp_path: Path) -> None:
    tools = [{"name": "grep", "input_schema": {"type": "object"}}]
    path = write_jsonl(tmp_path / "a.jsonl", [anthropic_request(1, tools)])
    (call,) = load(path)[0].calls
    kinds = [(b.layer, b.role, b.kind, b.call_id) for b in call.blocks]
    assert kinds == [("tools", "system", "tool", None), ("system", "system", "text", None),
                     ("user", "user", "text", None), ("assistant", "assistant", "text", None),
                     ("assistant", "assistant", "tool_use", "toolu_0"),
                     ("observation", "tool", "tool_result", "toolu_0")]
    assert call.blocks[1].cache == "5m"  # from cache_control


def test_session_ids_split_one_jsonl_into_sessions(tmp_path: Path) -> None:
    a = openai_session(3, lambda k: SYSTEM)
    b = openai_session(2, dated)
    lines = [{**a[0], "session_id": "a"}, {**b[0], "session_id": "b"},
             {**a[1], "session_id": "a"}, {**b[1], "session_id": "b"},
             {**a[2], "session_id": "a"}]
    report = audit(write_jsonl(tmp_path / "mixed.jsonl", lines))
    assert [(s.name, s.num_calls, len(s.killers)) for s in report.sessions] == [
        ("mixed#a", 3, 0), ("mixed#b", 2, 1)]


def test_anthropic_without_cache_control_says_breakpoints_were_assumed(tmp_path: Path
                                                                      ) -> None:
    reqs = [anthropic_request(k, []) for k in range(2)]
    for r in reqs:
        r["system"] = SYSTEM  # a plain string: no cache_control anywhere
    (s,) = audit(write_jsonl(tmp_path / "plain.jsonl", reqs)).sessions
    assert any("no cache_control" in n for n in s.notes)
    assert s.recorded.cache_read_tokens > 0  # the assumed breakpoints do hit


# -- errors ----------------------------------------------------------------------------

def test_a_file_named_on_its_own_that_is_not_a_log_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": "world"}')
    with pytest.raises(UserError, match="notes.json.*ctxkit audit reads: OpenAI or Anthropic"):
        audit(bad)
    with pytest.raises(UserError, match="no such file"):
        audit(tmp_path / "missing.jsonl")


def test_one_bad_file_in_a_directory_is_reported_and_skipped(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "good.jsonl", openai_session(2, lambda k: SYSTEM))
    (tmp_path / "broken.jsonl").write_text('{"messages": [\n')
    report = audit(tmp_path)
    assert [s.name for s in report.sessions] == ["good"]
    ((path, err),) = report.errors
    assert path.endswith("broken.jsonl") and "not JSON" in err


# -- real recordings ---------------------------------------------------------------------

def test_sweagent_one_call_per_assistant_message(evaldata: Path) -> None:
    trajs = sorted((evaldata / "sweagent_trajectories").rglob("*.traj"))
    assert len(trajs) >= 20
    report = audit(evaldata / "sweagent_trajectories")
    assert len(report.sessions) == len(trajs) and not report.errors
    by_source = {s.source: s for s in report.sessions}
    sent = 0
    for path in trajs:
        doc = json.loads(path.read_text())
        s = by_source[str(path)]
        if all("messages" in step for step in doc.get("trajectory") or [{}]):
            # SWE-agent 1.0 kept the prompts it sent: one per step, after its history
            # processors, which rewrite old observations (case 1 of issue 13)
            sent += 1
            assert s.num_calls == len(doc["trajectory"]) and not s.reconstructed
            assert {k.cause for k in s.killers} >= {"history processor rewrote old output"}
            continue
        assert s.reconstructed
        assert s.num_calls == sum(m["role"] == "assistant" for m in doc["history"])
        # history only grows, so no call breaks the previous prompt
        assert s.killers == [] and all(c.reuse is not None for c in s.calls[1:])
    assert sent >= 1
    calls = load(trajs[0])[0].calls
    history = json.loads(trajs[0].read_text())["history"]
    ends = [i for i, m in enumerate(history) if m["role"] == "assistant"]
    for call, end in zip(calls, ends, strict=True):
        last = history[end - 1]["content"]
        assert call.blocks[-1].content == (last if isinstance(last, str) else
                                           "\n".join(p["text"] for p in last))


def test_sweagent_token_counts_match_the_runs_own_figures(evaldata: Path) -> None:
    """The three GPT-4 runs recorded tokens_sent; with GPT-4's exact tokenizer our count of
    the reconstructed prompts agrees within 1% where every API call is in the history."""
    root = evaldata / "sweagent_trajectories" / "tests" / "test_data" / "trajectories"
    if not root.exists():
        pytest.skip(f"{root} not found")
    report = audit(root, model="gpt-4")
    assert report.tokens_exact
    checked = 0
    for s in report.sessions:
        stats = json.loads(Path(s.source).read_text())["info"]["model_stats"]
        if stats["api_calls"] != s.num_calls:
            assert any(f"records {stats['api_calls']:,} model calls" in w for w in s.warnings)
            continue
        assert abs(s.input_tokens - stats["tokens_sent"]) <= 0.01 * stats["tokens_sent"]
        checked += 1
    assert checked >= 2


def openhands(evaldata: Path, agent: str, test: str) -> Path:
    folder = evaldata / "openhands_mock_prompts" / "eventstream_runtime" / agent / test
    if not folder.exists():
        pytest.skip(f"{folder} not found")
    return folder


def raw_prompts(folder: Path) -> list[str]:
    logs = sorted(folder.glob("prompt_*.log"), key=lambda p: int(p.stem.split("_")[1]))
    return [p.read_text(encoding="utf-8") for p in logs]


@pytest.mark.parametrize("test", ["test_edits", "test_ipython", "test_simple_task_rejection"])
def test_openhands_prefix_reuse_and_killers_match_the_raw_prompts(evaldata: Path,
                                                                  test: str) -> None:
    folder = openhands(evaldata, "CodeActAgent", test)
    raw = raw_prompts(folder)
    (s,) = audit(folder).sessions
    assert s.num_calls == len(raw)
    assert [c.text for c in load(folder)[0].calls] == raw  # the serialization is the file
    for k in range(1, len(raw)):
        common = os.path.commonprefix([raw[k - 1], raw[k]])
        assert s.calls[k].common_prefix_bytes == len(common.encode("utf-8"))
    # every turn rewrites the trailing "ENVIRONMENT REMINDER: You have N turns left"
    assert [k.call for k in s.killers] == list(range(1, len(raw)))
    for k in s.killers:
        common = os.path.commonprefix([raw[k.compared_to], raw[k.call]])
        assert k.offset == len(common.encode("utf-8"))
        assert raw[k.compared_to][len(common):].lstrip("\n").startswith("ENVIRONMENT REMINDER")
    # ctxkit's ordering puts the reminder after the history breakpoint
    assert s.ctxkit.hit_rate > s.recorded.hit_rate


def test_openhands_planner_state_early_in_the_prompt_is_found(evaldata: Path) -> None:
    folder = openhands(evaldata, "PlannerAgent", "test_write_simple_script")
    raw = raw_prompts(folder)
    (s,) = audit(folder).sessions
    assert len(s.killers) == len(raw) - 1
    for k in s.killers:
        prev = raw[k.compared_to]
        common = os.path.commonprefix([prev, raw[k.call]])
        assert k.offset == len(common.encode()) < len(prev.encode())
        assert k.line == common.count("\n") + 1
    assert any('"state"' in k.diff for k in s.killers)  # the plan JSON changes in place


def test_openhands_delegation_starts_new_prompts_not_killers(evaldata: Path) -> None:
    folder = openhands(evaldata, "DelegatorAgent", "test_edits")
    raw = raw_prompts(folder)
    (s,) = audit(folder).sessions
    new = [c.index for c in s.calls if c.new_prompt]
    assert new, "the delegator hands over to other agents"
    for k in new:
        assert all(len(os.path.commonprefix([raw[j], raw[k]]).encode()) < 128
                   for j in range(k))
        assert k not in [c.call for c in s.killers]


# -- the command line --------------------------------------------------------------------

def test_cli_json_is_the_documented_dict(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    path = write_jsonl(tmp_path / "dated.jsonl", openai_session(3, dated))
    assert main(["audit", str(path), "--format", "json", "--quiet", "--model",
                 "claude-sonnet-4-5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"schema", "model", "tokenizer", "tokens_exact", "cache_kind", "prices_as_of",
            "totals", "sessions", "errors", "inputs"} <= set(data)
    assert data["schema"] == 2 and data["tokens_exact"] is False
    assert data["inputs"][0]["format"] == "openai" and data["inputs"][0]["why"]
    (sess,) = data["sessions"]
    assert sess["calls"] == 3 and len(sess["per_call"]) == 3
    assert {k["cause"] for k in sess["cache_killers"]} == {"timestamp or date-like text"}
    assert data["totals"]["causes"]["timestamp or date-like text"]["count"] == 2
    assert data["totals"]["ctxkit"]["hit_rate"] >= data["totals"]["recorded"]["hit_rate"]


def test_cli_terminal_html_and_forced_format(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "dated.jsonl", openai_session(3, dated))
    html = tmp_path / "audit.html"
    assert main(["audit", str(path), "--html", str(html), "--width", "150", "--model",
                 "claude-sonnet-4-5"]) == 0
    out = capsys.readouterr().out
    assert "ESTIMATED" in out and "timestamp or date-like text" in out
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "timestamp or date-like text" in page
    assert "<script" not in page and "http" not in page.split("</style>")[1].split("<footer")[0]
    with pytest.raises(SystemExit):  # argparse names the accepted formats
        main(["audit", str(path), "--format", "yaml"])
    capsys.readouterr()
    assert main(["audit", str(path), "--format", "swe-agent"]) == 1
    err = capsys.readouterr().err
    assert "--input-format swe-agent does not fit" in err and "read as openai" in err
    # without --model, the model the requests name (gpt-4.1: o200k, exact counts)
    assert main(["audit", str(path), "--format", "openai", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens_exact"] is True and data["sessions"][0]["model"] == "gpt-4.1"


def test_progress_bar_on_stderr_only_when_enabled(tmp_path: Path) -> None:
    import io

    err = io.StringIO()
    on = _Progress(True, stream=err)
    on.on_bytes(Path("big.jsonl"), 10, 100)
    on(1, 2, Path("big.jsonl"))
    assert on.bar is not None
    on.stop()
    assert "big.jsonl" in err.getvalue()
    off = _Progress(False, stream=err)
    off.on_bytes(Path("a"), 1, 2)
    off(1, 50, Path("a"))
    assert off.bar is None
