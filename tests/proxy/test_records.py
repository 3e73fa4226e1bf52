"""What the proxy records and shows: sessions (header or inferred), drift naming the block
that broke the prefix with one log line per cache killer, keys kept out of every file,
secrets redacted, the live pages, and the opt-in breakpoints."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from ctxkit import load_trace
from ctxkit.proxy import Proxy, ProxyConfig
from tests.backends.fakeserver import FakeServer
from tests.proxy.conftest import ANTHROPIC_KEY, OPENAI_KEY, SYSTEM, ant, get, oai, system_block

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
AWS_KEY = "AKIAABCDEFGHIJKLMNOP"


def converse(client: Any, system: str, turns: list[str], **kw: Any) -> None:
    msgs: list[dict[str, Any]] = []
    for turn in turns:
        msgs.append({"role": "user", "content": turn})
        reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=16,
                                       system=system_block(system), messages=msgs, **kw)
        msgs.append({"role": "assistant", "content": reply.content[0].text})


def test_a_changed_system_prompt_is_one_killer_line_naming_the_block(
        proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    client = ant(proxy)
    msgs = [{"role": "user", "content": "start"}]
    client.messages.create(model="claude-sonnet-4-5", max_tokens=8,
                           system=system_block(SYSTEM + "\nToday is 2026-12-03 10:00."),
                           messages=msgs)
    msgs += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "go on"}]
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=8,
                               system=system_block(SYSTEM + "\nToday is 2026-12-04 10:00."),
                               messages=msgs)
        first, second = proxy.records()
    assert not first.drift and second.session_id == first.session_id
    (d,) = second.drift
    assert (d.layer, d.key, d.cause) == ("system", "system:0", "timestamp or date-like text")
    assert d.detail.startswith("system[0]: ") and "2026-12-03" in d.diff
    assert d.tokens_invalidated == sum(b.tokens for b in first.blocks)
    lines = [r.getMessage() for r in caplog.records if "cache killer" in r.getMessage()]
    assert lines == [f"cache killer: session {second.session_id} call 1: system block "
                     f"system:0 (system[0]): timestamp or date-like text; "
                     f"{d.tokens_invalidated:,} tokens lost"]
    assert "ctxkit_proxy_cache_killers_total 1" in get(proxy, "/metrics").text


def test_token_prefix_caches_lose_only_the_tokens_after_the_change(proxy: Proxy) -> None:
    client = oai(proxy)
    msgs = [{"role": "system", "content": SYSTEM + " Build 2026-12-03."},
            {"role": "user", "content": "hi"}]
    client.chat.completions.create(model="gpt-4o", messages=msgs)
    msgs[0] = {"role": "system", "content": SYSTEM + " Build 2026-12-04."}
    second = client.chat.completions.create(model="gpt-4o", messages=msgs)
    first_rec, rec = proxy.records()
    (d,) = rec.drift
    system_tokens = first_rec.blocks[0].tokens
    # OpenAI keeps serving the unchanged start of the system prompt: only its tail is lost
    assert (d.layer, d.key) == ("system", "msg:0") and 0 < d.tokens_invalidated < 40
    assert second.usage.prompt_tokens_details.cached_tokens >= system_tokens - 200


def test_a_partial_block_hit_on_openai_agrees_and_a_real_miss_disagrees(proxy: Proxy) -> None:
    """OpenAI reports the cached start of a changed system prompt in 128-token steps: the
    record predicts it (no disagreement); the same change under another cache key, where
    the provider has nothing cached, is a disagreement."""
    client = oai(proxy, default_headers={"x-ctxkit-session": "build"})

    def ask(stamp: str, key: str) -> Any:
        return client.chat.completions.create(model="gpt-4o", messages=[
            {"role": "system", "content": SYSTEM + f" Build {stamp}."},
            {"role": "user", "content": "hi"}], extra_body={"prompt_cache_key": key})

    ask("2026-12-03", "a")
    reply = ask("2026-12-04", "a")
    ask("2026-12-05", "b")  # the provider has nothing under this key: a real miss
    _, partial, miss = proxy.records()
    reported = reply.usage.prompt_tokens_details.cached_tokens
    system_tokens = partial.blocks[0].tokens
    assert partial.drift and reported % 128 == 0 and reported >= system_tokens - 200
    assert partial.reported.cache_read_tokens == reported  # type: ignore[union-attr]
    predicted = partial.predicted.cache_read_tokens
    assert predicted >= 1024 and (predicted - 1024) % 128 == 0
    assert abs(predicted - reported) <= 128 and partial.disagreement is None
    assert miss.reported.cache_read_tokens == 0  # type: ignore[union-attr]
    assert miss.predicted.cache_read_tokens >= 1024
    assert miss.disagreement and "cache read predicted" in miss.disagreement


def test_sessions_are_inferred_by_prefix_or_named_by_header(fake: FakeServer,
                                                            proxy: Proxy) -> None:
    client = ant(proxy)
    other = "You are a reviewer. Point out risky changes and missing tests. " * 60
    converse(client, SYSTEM, ["a1"])
    converse(client, other, ["b1"])
    converse(client, SYSTEM, ["a1", "a2"])  # continues the first conversation
    converse(client, SYSTEM, ["c1"])  # same head, another first message: a new conversation
    named = ant(proxy, default_headers={"x-ctxkit-session": "agent-7"})
    converse(named, other, ["n1"])
    recs = proxy.records()
    sessions = [r.session_id for r in recs]
    a, b = sessions[0], sessions[1]
    assert a != b and sessions[2] == a == sessions[3] and sessions[4] not in (a, b)
    assert sessions[5] == "agent-7"  # the header wins over the prefix shared with b
    assert "x-ctxkit-session" not in fake.requests[-1].headers  # ctxkit's own, not upstream's
    assert not any(r.drift for r in recs)
    assert [r.index for r in recs] == [0, 0, 1, 2, 0, 0]
    assert recs[5].extras["session_inferred"] is False and recs[0].extras["session_inferred"]


def test_the_key_is_in_no_file_and_prompt_secrets_are_redacted(
        fake: FakeServer, tmp_path: Path, make_proxy: Callable[..., Proxy],
        caplog: pytest.LogCaptureFixture) -> None:
    proxy = make_proxy(trace=tmp_path / "out" / "trace.jsonl")
    client = ant(proxy)
    secret_system = SYSTEM + f"\nDeploy with aws key {AWS_KEY} and password=hunter2hunter2"
    with caplog.at_level(logging.DEBUG):
        converse(client, secret_system, ["hi"])
        converse(client, secret_system.replace("Deploy", "Ship"), ["hi", "again"])
        fake.reply(text=f"your key is {OPENAI_KEY}")
        oai(proxy).chat.completions.create(model="gpt-4o", messages=[
            {"role": "user", "content": f"my token is {ANTHROPIC_KEY}"}])
        records = proxy.records()
        page = get(proxy, "/ctxkit/").text + \
            get(proxy, "/ctxkit/records").text
    assert ANTHROPIC_KEY in str(fake.requests[0].headers)  # it did pass upstream
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [tmp_path / "out" / "trace.jsonl"]
    logged = "\n".join(r.getMessage() for r in caplog.records
                        if r.name.startswith(("ctxkit", "uvicorn")))
    assert "cache killer" in logged
    texts = [p.read_text() for p in written] + [page, logged]
    for text in texts:
        assert ANTHROPIC_KEY not in text and OPENAI_KEY not in text
        assert AWS_KEY not in text and "hunter2hunter2" not in text
    killer = next(r for r in records if r.drift)
    assert "[REDACTED:aws_key]" in killer.drift[0].diff
    assert records[-1].response is not None and \
        records[-1].response.text == "your key is [REDACTED:api_key]"
    assert len(load_trace(tmp_path / "out" / "trace.jsonl")) == len(records) == 4


def test_tool_call_arguments_are_redacted_string_by_string(
        fake: FakeServer, tmp_path: Path, make_proxy: Callable[..., Proxy]) -> None:
    # the arguments were redacted as one JSON text, where a quoted secret inside a string
    # reads DB_PASSWORD=\"...\": the redactor missed it and it reached the trace and the
    # live pages; a redacted call's arguments also became {"_redacted": "<json text>"}
    proxy = make_proxy(trace=tmp_path / "trace.jsonl")
    fake.reply(tool_calls=[{"name": "bash", "arguments": {
        "cmd": 'export DB_PASSWORD="s3cr3tValue9x" && ./migrate', "timeout": 30}}])
    reply = ant(proxy).messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                       messages=[{"role": "user", "content": "migrate"}])
    assert "s3cr3tValue9x" in reply.content[0].input["cmd"]  # the client gets it as sent
    (record,) = proxy.records()
    assert record.response is not None
    (call,) = record.response.tool_calls
    assert call.name == "bash" and call.arguments["timeout"] == 30
    assert call.arguments["cmd"].startswith("export DB_PASSWORD=") and \
        "[REDACTED:" in call.arguments["cmd"]
    for text in ((tmp_path / "trace.jsonl").read_text(), get(proxy, "/ctxkit/records").text):
        assert "s3cr3tValue9x" not in text


def test_live_pages(proxy: Proxy) -> None:
    converse(ant(proxy), SYSTEM, ["one"])
    converse(ant(proxy), SYSTEM + " Now 2026-12-04.", ["one", "two"])
    html = get(proxy, "/ctxkit/")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    (killer,) = [d for r in proxy.records() for d in r.drift]
    assert killer.layer == "system"
    assert "<meta http-equiv=refresh" in html.text and killer.cause in html.text
    assert "Cache misses (prefix drift)" in html.text
    data = get(proxy, "/ctxkit/records").json()
    assert data["num_records"] == 3 and data["num_sessions"] == 1
    sid = data["records"][0]["session_id"]
    assert get(proxy, f"/ctxkit/records?session={sid}").json()["num_records"] == 3
    assert get(proxy, "/ctxkit/records?session=nope").json()["num_records"] == 0
    metrics = get(proxy, "/metrics").text
    recs = proxy.records()
    read = sum(r.usage.cache_read_tokens for r in recs)
    assert f'ctxkit_proxy_tokens_total{{state="read"}} {read}' in metrics
    assert 'ctxkit_proxy_calls_total{api="anthropic",status="200"} 3' in metrics
    assert f"ctxkit_proxy_cost_usd_total {sum(r.cost_usd for r in recs):.6f}" in metrics
    assert get(proxy, "/ctxkit/nothing").status_code == 404


def test_place_breakpoints_adds_them_only_when_asked(
        fake: FakeServer, make_proxy: Callable[..., Proxy]) -> None:
    plain = {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": SYSTEM,
             "messages": [{"role": "user", "content": "hi"}]}
    raw = json.dumps(plain).encode()
    headers = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
    untouched = make_proxy()
    httpx.post(untouched.url + "/v1/messages", content=raw, headers=headers)
    assert fake.requests[-1].raw == raw and untouched.records()[0].extras["changed"] is None
    fixing = make_proxy(place_breakpoints=True)
    for turn in ("again", "and again"):
        httpx.post(fixing.url + "/v1/messages", content=raw, headers=headers)
        plain["messages"] += [{"role": "assistant", "content": "ok"},
                              {"role": "user", "content": turn}]
        raw = json.dumps(plain).encode()
    assert not fake.violations
    sent = fake.requests[-1].body
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent["messages"][-1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    first, second = fixing.records()
    assert first.extras["changed"].startswith("added cache_control breakpoints at system")
    assert second.reported is not None and second.reported.cache_read_tokens > 0
    # a request that already places its own breakpoints is left alone
    marked = json.dumps({**plain, "system": system_block()}).encode()
    httpx.post(fixing.url + "/v1/messages", content=marked, headers=headers)
    assert fake.requests[-1].raw == marked


def test_binding_beyond_loopback_warns(fake: FakeServer,
                                       caplog: pytest.LogCaptureFixture) -> None:
    assert ProxyConfig(host="127.0.0.1").is_loopback and ProxyConfig(host="::1").is_loopback
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        with Proxy(ProxyConfig(upstream=fake.url, host="0.0.0.0", port=0)):
            pass
    assert "listens on 0.0.0.0, reachable from other machines" in caplog.text


def test_bad_settings_say_what_to_do() -> None:
    from ctxkit import UserError

    with pytest.raises(UserError, match="use anthropic, openai or a URL"):
        ProxyConfig(upstream="ftp://x")
    with pytest.raises(UserError, match="max_body_bytes must be > 0"):
        ProxyConfig(max_body_bytes=0)
    assert ProxyConfig(upstream="http://127.0.0.1:8000/v1/").upstream_url == \
        "http://127.0.0.1:8000"


def test_calls_are_analysed_in_arrival_order_when_a_later_one_answers_first(
        fake: FakeServer, proxy: Proxy) -> None:
    """The recorder starts on a request only once its reply's first bytes are out; a call
    whose reply comes later than the next call's must still be analysed first, or the
    session would see its prompts out of order (false drift)."""
    import threading

    from tests.backends.fakeserver import Fault

    client = ant(proxy, default_headers={"x-ctxkit-session": "order"})
    first = [{"role": "user", "content": "start"}]
    fake.inject(Fault("stall", after=0, delay=1.5))  # the first stream's events wait
    streamed: list[Any] = []

    def slow() -> None:
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=8,
                                    system=system_block(), messages=first) as s:
            streamed.append(s.get_final_message())

    t = threading.Thread(target=slow)
    t.start()
    for _ in range(500):
        if fake.requests:
            break
        threading.Event().wait(0.01)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=8, system=system_block(),
                           messages=[*first, {"role": "assistant", "content": "ok"},
                                     {"role": "user", "content": "next"}])
    t.join(30)
    assert streamed
    later_first, earlier = proxy.records()  # recorded as their replies ended
    assert earlier.extras["stream"] is True and later_first.extras["stream"] is False
    assert (earlier.index, later_first.index) == (0, 1)
    assert not earlier.drift and not later_first.drift
