"""Drift diagnosis names the right block and cause for each kind of cache killer."""

from __future__ import annotations

import pytest

from ctxkit import ContextPipeline
from ctxkit.layers import History, Prefix
from ctxkit.testing import ScriptedBackend
from tests.helpers import LONG_SYSTEM, grep, read_file

pytestmark = pytest.mark.moves_prefix("each test breaks the prefix to diagnose it")

EDIT = {"name": "edit_file", "description": "Replace one exact string in a file.",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}


def two_calls(first: Prefix, second: Prefix) -> ContextPipeline:
    pipe = ContextPipeline(backend=ScriptedBackend(["one", "two"]), layers=[first, History()])
    pipe.run("first")
    pipe.layers[0] = second
    pipe.run("second")
    return pipe


def event(pipe: ContextPipeline):  # type: ignore[no-untyped-def]
    assert pipe.records[0].drift == []
    drift = pipe.records[1].drift
    assert len(drift) == 1, drift
    return drift[0]


def test_timestamp_in_system_prompt() -> None:
    ev = event(two_calls(Prefix(system=LONG_SYSTEM + "Today is 2026-11-28 09:14."),
                         Prefix(system=LONG_SYSTEM + "Today is 2026-11-29 09:15.")))
    assert (ev.layer, ev.key, ev.cause) == ("prefix", "system", "timestamp or date-like text")
    assert ev.layer_replaced
    assert "2026-11-28" in ev.diff and "2026-11-29" in ev.diff
    assert ev.offset == len(LONG_SYSTEM) + len("Today is 2026-11-2")
    assert ev.tokens_invalidated > 1000


def test_prefix_drift_gives_no_layout_advice() -> None:
    pipe = two_calls(Prefix(system=LONG_SYSTEM + "Today is 2026-11-28."),
                     Prefix(system=LONG_SYSTEM + "Today is 2026-11-29."))
    # the cached layer changed; "move stable layers first" would be wrong advice here
    assert pipe.records[1].drift and pipe.records[1].layout is None


def test_reordered_tools() -> None:
    ev = event(two_calls(Prefix(system=LONG_SYSTEM, tools=[read_file, grep], sort_tools=False),
                         Prefix(system=LONG_SYSTEM, tools=[grep, read_file], sort_tools=False)))
    assert (ev.key, ev.cause) == ("tool:read_file", "reordered tools")


def test_sorted_tools_do_not_drift_when_given_in_another_order() -> None:
    pipe = two_calls(Prefix(system=LONG_SYSTEM, tools=[read_file, grep]),
                     Prefix(system=LONG_SYSTEM, tools=[grep, read_file]))
    assert pipe.records[1].drift == []
    assert pipe.records[1].usage.cache_read_tokens > 1000


def test_added_tool() -> None:
    ev = event(two_calls(Prefix(system=LONG_SYSTEM, tools=[grep, read_file]),
                         Prefix(system=LONG_SYSTEM, tools=[EDIT, grep, read_file])))
    assert (ev.key, ev.cause) == ("tool:grep", "added tool")
    assert "edit_file" in ev.detail


def test_removed_tool() -> None:
    ev = event(two_calls(Prefix(system=LONG_SYSTEM, tools=[EDIT, grep, read_file]),
                         Prefix(system=LONG_SYSTEM, tools=[grep, read_file])))
    assert (ev.key, ev.cause) == ("tool:edit_file", "removed tool")


def test_changed_tool_schema() -> None:
    changed = {**EDIT, "description": "Replace text."}
    ev = event(two_calls(Prefix(system=LONG_SYSTEM, tools=[EDIT]),
                         Prefix(system=LONG_SYSTEM, tools=[changed])))
    assert (ev.key, ev.cause) == ("tool:edit_file", "tool schema changed")


def test_whitespace() -> None:
    ev = event(two_calls(Prefix(system=LONG_SYSTEM + "Be brief."),
                         Prefix(system=LONG_SYSTEM + "Be brief.\n")))
    assert (ev.key, ev.cause) == ("system", "whitespace")


def test_reordered_keys_in_a_project_file() -> None:
    a = ("settings.json", '{"model": "x", "retries": 3, "paths": ["src", "tests"]}')
    b = ("settings.json", '{"retries": 3, "paths": ["src", "tests"], "model": "x"}')
    ev = event(two_calls(Prefix(system=LONG_SYSTEM, project=[a]),
                         Prefix(system=LONG_SYSTEM, project=[b])))
    assert (ev.layer, ev.key, ev.cause) == ("prefix", "file:settings.json", "reordered keys")


def test_request_id_in_a_project_file() -> None:
    a = ("ENV.md", "session req_8f3k2j9x1 opened")
    b = ("ENV.md", "session req_77ab0c2qq opened")
    ev = event(two_calls(Prefix(system=LONG_SYSTEM, project=[a]),
                         Prefix(system=LONG_SYSTEM, project=[b])))
    assert (ev.key, ev.cause) == ("file:ENV.md", "id-like text (uuid, request id)")


def test_project_file_edited_on_disk(tmp_path) -> None:
    (tmp_path / "AGENTS.md").write_text("Use pytest. Keep functions small.\n")
    prefix = Prefix(system=LONG_SYSTEM, project=["AGENTS.md"], root=tmp_path)
    pipe = ContextPipeline(backend=ScriptedBackend(["one", "two", "three"]),
                           layers=[prefix, History()])
    pipe.run("first")
    pipe.run("second")
    assert pipe.records[1].drift == []
    (tmp_path / "AGENTS.md").write_text("Use pytest. Keep functions short and pure.\n")
    pipe.run("third")
    ev = pipe.records[2].drift[0]
    assert (ev.key, ev.cause, ev.layer_replaced) == ("file:AGENTS.md", "content changed", False)


def test_a_changed_layer_before_unchanged_ones_is_reported() -> None:
    from ctxkit import Block

    def clock_layer(draft, turn):  # a volatile layer placed first: the classic mistake
        return draft.add(Block(layer="clock", role="system", content=f"turn {turn.index}"))

    pipe = ContextPipeline(backend=ScriptedBackend(["one", "two"]),
                           layers=[clock_layer, Prefix(system=LONG_SYSTEM), History()])
    pipe.run("first")
    pipe.run("second")
    note = pipe.records[1].layout
    assert note is not None and note.changed_layer == "clock"
    assert "prefix" in note.unchanged_after and note.tokens_missed > 1000


# Real coding agents send system prompts of 15-30k tokens. These sizes once took difflib
# minutes (or were skipped past a size guard and misnamed "content changed"); the cause,
# offset and short diff must come out the same as for a small prompt.
BIG_BODY = "\n".join(f"rule {i}: read the file before editing it; run the tests after each "
                     f"change ({i * 7919 % 1000})." for i in range(4000))  # ~300k chars


def test_timestamp_in_a_huge_system_prompt_is_named() -> None:
    first = Prefix(system=f"Current time: 2026-11-28 09:14\n{BIG_BODY}")
    second = Prefix(system=f"Current time: 2026-11-29 09:15\n{BIG_BODY}")
    ev = event(two_calls(first, second))
    assert len(BIG_BODY) > 250_000 and BIG_BODY.count("\n") > 2000
    assert ev.cause == "timestamp or date-like text"
    assert ev.offset == len("Current time: 2026-11-2")
    assert ev.diff.splitlines()[0].startswith("- Current time: 2026-11-28")
    assert len(ev.diff) < 200


def test_whitespace_and_edits_deep_in_a_huge_prompt() -> None:
    ws = event(two_calls(Prefix(system=BIG_BODY + "\nend"),
                         Prefix(system=BIG_BODY.replace("rule 3999:", "rule  3999:") + "\nend")))
    assert ws.cause == "whitespace"
    edited = event(two_calls(Prefix(system=BIG_BODY),
                             Prefix(system=BIG_BODY.replace("rule 3998:", "law 3998:"))))
    assert edited.cause == "content changed"
    assert edited.offset == BIG_BODY.index("rule 3998:")
    ts = event(two_calls(Prefix(system=BIG_BODY + "\nas of 10:41"),
                         Prefix(system=BIG_BODY + "\nas of 10:42")))
    assert ts.cause == "timestamp or date-like text"


def test_reordered_keys_at_the_end_of_a_huge_schema() -> None:
    props = {f"p{i}": {"type": "string", "description": f"field {i} " * 20} for i in range(600)}
    a = {"name": "big", "input_schema": {"type": "object", "properties": props}}
    reordered = dict(props)
    last = reordered.pop("p599")
    reordered = {**reordered, "p599": dict(reversed(list(last.items())))}
    b = {"name": "big", "input_schema": {"type": "object", "properties": reordered}}
    import json

    from ctxkit._drift import classify_text_change
    old, new = json.dumps(a), json.dumps(b)
    assert len(old) > 100_000 and old != new
    assert classify_text_change(old, new)[0] == "reordered keys"
