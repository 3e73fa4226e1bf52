"""Each agent log format on a small real-shaped fixture (``shapes``): what is read as the
prompt of each call, the recorded call counts and tokens, measured usage, and detection.

Covers issue 13's cases 1 (SWE-agent prompts as sent), 2 (mini-swe-agent transcripts are
many calls), 7 (measured usage and the model) and 8 (the formats not read before).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxkit import UserError, get_tokenizer, profile_for
from ctxkit.audit import audit, load
from ctxkit.cli import main

from . import shapes as S

REWRITE = "history processor rewrote old output"


def tokens(text: str, model: str = "gpt-4.1") -> int:
    return int(get_tokenizer(profile_for(model).tokenizer).count(text))


# -- case 1: SWE-agent >= 1.0 audits the prompts it sent ------------------------------------

@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_sweagent_prompts_as_sent_show_the_history_processor(tmp_path: Path,
                                                             version: str) -> None:
    doc = S.swe_agent(8, last_n=2, version=version)
    sent = [step["query"] for step in doc["trajectory"]] if version == "1.1" else None
    path = S.write(tmp_path / "run.traj", doc)
    (s,) = audit(path).sessions
    assert s.num_calls == 8 and not s.reconstructed and s.model == "gpt-4.1"
    calls = load(path)[0].calls
    if sent is not None:  # each call's last block is the last message of its query
        assert [c.blocks[-1].content for c in calls] == [q[-1]["content"] for q in sent]
    # from call 3 on, each prompt elides an observation the previous one held whole
    assert [k.call for k in s.killers] == [3, 4, 5, 6, 7]
    assert {k.cause for k in s.killers} == {REWRITE}
    assert all(k.where.startswith("messages[") and k.region == "history" for k in s.killers)
    # the history (what the old audit rebuilt) only grows: it would show no killer at all
    history = S.write(tmp_path / "old.traj", {"history": doc["history"],
                                              "info": doc["info"]})
    (h,) = audit(history).sessions
    assert h.killers == [] and h.reconstructed
    assert h.mean_reuse is not None and s.mean_reuse is not None
    assert h.mean_reuse > s.mean_reuse + 0.2
    report = audit(path)
    rewrites = report.causes()[REWRITE]
    assert rewrites["count"] == 5 and rewrites["tokens_lost"] == sum(
        k.tokens_lost for k in s.killers)
    p = profile_for("gpt-4.1").prices  # the model the file names
    assert report.sessions[0].rewrite_saving_usd == pytest.approx(
        rewrites["tokens_lost"] * (p.input - p.cache_read) / 1e6)


def test_request_log_usage_is_measured(tmp_path: Path) -> None:
    """A proxy-style log line holds the request and the provider's response usage."""
    lines = []
    history = [{"role": "user", "content": S.TASK}]
    for k in range(3):
        lines.append({"request": {"model": "claude-sonnet-4-5", "system": S.SYSTEM,
                                  "messages": list(history)},
                      "response": {"usage": {"input_tokens": 10, "cache_read_input_tokens":
                                             900 * k, "cache_creation_input_tokens": 50}}})
        history += [{"role": "assistant", "content": f"step {k}"},
                    {"role": "user", "content": S.listing(k, 10)}]
    (s,) = audit(S.write(tmp_path / "proxy.jsonl", lines, jsonl=True)).sessions
    assert s.format == "anthropic" and s.measured.calls == 3
    assert s.measured.cache_read_tokens == 2700
    assert s.measured.input_tokens == 3 * 60 + 2700


def test_sweagent_tokens_sent_gap_over_10_percent_is_a_warning(tmp_path: Path) -> None:
    doc = S.swe_agent(8, last_n=2)
    sent_text = "".join(m["content"] for q in (st["query"] for st in doc["trajectory"])
                        for m in q)
    recorded = tokens(sent_text)
    ok = S.write(tmp_path / "ok.traj", {**doc, "info": {**doc["info"], "model_stats": {
        **doc["info"]["model_stats"], "tokens_sent": recorded}}})
    (s,) = audit(ok).sessions  # gpt-4.1 from the file: exact o200k counts
    assert s.reported_tokens_sent == recorded and s.warnings == []
    assert abs(s.input_tokens - recorded) <= 0.10 * recorded  # framing lines only
    low = S.write(tmp_path / "low.traj", {**doc, "info": {**doc["info"], "model_stats": {
        **doc["info"]["model_stats"], "tokens_sent": recorded // 2}}})
    (w,) = audit(low).sessions[0].warnings
    assert f"{recorded // 2:,} prompt tokens sent" in w and f"{s.input_tokens:,}" in w


# -- case 2: a final transcript is one prompt per assistant turn ----------------------------

def test_mini_swe_agent_transcript_is_one_call_per_reply(tmp_path: Path) -> None:
    path = S.write(tmp_path / "django-1.traj.json", S.mini_swe_agent())
    report = audit(path)
    (s,) = report.sessions
    assert report.inputs[0][1] == "mini-swe-agent"
    assert s.num_calls == 6 and s.reported_calls == 6 and s.reconstructed
    assert s.killers == [] and s.mean_reuse is not None and s.mean_reuse > 0.5
    assert any("reconstructed" in n for n in s.notes)
    assert s.recorded.cost_usd < s.no_cache_cost_usd  # caching now lowers the cost
    more = S.write(tmp_path / "m2.traj.json", S.mini_swe_agent(api_calls=9))
    (w,) = [w for w in audit(more).sessions[0].warnings if "model calls" in w]
    assert "records 9 model calls" in w and "6 prompts" in w


def test_a_json_transcript_is_rebuilt_per_assistant_turn(tmp_path: Path) -> None:
    msgs = S.tau_bench(1)[0]["traj"]
    path = S.write(tmp_path / "chat.json", {"model": "gpt-4.1", "messages": msgs})
    (s,) = audit(path).sessions
    assert s.format == "transcript" and s.reconstructed
    assert s.num_calls == 3  # two replies, and the final request that ends with the user
    calls = load(path)[0].calls
    assert [len(c.where) for c in calls] == sorted(len(c.where) for c in calls)


# -- case 7: measured usage beside the estimate, the model, unknown prices --------------------

def test_measured_hit_rate_is_read_from_the_log_and_shown_beside_the_estimate(
        tmp_path: Path) -> None:
    path = S.write(tmp_path / "django-1.traj.json", S.mini_swe_agent())
    report = audit(path)
    m = report.measured()
    usages = [msg["extra"]["response"]["usage"] for msg in S.mini_swe_agent()["messages"]
              if msg["role"] == "assistant"]
    assert m.calls == 6 and m.input_tokens == sum(u["prompt_tokens"] for u in usages)
    assert m.cache_read_tokens == sum(u["cache_read_input_tokens"] for u in usages)
    s = report.sessions[0]
    assert m.estimated_read_tokens == sum(c.recorded_read for c in s.calls)
    assert s.model == "claude-sonnet-4-5-20250929"  # from info.config.model
    text = report.to_dict()["totals"]["measured"]
    assert text["hit_rate_difference"] == pytest.approx(m.estimated_hit_rate - m.hit_rate)
    from ctxkit.audit._html import render_html
    from ctxkit.audit._render import render_text

    assert f"measured        {m.hit_rate:.1%} hit rate over 6 calls" in render_text(report)
    assert "hit rate, measured" in render_html(report)


def test_a_model_without_prices_says_so_instead_of_zero_dollars(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]
                                                               ) -> None:
    reqs = [{"model": "deepseek-chat", "messages": [
        {"role": "system", "content": S.SYSTEM}, {"role": "user", "content": S.TASK}]}] * 2
    path = S.write(tmp_path / "log.jsonl", reqs, jsonl=True)
    (s,) = audit(path).sessions
    assert not s.prices_known and s.model == "deepseek-chat"
    assert any("no ctxkit profile: prices unknown" in n for n in s.notes)
    assert main(["audit", str(path), "--width", "200"]) == 0
    out = capsys.readouterr().out
    assert "prices unknown" in out and "$0.0000" not in out
    from ctxkit.audit._html import render_html

    page = render_html(audit(path))
    assert "prices unknown" in page


# -- case 8: formats that were not read -----------------------------------------------------

def test_openhands_output_jsonl_one_session_per_instance(tmp_path: Path) -> None:
    path = S.write(tmp_path / "output.jsonl", [S.openhands_output("a__a-1"),
                                               S.openhands_output("b__b-2")], jsonl=True)
    report = audit(path)
    assert report.inputs[0][1] == "openhands-output"
    a, b = report.sessions
    assert (a.name, a.num_calls, a.reported_calls) == ("output#a__a-1", 3, 3)
    calls = load(path)[0].calls
    assert calls[0].blocks[0].layer == "system" and calls[0].blocks[1].kind == "tool"
    assert calls[2].blocks[-1].kind == "tool_result"  # the last observation before call 2
    usages = S.openhands_output("a__a-1")["metrics"]["token_usages"]
    assert a.measured.calls == 3 and a.measured.cache_read_tokens == sum(
        u["cache_read_tokens"] for u in usages)
    # the second instance opens with the first one's system prompt and tools
    assert a.shared_prefix_tokens == 0 and b.shared_prefix_tokens > 0


def test_one_line_openhands_output_in_a_directory_is_read_not_dropped(tmp_path: Path) -> None:
    S.write(tmp_path / "run" / "output.jsonl", [S.openhands_output("x__x-1")], jsonl=True)
    (tmp_path / "run" / "notes.json").write_text('{"hello": 1}')
    report = audit(tmp_path)
    (s,) = report.sessions
    assert s.format == "openhands-output" and s.num_calls == 3
    ((path, err),) = report.errors
    assert path.endswith("notes.json") and "none of the accepted shapes" in err


def test_llm_completions_directory_is_prompts_as_sent_with_usage(tmp_path: Path) -> None:
    folder = S.llm_completions(tmp_path)
    report = audit(tmp_path)
    (s,) = report.sessions
    assert report.inputs[0] == (str(folder), "openhands-completions",
                                "an llm_completions directory")
    assert s.num_calls == 3 and not s.reconstructed and s.model == "gpt-4.1"
    assert s.measured.calls == 3 and s.measured.cache_read_tokens == sum(
        1100 + 450 * k for k in (1, 2))


def test_tau_bench_result_list_is_one_session_per_run_with_shared_prefix(tmp_path: Path
                                                                         ) -> None:
    path = S.write(tmp_path / "results.json", S.tau_bench(3))
    report = audit(path)
    assert [s.name for s in report.sessions] == ["results#task 0", "results#task 1",
                                                 "results#task 2"]
    assert all(s.format == "tau-bench" and s.num_calls == 3 for s in report.sessions)
    first, *rest = report.sessions
    wiki = tokens(S.WIKI, "claude-sonnet-4-5")
    assert first.shared_prefix_tokens == 0
    assert all(wiki <= s.shared_prefix_tokens <= wiki + 40 for s in rest)


def test_claude_code_session_file(tmp_path: Path) -> None:
    path = S.write(tmp_path / "5f0c1c7e.jsonl", S.claude_code_session(), jsonl=True)
    report = audit(path)
    assert report.inputs[0][1] == "claude-code"
    main_s, side = report.sessions
    assert main_s.num_calls == 3  # the split first reply is one call
    assert side.name.endswith("#agent 1") and side.num_calls == 1
    u = S.CLAUDE_USAGES
    assert main_s.measured.input_tokens == sum(
        x["input_tokens"] + x["cache_read_input_tokens"] + x["cache_creation_input_tokens"]
        for x in u)
    assert main_s.measured.cache_read_tokens == sum(x["cache_read_input_tokens"] for x in u)
    calls = load(path)[0].calls
    assert [b.kind for b in calls[1].blocks] == ["text", "text", "tool_use", "tool_result"]
    assert any("does not record its system prompt" in n for n in main_s.notes)
    assert any("measured" in w for w in main_s.warnings)  # the unrecorded system prompt


def test_claude_stream_json(tmp_path: Path) -> None:
    path = S.write(tmp_path / "stream.jsonl", S.claude_stream(), jsonl=True)
    report = audit(path)
    (s,) = report.sessions
    assert report.inputs[0][1] == "claude-stream" and s.num_calls == 3
    assert s.measured.calls == 3 and any("4 tools named" in n for n in s.notes)


def test_forced_format_that_does_not_fit_is_an_error(tmp_path: Path) -> None:
    path = S.write(tmp_path / "stream.jsonl", S.claude_stream(), jsonl=True)
    with pytest.raises(UserError, match="--input-format openhands-output does not fit"):
        audit(path, fmt="openhands-output")
    traj = S.write(tmp_path / "run.traj", S.swe_agent(3))
    with pytest.raises(UserError, match="--input-format mini-swe-agent does not fit.*swe-agent"):
        audit(traj, fmt="mini-swe-agent")
