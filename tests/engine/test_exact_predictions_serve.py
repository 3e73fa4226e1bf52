"""The OpenAI backend on ``ctxkit serve`` predicts the cache exactly, as ``Local`` does.

A real server on loopback (tiny random Llama, CPU) and the real ``openai`` client, profile
``ctxkit-serve``: the backend asks the server's ``/tokenize`` for the ids of the exact chat
request it sends, and reads each reply's ids (``return_token_ids``). Over a 50-call session
with tools, tool calls and their results and one deliberate drift, the predicted input and
cache-read tokens equal what the server reported on every call. A server without a working
``/tokenize`` gets estimates, one warning, and calls that still work.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="ctxkit serve needs: pip install 'ctxkit[engine]'")
pytest.importorskip("uvicorn", reason="ctxkit serve needs: pip install 'ctxkit[engine]'")
pytest.importorskip("openai", reason="pip install openai")

from ctxkit import ContextPipeline, Draft, Response, profile_for  # noqa: E402
from ctxkit.backends import OpenAI  # noqa: E402
from ctxkit.engine import LLM  # noqa: E402
from ctxkit.engine.serve.server import build_app  # noqa: E402
from ctxkit.layers import History, Prefix  # noqa: E402
from tests.engine.conftest import build_checkpoint  # noqa: E402
from tests.engine.serve_helpers import serving  # noqa: E402
from tests.engine.test_exact_predictions import (  # noqa: E402
    add,
    assert_exact,
    fifty_calls_with_drift,
    lookup,
    with_tool_call,
)

WINDOW = 8192
SYSTEM = "you are a terse assistant. the date is 2026-11-28."


class ToolCallingOpenAI(OpenAI):
    """The server answers every call; every third answer also asks for a tool (a random
    model would never), so the history holds tool calls and results that the server's
    template renders. Usage and reply ids stay the server's own."""

    calls = 0

    def _tool(self, out: Response) -> Response:
        self.calls += 1
        return with_tool_call(out, self.calls)

    def complete(self, draft: Draft) -> Response:
        return self._tool(super().complete(draft))

    async def acomplete(self, draft: Draft) -> Response:
        return self._tool(await super().acomplete(draft))


@pytest.fixture(scope="module")
def long_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("serve") / "llama", "llama",
                            max_positions=WINDOW)


@pytest.fixture
def llm(long_llama: Path) -> LLM:
    """A fresh engine per test: a prefix cache warmed by another test's session would
    serve hits this session's mirror cannot know of."""
    engine = LLM(str(long_llama), num_kv_blocks=2048, block_size=16, max_model_len=WINDOW)
    engine.check_invariants = True
    return engine


@pytest.fixture
def server(llm: LLM) -> Iterator[str]:
    with serving(build_app(llm, served_name="tiny")) as base:
        yield base


def backend(base: str, cls: type[OpenAI] = ToolCallingOpenAI, timeout: float = 600.0
            ) -> OpenAI:
    profile = profile_for("ctxkit-serve").replace(name="tiny", context_window=WINDOW)
    return cls("tiny", base_url=base + "/v1", profile=profile, max_tokens=6,
               params={"temperature": 0}, timeout=timeout)


def pipeline(b: OpenAI, system: str = SYSTEM) -> ContextPipeline:
    return ContextPipeline(b, [Prefix(system=system, tools=[lookup, add]), History()],
                           max_steps=3)


@pytest.mark.moves_prefix("one deliberate drift of the system prompt at call 25")
def test_fifty_calls_through_serve_predicted_exactly(server: str, llm: LLM) -> None:
    b = backend(server)
    pipe = pipeline(b)
    ids = b.render_ids(pipe.assemble("hello"))
    assert ids is not None and llm.tokenizer.decode(ids).startswith("<|im_start|>tools\n")
    records = fifty_calls_with_drift(pipe, SYSTEM)
    assert b.ids_off is None
    assert any(b.kind == "tool_result" for b in pipe.session.transcript)
    assert sum(1 for r in records if r.drift) >= 1
    assert assert_exact(records) >= 40  # the session really ran on the prefix cache
    drifted = next(r for r in records if r.drift)
    assert drifted.drift[0].cause == "timestamp or date-like text"
    # after the drift only the tools (rendered first by the template) stay cached
    assert 0 < drifted.reported.cache_read_tokens < records[drifted.index - 1].reported.input_tokens


def test_arun_awaits_tokenize_and_predicts_exactly(server: str) -> None:
    b = backend(server)
    pipe = pipeline(b)

    async def session() -> None:
        for turn in range(6):
            await pipe.arun(f"turn {turn}: the quick brown fox jumps over the lazy dog")
        await b.aclose()

    asyncio.run(session())
    assert b.ids_off is None
    assert len(pipe.records) >= 6
    assert assert_exact(pipe.records) >= len(pipe.records) - 1  # all but the first hit


def test_without_return_token_ids_the_mirror_misses_the_reply(server: str) -> None:
    """What the reply ids buy: a backend that drops them predicts fewer cached tokens than
    the server reports, and the record says so (the exact test above would catch a server
    that stopped sending them)."""

    class NoReplyIds(ToolCallingOpenAI):
        def _parse(self, raw: dict[str, Any]) -> Response:
            return super()._parse(raw).model_copy(update={"output_ids": None})

    b = backend(server, NoReplyIds)
    pipe = pipeline(b)
    turn = 0
    while len(pipe.records) < 24:
        turn += 1
        pipe.run(f"turn {turn}: hello world, how are you today?")
    short = [r for r in pipe.records
             if r.reported and r.predicted.cache_read_tokens < r.reported.cache_read_tokens]
    assert short and all(r.disagreement for r in short)


def _replace_tokenize(app: Any, route: Any) -> Any:
    app.router.routes[:] = [r for r in app.router.routes
                            if getattr(r, "path", None) != "/tokenize"]
    if route is not None:
        app.add_api_route("/tokenize", route, methods=["POST"])
    return app


async def _garbage() -> dict[str, Any]:
    return {"tokens": "not a list of ids"}


async def _silent() -> dict[str, Any]:
    await asyncio.sleep(4)  # past the client's timeout
    return {"tokens": [1, 2, 3]}


@pytest.mark.parametrize("route", [None, _garbage, _silent],
                         ids=["no-tokenize-route", "bad-answer", "timeout"])
def test_a_server_without_tokenize_falls_back_to_estimates(llm: LLM, route: Any) -> None:
    with serving(_replace_tokenize(build_app(llm, served_name="tiny"), route)) as base:
        # a short timeout: the tiny model answers a chat call in milliseconds
        b = backend(base, OpenAI, timeout=2.0)
        pipe = pipeline(b)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            replies = [pipe.run(f"turn {t}: hello world, how are you today?")
                       for t in range(3)]
    said = [w for w in caught if issubclass(w.category, RuntimeWarning)
            and "/tokenize" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]  # once, not once per call
    assert "estimates" in str(said[0].message)
    assert b.ids_off is not None and "/tokenize" in b.ids_off
    assert all(r.usage is not None and r.usage.input_tokens > 0 for r in replies)
    assert [r.ok for r in pipe.records] == [True, True, True]
    # estimates: block-level predictions with the profile's framing, not the server's ids
    assert all(r.reported is not None for r in pipe.records)
    assert any(r.predicted.input_tokens != r.reported.input_tokens for r in pipe.records)
