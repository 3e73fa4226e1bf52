"""The real OpenAI Agents SDK against the loopback fake OpenAI server: ctxkit's input filter
lays out and records each model call of a tool loop, and the conversation lives in ctxkit's
memory store through ``MemorySession``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

agents = pytest.importorskip("agents", reason="pip install 'ctxkit[openai-agents]'")
pytest.importorskip("sqlalchemy", reason="pip install 'ctxkit[memory]'")

from openai import AsyncOpenAI  # noqa: E402

from ctxkit import load_trace  # noqa: E402
from ctxkit.integrations.openai_agents import ContextFilter, MemorySession  # noqa: E402
from ctxkit.memory import HashingEmbedder, MemoryStore, Scope  # noqa: E402
from tests.backends.fakeserver import FakeServer  # noqa: E402

INSTRUCTIONS = "You are a careful coding agent. Read before you write. " * 60


async def converse(fake: FakeServer, agent_kw: dict[str, Any], flt: ContextFilter,
                   session: Any, turns: list[str]) -> list[Any]:
    """Run the agent once per turn, in one event loop (the client's pool lives in it)."""
    client = AsyncOpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    model = agents.OpenAIResponsesModel(model="gpt-4.1", openai_client=client)
    agent = agents.Agent(name="coder", model=model, **agent_kw)
    cfg = agents.RunConfig(call_model_input_filter=flt, tracing_disabled=True)
    out = []
    for text in turns:
        out.append(await agents.Runner.run(agent, text, run_config=cfg, hooks=flt.hooks,
                                           session=session))
    await client.close()
    return out


@agents.function_tool
def grep(pattern: str) -> str:
    """Search the repository."""
    return f"\x1b[1msrc/parse.py\x1b[0m:3: {pattern} at 2026-12-04 10:11:12"


def test_tool_loop_is_recorded_and_the_session_lives_in_memory(tmp_path: Path) -> None:
    store = MemoryStore(f"sqlite:///{tmp_path / 'mem.db'}", vectors=tmp_path / "vec",
                        embedder=HashingEmbedder(64))
    scope = Scope(tenant="acme", user="u1", session="s42")
    with FakeServer() as fake:
        flt = ContextFilter(model="gpt-4.1", trace=str(tmp_path / "agent.jsonl"))
        session = MemorySession(store, scope)
        fake.reply(tool_calls=[{"name": "grep", "arguments": {"pattern": "parse"}}])
        fake.reply(text="found it in src/parse.py")
        fake.reply(text="yes, line 3")
        first, second = asyncio.run(converse(
            fake, {"tools": [grep], "instructions": INSTRUCTIONS + "Today is 2026-12-04."},
            flt, session, ["where is parse defined?", "is it on line 3?"]))
        assert first.final_output == "found it in src/parse.py"
        assert second.final_output == "yes, line 3"
        sent = fake.bodies("/v1/responses")
    assert not fake.violations
    # the layout: the date left the instructions, so all three calls share them byte for byte
    (instructions,) = {b["instructions"] for b in sent}
    assert instructions.startswith(INSTRUCTIONS) and "2026-12-04" not in instructions
    assert sent[0]["input"][-1]["content"] == "(current values: Today, 2026-12-04)"
    # the tool output went out canonical: no terminal escapes, no timestamp
    outputs = [i for i in sent[1]["input"] if i.get("type") == "function_call_output"]
    assert outputs and "\x1b" not in outputs[0]["output"]
    assert "2026-12-04 10:11:12" not in outputs[0]["output"]
    # the second run saw the first run's conversation, read back from the memory store
    texts = [str(i.get("content")) for i in sent[2]["input"]]
    assert "where is parse defined?" in texts and "is it on line 3?" in texts
    records = flt.records
    assert len(records) == 3 and len({r.session_id for r in records}) == 1
    assert [r.index for r in records] == [0, 1, 2]
    assert all(r.reported is not None for r in records)
    assert [r.reported.input_tokens for r in records] == \
        [a["usage"]["input_tokens"] for a in fake.answers]  # type: ignore[union-attr]
    assert [r.reported.cache_read_tokens for r in records] == [  # type: ignore[union-attr]
        a["usage"]["input_tokens_details"]["cached_tokens"] for a in fake.answers]
    # the one break each call makes is the per-call values item at the very end, which the
    # next call's new items push along: its own few tokens, never the cached head
    for r in records:
        for d in r.drift:
            assert d.layer == "user" and d.tokens_invalidated < 20, d
    assert len(load_trace(tmp_path / "agent.jsonl")) == 3
    items = asyncio.run(session.get_items())
    assert [i.get("content") for i in items if i.get("role") == "user"] == \
        ["where is parse defined?", "is it on line 3?"]
    stored = store.list(scope, session="s42")
    tool_recs = [r for r in stored if r.source == "tool"]
    assert tool_recs and all(r.trust == "untrusted" for r in tool_recs)
    popped = asyncio.run(session.pop_item())
    assert popped == items[-1] and asyncio.run(session.get_items()) == items[:-1]
    asyncio.run(session.clear_session())
    assert asyncio.run(session.get_items()) == []
    flt.close()
    store.close()


def test_a_model_call_that_failed_does_not_take_the_next_calls_reply(tmp_path: Path) -> None:
    # the filter queued each call per agent name and on_llm_end took the oldest: after one
    # call that raised (no on_llm_end), every later reply was recorded against the call
    # before it and the last call stayed open, so flt.records waited out its timeout
    from tests.backends.fakeserver import Fault

    async def run(fake: FakeServer, flt: ContextFilter) -> Any:
        client = AsyncOpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
        model = agents.OpenAIResponsesModel(model="gpt-4.1", openai_client=client)
        agent = agents.Agent(name="coder", model=model, instructions=INSTRUCTIONS)
        cfg = agents.RunConfig(call_model_input_filter=flt, tracing_disabled=True)
        with pytest.raises(Exception, match="429|rate"):
            await agents.Runner.run(agent, "first try", run_config=cfg, hooks=flt.hooks)
        out = await agents.Runner.run(agent, "second try, a longer message to tell it apart",
                                      run_config=cfg, hooks=flt.hooks)
        await client.close()
        return out

    with FakeServer() as fake:
        fake.inject(Fault("status", status=429))  # takes the first reply with it
        fake.reply(text="ok")
        fake.reply(text="done")
        flt = ContextFilter(model="gpt-4.1", trace=str(tmp_path / "agent.jsonl"))
        import gc

        out = asyncio.run(run(fake, flt))
        gc.collect()  # the failed run's context is gone: its call is closed as failed
        assert out.final_output == "done"
        assert flt.recorder.wait_idle(5)  # nothing left open
        failed, done = sorted(flt.records, key=lambda r: r.started_at)
    assert not failed.ok and "no reply" in (failed.error or "")
    assert done.ok and done.reported is not None
    assert done.reported.input_tokens == fake.answers[-1]["usage"]["input_tokens"]
    assert any("second try" in b.key or b.layer == "user" for b in done.blocks)
    assert done.predicted.input_tokens > failed.predicted.input_tokens  # its own request


def test_memory_session_redacts_secrets_quoted_inside_items(tmp_path: Path) -> None:
    # items were stored as JSON text, where a quoted secret reads \"password\": \"...\":
    # the redactor, which reads text as written, found nothing and the secret was stored
    store = MemoryStore(f"sqlite:///{tmp_path / 'mem.db'}", vectors=tmp_path / "vec",
                        embedder=HashingEmbedder(64))
    session = MemorySession(store, Scope(tenant="acme", user="u1", session="s1"))
    secrets = ["hunter2hunter2", "s3cr3tValue9x"]
    items = [{"role": "user", "content": 'the config is {"password": "hunter2hunter2"}'},
             {"type": "function_call_output", "call_id": "c1",
              "output": 'DB_PASSWORD="s3cr3tValue9x" ./migrate'}]
    asyncio.run(session.add_items(items))
    got = asyncio.run(session.get_items())
    store.close()
    assert [i.get("role") or i.get("type") for i in got] == ["user", "function_call_output"]
    assert "[REDACTED:" in got[0]["content"] and "[REDACTED:" in got[1]["output"]
    data = (tmp_path / "mem.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("mem.db*") if p.is_file())
    for secret in secrets:
        assert secret not in json.dumps(got) and secret.encode() not in data


def test_memory_session_keeps_a_huge_tool_output_as_its_head_and_tail(tmp_path: Path) -> None:
    # an item over the store's max_content (200,000 characters) made add_items raise, so a
    # run whose tool printed a large file failed once the model had answered; and items
    # were JSON with ensure_ascii, so 50,000 characters of CJK text (300,000 escaped) did too
    store = MemoryStore(f"sqlite:///{tmp_path / 'mem.db'}", vectors=tmp_path / "vec",
                        embedder=HashingEmbedder(64))
    session = MemorySession(store, Scope(tenant="acme", user="u1", session="s1"))
    log = "".join(f"line {i}: ok\n" for i in range(30_000))  # ~380,000 characters
    cjk = "日志条目正常" * 10_000
    asyncio.run(session.add_items([
        {"role": "user", "content": "run the tests"},
        {"type": "function_call_output", "call_id": "c1", "output": log},
        {"type": "function_call_output", "call_id": "c2", "output": cjk}]))
    user, big, wide = asyncio.run(session.get_items())
    store.close()
    assert user == {"role": "user", "content": "run the tests"}
    assert wide["output"] == cjk  # whole: stored as UTF-8 text, not \\u escapes
    out = big["output"]
    assert big["call_id"] == "c1" and len(out) < 200_000
    assert out.startswith("line 0: ok\n") and out.endswith("line 29999: ok\n")
    assert "characters of this tool output omitted" in out


def test_memory_session_stores_a_tool_output_holding_a_lone_surrogate(tmp_path: Path) -> None:
    store = MemoryStore(f"sqlite:///{tmp_path / 'mem.db'}", vectors=tmp_path / "vec",
                        embedder=HashingEmbedder(64))
    session = MemorySession(store, Scope(tenant="acme", user="u1", session="s1"))
    raw = b"caf\xe9 ok".decode("utf-8", "surrogateescape")  # a Latin-1 byte from a tool
    item = {"type": "function_call_output", "call_id": "c1", "output": raw}
    asyncio.run(session.add_items([item]))
    assert asyncio.run(session.get_items()) == [item]
    store.close()


def test_a_filter_run_without_its_hooks_says_so_and_does_not_hang(tmp_path: Path) -> None:
    # without hooks=flt.hooks no call ever got its reply: flt.records waited out its 10 s
    # each time and came back empty, with nothing saying why
    async def run(fake: FakeServer, flt: ContextFilter) -> Any:
        client = AsyncOpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
        model = agents.OpenAIResponsesModel(model="gpt-4.1", openai_client=client)
        agent = agents.Agent(name="coder", model=model, instructions=INSTRUCTIONS)
        cfg = agents.RunConfig(call_model_input_filter=flt, tracing_disabled=True)
        out = await agents.Runner.run(agent, "hello", run_config=cfg)  # no hooks
        await client.close()
        return out

    with FakeServer() as fake:
        flt = ContextFilter(model="gpt-4.1")
        assert asyncio.run(run(fake, flt)).final_output == "ok"
        with pytest.warns(UserWarning, match="hooks=flt.hooks"):
            (record,) = flt.records
    assert not record.ok and "hooks=flt.hooks" in (record.error or "")
    assert record.predicted.input_tokens > 0  # the request is still analysed
    assert flt.recorder.wait_idle(0.5)
