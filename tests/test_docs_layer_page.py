"""docs/write-a-layer.md: its code runs as written, and the layer it builds (under 30
lines, against the Protocol) works under ``run`` and ``arun``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

import ctxkit
from ctxkit import ContextPipeline, ToolCall
from ctxkit.layers import History, Prefix
from ctxkit.testing import ScriptedBackend

PAGE = Path(__file__).resolve().parents[1] / "docs" / "write-a-layer.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def page() -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "write_a_layer"}
    for code in _blocks():
        exec(compile(code, str(PAGE), "exec"), ns)  # noqa: S102 - the page is ours
    return ns


def test_the_layer_is_under_30_lines_and_a_layer(page: dict[str, Any]) -> None:
    assert len(_blocks()[0].strip().splitlines()) < 30
    assert isinstance(page["Glossary"]({}), ctxkit.Layer)
    assert isinstance(page["Weather"](), ctxkit.Layer)


def test_the_pages_own_run_did_what_it_says(page: dict[str, Any]) -> None:
    pipe = page["pipe"]
    assert pipe.records[0].extras["glossary"] == {"matched": ["block", "draft"]}
    results = [b.content for b in pipe.session.transcript if b.kind == "tool_result"]
    assert results == ["the prompt being built"]  # the tool loop ran the layer's tool


def _pipe(page: dict[str, Any], **kw: Any) -> ContextPipeline:
    glossary = page["Glossary"]({"block": "the unit of context", "cache": "reused tokens"},
                                **kw)
    return ContextPipeline(
        ScriptedBackend([ToolCall(id="c", name="define", arguments={"term": "budget"}), "ok"]),
        layers=[Prefix(system="Answer from the glossary."), History(), glossary])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_layer_works_sync_and_async(page: dict[str, Any], mode: str) -> None:
    pipe = _pipe(page)
    message = "does the cache hold a block?"
    reply = pipe.run(message) if mode == "sync" else asyncio.run(pipe.arun(message))
    assert reply.text == "ok"
    first = pipe.records[0]
    assert first.extras["glossary"] == {"matched": ["block", "cache"]}
    assert [b.key for b in first.blocks if b.layer == "glossary"] == ["term:block",
                                                                      "term:cache"]
    assert [b.key for b in first.blocks if b.kind == "tool"] == ["tool:define"]
    results = [b.content for b in pipe.session.transcript if b.kind == "tool_result"]
    assert results == ["no entry for 'budget'"]


def test_its_cap_goes_to_the_packing_step(page: dict[str, Any]) -> None:
    pipe = _pipe(page, max_tokens=8)  # room for one definition, not two
    draft = pipe.assemble("does the cache hold a block?")
    assert len(draft.of_layer("glossary")) == 1
    assert [b.layer for b in draft.dropped] == ["glossary"]


def test_the_async_layer_on_the_page_runs_under_run_too(page: dict[str, Any]) -> None:
    pipe = ContextPipeline(ScriptedBackend(["Sunny."]),
                           layers=[History(), page["Weather"]()])
    assert pipe.run("weather?").text == "Sunny."
    assert pipe.records[0].blocks[-2].layer == "weather"
