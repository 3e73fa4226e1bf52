"""Where ctxkit renders the token ids itself, the cache model predicts the engine exactly.

A 50-call session on the bundled engine (tiny random Llama, CPU) with tools, tool calls
and their results, and one deliberate drift of the system prompt: for every call the
predicted input and cache-read tokens equal what the engine counted, and no record
carries a disagreement. The template renders tools before the system message; the
prediction follows the rendered ids, not the Draft's order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxkit import CallRecord, ContextPipeline, Draft, Response, ToolCall
from ctxkit.backends._local import Local
from ctxkit.layers import History, Prefix
from tests.engine.conftest import build_checkpoint


def lookup(city: str) -> str:
    """Look up a city's weather."""
    return f"sunny in {city}, 21 degrees"


def add(a: int, b: int) -> str:
    """Add two numbers."""
    return str(a + b)


class ToolCallingLocal(Local):
    """The engine answers every call; every third answer also asks for a tool (a random
    model would never), so the history holds tool calls and results rendered by the
    template. Usage and reply ids stay the engine's own."""

    calls = 0

    def complete(self, draft: Draft) -> Response:
        out = super().complete(draft)
        self.calls += 1
        return with_tool_call(out, self.calls)


def with_tool_call(out: Response, n: int) -> Response:
    """Every third answer (the ``n``-th call's) also asks for ``lookup``."""
    if n % 3 != 1:
        return out
    call = ToolCall(id=f"call_{n}", name="lookup", arguments={"city": f"city {n}"})
    return out.model_copy(update={"tool_calls": [call], "stop_reason": "tool_use"})


def fifty_calls_with_drift(pipe: ContextPipeline, system: str) -> list[CallRecord]:
    """Drive ``pipe`` (a Prefix of ``system`` and the two tools, then History) to 50 calls;
    from call 25 the date in the system prompt changes once. Returns the first 50 records."""
    turn = 0
    while len(pipe.records) < 50:
        turn += 1
        if len(pipe.records) >= 25 and pipe.layers[0].system == system:
            # the deliberate drift: the date in the system prompt changes
            pipe.layers[0] = Prefix(system=system.replace("11-28", "11-29"),
                                    tools=[lookup, add])
        pipe.run(f"turn {turn}: hello world, how are you today?")
    return pipe.records[:50]


def assert_exact(records: list[CallRecord]) -> int:
    """Every record's prediction equals the engine's report; returns the calls with hits."""
    hits = 0
    for r in records:
        assert r.reported is not None, r.index
        assert r.predicted.input_tokens == r.reported.input_tokens, r.index
        assert r.predicted.cache_read_tokens == r.reported.cache_read_tokens, r.index
        assert r.disagreement is None, (r.index, r.disagreement)
        hits += r.reported.cache_read_tokens > 0
    return hits


@pytest.fixture(scope="module")
def long_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("long") / "llama", "llama",
                            max_positions=8192)


@pytest.mark.moves_prefix("one deliberate drift of the system prompt at call 25")
def test_fifty_calls_predicted_exactly(long_llama: Path) -> None:
    backend = ToolCallingLocal(long_llama, max_tokens=6, num_kv_blocks=2048, block_size=8,
                               max_model_len=8192)
    system = "you are a terse assistant. the date is 2026-11-28."
    pipe = ContextPipeline(backend, [Prefix(system=system, tools=[lookup, add]), History()],
                           max_steps=3)
    ids = backend.render(pipe.assemble("hello"))
    assert backend.llm.tokenizer.decode(ids).startswith("<|im_start|>tools\n")
    records = fifty_calls_with_drift(pipe, system)
    assert sum(1 for r in records if r.drift) >= 1
    assert any(b.kind == "tool_result" for b in pipe.session.transcript)
    assert assert_exact(records) >= 40  # the session really ran on the prefix cache
    drifted = next(r for r in records if r.drift)
    assert drifted.drift[0].cause == "timestamp or date-like text"
    # after the drift only the tools (rendered first) stay cached
    assert 0 < drifted.reported.cache_read_tokens < records[drifted.index - 1].reported.input_tokens
