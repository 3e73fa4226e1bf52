"""Traces and replay: every call appends a CallRecord; Replay answers from them."""

from __future__ import annotations

import json

import pytest

from ctxkit import BackendError, StoreError, UserError, load_trace
from ctxkit.backends import Replay
from tests.helpers import make_pipe
from tests.test_pipeline import SCRIPT


def test_trace_round_trips(tmp_path) -> None:
    path = tmp_path / "run.trace.jsonl"
    pipe = make_pipe(SCRIPT, trace=path)
    pipe.run("fix it")
    pipe.run("thanks")
    lines = path.read_text().splitlines()
    assert len(lines) == len(pipe.records) == 4
    loaded = load_trace(path)
    assert [r.model_dump() for r in loaded] == [r.model_dump() for r in pipe.records]
    assert json.loads(lines[0])["schema_version"] == 1


def test_bad_traces_name_the_line(tmp_path) -> None:
    path = tmp_path / "t.jsonl"
    pipe = make_pipe(["a"], trace=path)
    pipe.run("x")
    with open(path, "a") as fh:
        fh.write('{"not": "a record"}\n')
    with pytest.raises(StoreError, match=r"t.jsonl:2"):
        load_trace(path)
    with pytest.raises(StoreError, match="no trace"):
        load_trace(tmp_path / "missing.jsonl")


def test_replay_reproduces_the_session(tmp_path) -> None:
    path = tmp_path / "run.jsonl"
    pipe = make_pipe(SCRIPT, trace=path)
    pipe.run("fix it")
    pipe.run("thanks")
    replayed = make_pipe([], trace=None)
    replayed.backend = Replay(path, strict=True)
    replayed.run("fix it")
    replayed.run("thanks")
    assert [r.prompt_hash for r in replayed.records] == [r.prompt_hash for r in pipe.records]
    assert [r.response.text for r in replayed.records] == [r.response.text for r in pipe.records]
    assert replayed.report().cost_usd == pytest.approx(pipe.report().cost_usd)


def test_strict_replay_names_where_the_prompt_diverged(tmp_path) -> None:
    path = tmp_path / "run.jsonl"
    pipe = make_pipe(["a", "b"], trace=path)
    pipe.run("one")
    pipe.run("two")
    other = make_pipe([])
    other.backend = Replay(path, strict=True)
    other.run("one")
    with pytest.raises(BackendError, match=r"diverged at call 1: block \d+ \(turn:1:user\)"):
        other.run("something else")
    with pytest.raises(BackendError, match="only 2 calls"):
        lenient = make_pipe([])
        lenient.backend = Replay(path)
        for m in ("x", "y", "z"):
            lenient.run(m)


def test_replay_of_an_empty_trace_is_refused(tmp_path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(UserError, match="no successful calls"):
        Replay(path)
