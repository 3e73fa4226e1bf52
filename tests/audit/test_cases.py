"""Issue 13's cases 3-6: causes that can be trusted (no false timestamps), duplicates over
content only, observations sent as ``user`` messages, and sessions inferred in logs
without ids. Request JSONL is written to tmp_path; figures are recomputed from the input.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest

from ctxkit import get_tokenizer, profile_for
from ctxkit.audit import SessionSplitter, audit
from ctxkit.audit._causes import classify, has_timestamp

from . import shapes as S

TIMESTAMP = "timestamp or date-like text"


def chat(system: str, task: str, turns: int, output: Any = None) -> list[dict[str, Any]]:
    """``turns`` requests of one conversation growing append-only by a tool call+result."""
    history: list[dict[str, Any]] = [{"role": "user", "content": task}]
    out = []
    for k in range(turns):
        out.append({"model": "gpt-4.1", "messages": [{"role": "system", "content": system},
                                                     *history]})
        result = output(k) if callable(output) else f"{task}\n{S.listing(k)}"
        cid = f"call_{zlib.crc32(task.encode())}_{k}"  # ids are unique per conversation
        history += [{"role": "assistant", "content": None, "tool_calls": [{
            "id": cid, "type": "function",
            "function": {"name": "bash", "arguments": '{"cmd": "ls"}'}}]},
            {"role": "tool", "tool_call_id": cid, "content": result}]
    return out


# -- case 3: false timestamps ---------------------------------------------------------------

@pytest.mark.parametrize("text", ["monotonic", "monomial", "Monday's", "sunset", "marching",
                                  "now", "today", "file.py:12:30", "mayhem 5"])
def test_words_that_only_look_like_dates_are_not_timestamps(text: str) -> None:
    assert not has_timestamp(text)


@pytest.mark.parametrize("text", ["2026-11-03", "2026-11-03T09:41:07Z", "09:41:07",
                                  "at 09:41 UTC", "Mon, 3 Nov", "November 3, 2026",
                                  "3 November 2026", "epoch 1790000000"])
def test_real_date_and_time_shapes_are_timestamps(text: str) -> None:
    assert has_timestamp(text, now=1_790_000_000)


def test_epoch_seconds_far_from_now_are_not_timestamps() -> None:
    assert not has_timestamp("id 1000000000", now=1_790_000_000)  # 2001: 25 years off


@pytest.mark.parametrize("old,new", [("use a monotonic clock", "use a monomial clock"),
                                     ("run it now", "run it today"),
                                     ("Sunday school", "Saturday school")])
def test_a_killer_in_such_words_is_not_called_a_timestamp(tmp_path: Path, old: str,
                                                          new: str) -> None:
    assert classify(old, new)[0] != TIMESTAMP
    reqs = chat(f"{S.SYSTEM}\nNote: {old}.", "task one", 1) + [
        {**r, "messages": [{"role": "system", "content": f"{S.SYSTEM}\nNote: {new}."},
                           *r["messages"][1:]]} for r in chat("", "task one", 2)[1:]]
    (s,) = audit(S.write(tmp_path / "log.jsonl", reqs, jsonl=True)).sessions
    (k,) = s.killers
    assert k.cause == "content changed" and k.region == "system+tools"


def test_a_real_date_change_is_still_a_timestamp(tmp_path: Path) -> None:
    reqs = [{**r, "messages": [{"role": "system", "content": f"{S.SYSTEM}\nToday is "
                                f"2026-11-0{k + 1}."}, *r["messages"][1:]]}
            for k, r in enumerate(chat("", "task one", 3))]
    (s,) = audit(S.write(tmp_path / "log.jsonl", reqs, jsonl=True)).sessions
    assert [k.cause for k in s.killers] == [TIMESTAMP, TIMESTAMP]


# -- case 4: duplicates over content only ----------------------------------------------------

def test_empty_and_short_outputs_are_not_duplicates(tmp_path: Path) -> None:
    empties = ["", "<returncode>0</returncode><output></output>", "ok"]
    reqs = chat(S.SYSTEM, "task one", 7, lambda k: empties[k % 3])
    (s,) = audit(S.write(tmp_path / "log.jsonl", reqs, jsonl=True)).sessions
    assert s.duplicates == []  # their role headers and call ids made them "duplicates"


def test_duplicate_tokens_count_the_content_alone(tmp_path: Path) -> None:
    text = S.listing(7, 20)
    reqs = chat(S.SYSTEM, "task one", 4, lambda k: text)
    (s,) = audit(S.write(tmp_path / "log.jsonl", reqs, jsonl=True)).sessions
    (d,) = s.duplicates
    assert d.tokens == get_tokenizer(profile_for("gpt-4.1").tokenizer).count(text)
    assert d.copies == 3 and d.tokens_wasted == d.tokens * (1 + 2)


# -- case 5: observations sent as user messages ----------------------------------------------

def test_observations_in_user_messages_are_tool_output(tmp_path: Path) -> None:
    """mini-swe-agent sends every observation as a ``user`` message: the 40-line listing it
    received twice is a duplicate; its empty outputs are not."""
    path = S.write(tmp_path / "m.traj.json", S.mini_swe_agent())
    report = audit(path)
    (s,) = report.sessions
    assert s.tokens_by_kind.get("observation", 0) > 0
    (d,) = [d for d in s.duplicates if d.tokens > 100]
    assert d.copies == 2 and "module_0_0" in d.preview
    assert all("<output>\n</output>" not in d.preview for d in s.duplicates)


# -- case 6: logs without session ids ----------------------------------------------------------

def test_new_conversations_sharing_the_system_prompt_are_sessions_not_killers(
        tmp_path: Path) -> None:
    a, b, c = (chat(S.SYSTEM, f"task {n}: fix module {n}", 3) for n in "abc")
    interleaved = [a[0], b[0], a[1], c[0], b[1], a[2], c[1], b[2], c[2]]
    report = audit(S.write(tmp_path / "batch.jsonl", interleaved, jsonl=True))
    assert [s.num_calls for s in report.sessions] == [3, 3, 3]
    assert all(s.killers == [] for s in report.sessions)
    assert all(any("session inferred" in n for n in s.notes) for s in report.sessions)
    # the shared system prompt is its own figure: sessions 2 and 3 open with it
    shared = [s.shared_prefix_tokens for s in report.sessions]
    system = get_tokenizer(profile_for("gpt-4.1").tokenizer).count(S.SYSTEM)
    assert shared[0] == 0 and all(system <= x <= system + 20 for x in shared[1:])
    assert "shared prefix" in __import__("ctxkit.audit._render", fromlist=["x"]).summary(
        report)


def test_splitter_keeps_a_conversation_whose_system_prompt_changes() -> None:
    sp = SessionSplitter()
    first = sp.assign(["system v1"], ["task", "reply", "result"])
    again = sp.assign(["system v2"], ["task", "reply", "result", "reply2"])
    other = sp.assign(["system v2"], ["another task"])
    rewritten = sp.assign(["system v2"], ["task'", "reply", "result", "reply2", "r3"],
                          [1, 5, 5, 5, 5])
    assert (first.is_new, again.session, again.parent) == (True, 0, 0)
    assert (other.is_new, other.session) == (True, 1)
    assert (rewritten.session, rewritten.parent) == (0, 1)  # most of it reappears
    with pytest.raises(ValueError):
        sp.assign(["s"], ["a", "b"], [1])


# -- linear-time comparisons agree with the obvious ones ----------------------------------------

def test_diff_from_and_common_suffix_match_the_naive_definitions() -> None:
    import os

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ctxkit.audit._causes import _common_suffix, diff_from

    @settings(max_examples=300, deadline=None)
    @given(st.text("ab \n", max_size=300), st.text("ab \n", max_size=300))
    def check(a: str, b: str) -> None:
        p = len(os.path.commonprefix([a, b]))
        assert diff_from(a, b) == p
        s = len(os.path.commonprefix([a[::-1], b[::-1]]))
        limit = min(len(a), len(b)) - p
        assert _common_suffix(a, b, limit) == min(s, limit)

    check()
