"""Reports from real sessions: by-layer attribution, hit rate, cost, drift, the JSON form,
the terminal rendering and the ``ctxkit report`` command."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from ctxkit import Block, ContextPipeline, Draft, Response, Turn, Usage, load_trace, profile_for
from ctxkit.cli import main
from ctxkit.layers import History, Prefix
from ctxkit.report import Report, layer_order
from ctxkit.testing import FunctionBackend, ScriptedBackend
from tests.helpers import grep, read_file

SYSTEM = "You are a careful coding agent. Today is 2026-11-28.\n" + "\n".join(
    f"Rule {i}: read before you edit, keep diffs small, run the tests after each change."
    for i in range(90))
SCRIPT = [
    {"tool_calls": [{"id": "c1", "name": "grep", "arguments": {"pattern": "def parse"}}]},
    {"tool_calls": [{"id": "c2", "name": "read_file", "arguments": {"path": "parser.py"}}]},
    "Found it: parse('') returns [''] instead of [].",
    "Fixed, and added a test for empty input.",
    "All 14 tests pass.",
]
DRIFT_CALL = 4  # the first call after pipe.layers[0] is replaced


def clock() -> Any:
    ticks = itertools.count(1_000_000)
    return lambda: float(next(ticks))


def build_session(trace: Path, *, fail_at_end: bool = True,
                  session_id: str = "sess-a") -> ContextPipeline:
    """Five calls over three turns (a tool loop first), then a prefix replaced with another
    date (drift at call 4), then one call the backend cannot answer (a failed record)."""
    pipe = ContextPipeline(backend=ScriptedBackend(SCRIPT),
                           layers=[Prefix(system=SYSTEM, tools=[read_file, grep]), History()],
                           trace=trace, session_id=session_id, clock=clock())
    pipe.run("the parser test fails on empty input; fix it")
    pipe.run("add a test for it")
    pipe.layers[0] = Prefix(system=SYSTEM.replace("2026-11-28", "2026-11-29"),
                            tools=[read_file, grep])
    pipe.run("run the whole suite")
    if fail_at_end:
        with pytest.raises(Exception, match="ran out of responses"):
            pipe.run("once more")
    return pipe


@pytest.fixture
def session(tmp_path: Path) -> tuple[ContextPipeline, Path]:
    trace = tmp_path / "run.jsonl"
    return build_session(trace), trace


MOVES = pytest.mark.moves_prefix("replaces the Prefix layer (another date) to force a drift")


@MOVES
def test_by_layer_totals_equal_the_sum_of_per_call_records(session: Any) -> None:
    pipe, trace = session
    records = load_trace(trace)
    assert len(records) == 6 and [r.ok for r in records] == [True] * 5 + [False]
    report = Report.from_records(records)
    by_layer = report.by_layer()
    # prompt order, although "turn" (the user message) is first seen before "history"
    assert list(by_layer) == ["prefix", "history", "turn"] == report.layers
    for name, lt in by_layer.items():
        ok = [r.by_layer[name] for r in records if r.ok and name in r.by_layer]
        assert lt.read == sum(x.read for x in ok)
        assert lt.write == sum(x.write for x in ok)
        assert lt.uncached == sum(x.uncached for x in ok)
    # attribution covers every input token (the scripted profile adds no framing)
    assert sum(lt.total for lt in by_layer.values()) == report.input_tokens
    assert report.input_tokens == sum(r.usage.input_tokens for r in records if r.ok)
    # the system prompt passes the 1024-token minimum: the prefix is read from cache
    assert by_layer["prefix"].read > 0 and by_layer["prefix"].write > 0


@MOVES
def test_hit_rate_and_cost_arithmetic(session: Any) -> None:
    pipe, _ = session
    report = pipe.report()
    ok = [r for r in pipe.records if r.ok]
    reads = sum(r.usage.cache_read_tokens for r in ok)
    assert report.hit_rate == pytest.approx(reads / sum(r.usage.input_tokens for r in ok))
    assert ok[0].hit_rate == 0.0 and ok[1].hit_rate > 0.9
    assert ok[DRIFT_CALL].usage.cache_read_tokens == 0  # the drift invalidated everything
    p = profile_for("scripted").prices
    cost = uncached = 0.0
    for r in ok:
        u = r.usage
        cost += (u.uncached_tokens * p.input + u.cache_write_5m_tokens * p.cache_write_5m
                 + u.cache_write_1h_tokens * p.cache_write_1h + u.cache_read_tokens
                 * p.cache_read + u.output_tokens * p.output) / 1e6
        uncached += (u.input_tokens * p.input + u.output_tokens * p.output) / 1e6
    assert report.cost_usd == pytest.approx(cost)
    assert report.cost_uncached_usd == pytest.approx(uncached)
    assert report.savings_usd == pytest.approx(uncached - cost)
    assert report.savings_usd > 0  # three cached reads pay for the 1h writes
    lat = report.latency()
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["max"]
    rows = report.per_call()
    assert rows[-1]["ok"] is False and rows[-1]["error"].startswith("BackendError")
    assert rows[2]["cumulative_hit_rate"] == pytest.approx(
        sum(r.usage.cache_read_tokens for r in ok[:3])
        / sum(r.usage.input_tokens for r in ok[:3]))


@MOVES
def test_json_form_round_trips(session: Any) -> None:
    pipe, trace = session
    live = pipe.report()
    loaded = Report.from_records(load_trace(trace))
    data = json.loads(loaded.to_json())
    assert data == live.to_dict() == loaded.to_dict()
    assert data["calls"] == 5 and data["failed"] == 1
    assert data["layer_order"] == ["prefix", "history", "turn"]
    assert data["by_layer"]["prefix"]["total"] == loaded.by_layer()["prefix"].total
    (ev,) = data["drift"]
    assert (ev["call"], ev["layer"], ev["key"]) == (DRIFT_CALL, "prefix", "system")
    assert ev["cause"] == "timestamp or date-like text" and ev["layer_replaced"] is True
    assert "2026-11-28" in ev["diff"] and "2026-11-29" in ev["diff"]
    assert data["errors"][0]["call"] == 5


@MOVES
def test_terminal_names_the_drift_cause_layer_and_key(session: Any) -> None:
    pipe, _ = session
    text = pipe.report().render(width=200)
    misses = text[text.index("cache misses"):]
    row = next(line for line in misses.splitlines() if line.startswith(str(DRIFT_CALL)))
    assert "prefix" in row and "system" in row and "timestamp or date-like text" in row
    assert "- " in misses and "2026-11-28" in misses and "2026-11-29" in misses
    start = text.index("tokens by layer")
    layers = text[start:text.index("turn.step", start)]
    assert layers.index("prefix") < layers.index("history") < layers.index("turn")
    last_call = next(line for line in text.splitlines() if line.startswith("5 "))
    assert "failed" in last_call and "ran out of responses" in text
    # a cached layer that changed is drift, not a layout mistake: no "move layers" advice
    assert "layout notes" not in text


class Notes:
    """A user-written layer whose block key and content look like rich markup."""

    name = "notes"

    def __init__(self) -> None:
        self.text = "v1"

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        return draft.add(Block(layer=self.name, role="system", key="[bold red]k[/]",
                               content=f"[link=x]notes {self.text}[/link]", cache="5m"))


@MOVES
def test_terminal_prints_user_text_literally(tmp_path: Path) -> None:
    notes = Notes()
    pipe = ContextPipeline(backend=ScriptedBackend(["a", "b"]),
                           layers=[Prefix(system=SYSTEM), notes, History()], clock=clock())
    pipe.run("one")
    notes.text = "v2"
    pipe.run("two")
    text = pipe.report().render(width=200)
    assert "[bold red]k[/]" in text and "[link=x]notes v1" in text


def test_reported_usage_and_disagreements() -> None:
    def answer(draft: Draft) -> Response:
        # a backend whose cache never hits, whatever ctxkit predicts
        return Response(text="ok", usage=Usage(input_tokens=draft.num_tokens, output_tokens=3))

    pipe = ContextPipeline(backend=FunctionBackend(answer, model="claude-sonnet-4-5"),
                           layers=[Prefix(system=SYSTEM), History()], clock=clock())
    pipe.run("one")
    pipe.run("two")
    report = pipe.report()
    assert report.cache_read_tokens == 0 and report.hit_rate == 0.0  # reported wins
    first, second = report.disagreements()
    assert "cache write predicted" in (first.disagreement or "")
    assert second.index == 1 and second.predicted.cache_read_tokens > 0
    d = report.to_dict()["disagreements"][1]
    assert d["reported"]["read"] == 0
    assert d["predicted"]["read"] == second.predicted.cache_read_tokens
    assert report.is_exact  # estimated counts, but the backend reported usage
    text = report.render(width=200)
    assert "predicted vs reported" in text and "cache read predicted" in text


@MOVES
def test_layer_order_places_a_layer_missing_from_the_latest_call(session: Any) -> None:
    pipe, _ = session
    # the tool-loop steps (calls 1, 2) have no "turn" layer; the last ok call has all three
    assert layer_order(pipe.records[1:3]) == ["prefix", "history"]
    assert layer_order(pipe.records[:3]) == ["prefix", "history", "turn"]
    assert layer_order([]) == [] and Report().render().startswith("no calls recorded")


# -- the ctxkit report command ----------------------------------------------------------


@MOVES
def test_cli_renders_terminal_json_and_html(session: Any, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, trace = session
    assert main(["report", str(trace), "--width", "160"]) == 0
    out = capsys.readouterr().out
    assert "tokens by layer" in out and "timestamp or date-like text" in out
    assert main(["report", str(trace), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == Report.from_records(load_trace(trace)).to_dict()
    page = tmp_path / "r.html"
    assert main(["report", str(trace), "--format", "html", "-o", str(page)]) == 0
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and 'id="ctxkit-data"' in html
    also = tmp_path / "also.html"
    assert main(["report", str(trace), "--html", str(also), "--width", "120"]) == 0
    assert "tokens by layer" in capsys.readouterr().out and also.stat().st_size > 0
    assert main(["report", str(trace), "--format", "html"]) == 0  # default: TRACE.html
    assert trace.with_suffix(".html").read_text().startswith("<!DOCTYPE html>")


@MOVES
def test_cli_filters_one_session_of_several_traces(session: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _, first = session
    second = tmp_path / "other.jsonl"
    build_session(second, fail_at_end=False, session_id="sess-b")
    assert main(["report", str(first), str(second), "--format", "json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert both["sessions"] == ["sess-a", "sess-b"] and both["calls"] == 10
    assert both["drift"][1]["label"] == f"sess-b:{DRIFT_CALL}"
    assert main(["report", str(first), str(second), "--session", "sess-b",
                 "--format", "json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["sessions"] == ["sess-b"] and one["calls"] == 5 and one["failed"] == 0
    assert main(["report", str(first), "--session", "nope"]) == 1
    assert "sessions there: sess-a" in capsys.readouterr().err


@MOVES
def test_cli_fails_cleanly_on_a_corrupt_line_and_a_missing_file(
        session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, trace = session
    with open(trace, "a", encoding="utf-8") as fh:
        fh.write('{"call_id": "truncated", "index": \n')
    assert main(["report", str(trace)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ctxkit report:") and f"{trace}:7" in err and "Traceback" not in err
    missing = tmp_path / "nope.jsonl"
    assert main(["report", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"no trace at {missing}" in err
    assert main(["report", str(tmp_path)]) == 1
    assert "is not a file" in capsys.readouterr().err
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["report", str(binary)]) == 1
    assert "not UTF-8" in capsys.readouterr().err


@pytest.mark.moves_prefix("a volatile layer placed before the prefix is the point")
def test_terminal_and_json_show_layout_notes_for_a_volatile_layer_first() -> None:
    def clock_layer(draft: Draft, turn: Turn) -> Draft:  # volatile, yet placed first
        return draft.add(Block(layer="clock", role="system", content=f"turn {turn.index}"))

    pipe = ContextPipeline(backend=ScriptedBackend(["a", "b"]),
                           layers=[clock_layer, Prefix(system=SYSTEM), History()])
    pipe.run("one")
    pipe.run("two")
    report = pipe.report()
    assert "layout notes" in report.render(width=160)
    notes = report.to_dict()["layout"]
    assert len(notes) == 1 and notes[0]["changed_layer"] == "clock"
    assert notes[0]["tokens_missed"] > 1000
