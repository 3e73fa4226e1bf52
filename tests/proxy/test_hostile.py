"""The proxy against hostile peers: an upstream that answers 200 with a body or stream not
in its API's shape, and clients that send bodies of the wrong shape. Each call still
leaves a record saying what could not be read, with no traceback in the proxy's log, and
/metrics counts it."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2 as httpx
import pytest

from ctxkit import UserError
from ctxkit.proxy import Proxy, ProxyConfig
from tests.proxy.conftest import ant, get, oai

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
ASK = [{"role": "user", "content": "hello"}]
USAGE = {"input_tokens": 12, "output_tokens": 3}


class RawUpstream:
    """A loopback server answering each POST with the next queued (status, type, body)."""

    def __init__(self) -> None:
        self.replies: deque[tuple[Any, ...]] = deque()
        self.paths: list[str] = []  # each request's target, as received
        self.bodies: list[bytes] = []  # and its body
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                owner.paths.append(self.path)
                owner.bodies.append(self.rfile.read(int(self.headers.get("content-length")
                                                        or 0)))
                status, ctype, body, *more = owner.replies.popleft() if owner.replies \
                    else (200, "application/json", json.dumps(_message(USAGE)).encode())
                headers, send = more if more else ({}, len(body))  # send < len: cut there
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body[:send])
                if send < len(body):
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def json(self, payload: Any) -> None:
        self.replies.append((200, "application/json", json.dumps(payload).encode()))

    def sse(self, *events: Any) -> None:
        body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
        self.replies.append((200, "text/event-stream", body))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _message(usage: Any, content: Any = None) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "stop_reason": "end_turn", "usage": usage,
            "content": [{"type": "text", "text": "ok"}] if content is None else content}


@pytest.fixture
def upstream() -> Iterator[RawUpstream]:
    up = RawUpstream()
    yield up
    up.close()


@pytest.fixture
def hostile_proxy(upstream: RawUpstream) -> Iterator[Proxy]:
    with Proxy(ProxyConfig(upstream=upstream.url, port=0)) as proxy:
        yield proxy


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    failed = [r for r in caplog.records if r.name == "ctxkit.proxy" and (
              r.exc_info or "recording a call failed" in r.getMessage())]
    assert failed == [], failed[0].getMessage()


# each: a 200 JSON body the SDKs hand over without checking, but not in the API's shape
BAD_MESSAGES = {
    "usage counts in a list": _message({"input_tokens": [12], "output_tokens": 3}),
    "usage a string": _message("twelve"),
    "content of numbers": _message(USAGE, [1, 2]),
    "tool_use without id or name": _message(USAGE, [{"type": "tool_use", "input": {}}]),
    "cache_creation a list": _message({**USAGE, "cache_creation": [5]}),
}


@pytest.mark.parametrize("payload", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
def test_a_200_reply_not_in_the_api_shape_is_still_recorded(
        upstream: RawUpstream, hostile_proxy: Proxy, caplog: pytest.LogCaptureFixture,
        payload: dict[str, Any]) -> None:
    # once the parser's TypeError/AttributeError/KeyError escaped the recorder: the call
    # left no record, /metrics never counted it and the log got a traceback
    upstream.json(payload)
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        ant(hostile_proxy).messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=8, messages=ASK)
        (record,) = hostile_proxy.records()
    assert record.extras["status"] == 200 and record.reported is None
    assert record.extras["reply_note"].startswith("the reply could not be read: ")
    assert record.predicted.input_tokens > 0  # the request was still analysed
    assert 'ctxkit_proxy_calls_total{api="anthropic",status="200"} 1' in \
        get(hostile_proxy, "/metrics").text
    _no_traceback(caplog)


@pytest.mark.parametrize("count", ["1e400", "1" + "0" * 400])
def test_a_token_count_past_any_range_in_usage_is_a_reply_note(
        upstream: RawUpstream, hostile_proxy: Proxy, caplog: pytest.LogCaptureFixture,
        count: str) -> None:
    # 1e400 reads as float infinity (int() raised OverflowError, not ValueError); 10**400
    # read as an int and then overflowed the cost's float multiplication
    upstream.replies.append((200, "application/json", json.dumps(_message(USAGE)).replace(
        '"input_tokens": 12', f'"input_tokens": {count}').encode()))
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        r = httpx.post(hostile_proxy.url + "/v1/messages", timeout=30, json={
            "model": "claude-sonnet-4-5", "max_tokens": 8, "messages": ASK})
        (record,) = hostile_proxy.records()
    assert r.status_code == 200 and count.encode() in r.content  # the client gets it as is
    note = record.extras["reply_note"]
    assert note.startswith("the reply could not be read: ")
    assert "OverflowError" in note or "more than any model reads" in note
    assert record.reported is None and record.cost_usd < 1
    assert "ctxkit_proxy_cost_usd_total 0.0" in get(hostile_proxy, "/metrics").text
    _no_traceback(caplog)


STREAMS: dict[str, tuple[str, list[Any]]] = {
    "anthropic usage a string": ("messages", [
        {"type": "message_start", "message": _message(USAGE, [])},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": "many"},
        {"type": "message_stop"}]),
    "anthropic message a number": ("messages", [{"type": "message_start", "message": 5}]),
    "anthropic error event a string": ("messages", [
        {"type": "message_start", "message": _message(USAGE, [])},
        {"type": "error", "error": "overloaded"}]),
    "chat choices a number": ("chat", [{"id": "c", "choices": 5}]),
    "chat tool call a number": ("chat", [{"id": "c", "choices": [{
        "index": 0, "delta": {"tool_calls": [5]}, "finish_reason": "tool_calls"}]}]),
    "responses output of numbers": ("responses", [{"type": "response.completed", "response": {
        "output": [5], "usage": {"input_tokens": [1]}}}]),
}


@pytest.mark.parametrize(("route", "events"), STREAMS.values(), ids=STREAMS.keys())
def test_a_stream_not_in_the_api_shape_is_still_recorded(
        upstream: RawUpstream, hostile_proxy: Proxy, caplog: pytest.LogCaptureFixture,
        route: str, events: list[Any]) -> None:
    upstream.sse(*events)
    path, model = {"messages": ("/v1/messages", "claude-sonnet-4-5"),
                   "chat": ("/v1/chat/completions", "gpt-4o"),
                   "responses": ("/v1/responses", "gpt-4o")}[route]
    body: dict[str, Any] = {"model": model, "stream": True, "max_tokens": 8}
    body["input" if route == "responses" else "messages"] = ASK
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        r = httpx.post(hostile_proxy.url + path, json=body, timeout=30)
        (record,) = hostile_proxy.records()
    assert r.status_code == 200 and r.content.count(b"data: ") == len(events)
    assert record.extras["stream"] is True and record.reported is None
    assert record.extras["reply_note"]
    _no_traceback(caplog)


# each: a request body upstream may well refuse, but the proxy must read it without a crash
BAD_REQUESTS: dict[str, tuple[str, dict[str, Any] | bytes]] = {
    "anthropic messages a number": ("/v1/messages", {
        "model": "claude-sonnet-4-5", "max_tokens": 8, "messages": 5}),
    "chat tool call a number": ("/v1/chat/completions", {"model": "gpt-4o", "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [5]}]}),
    "responses reasoning summary a number": ("/v1/responses", {
        "model": "gpt-4o", "input": [{"type": "reasoning", "summary": 5}]}),
    "JSON nested 100,000 deep": ("/v1/messages", b'{"model": "claude-sonnet-4-5", '
                                 b'"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
}


@pytest.mark.parametrize(("path", "body"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_a_request_body_of_the_wrong_shape_is_recorded_with_the_reason(
        upstream: RawUpstream, hostile_proxy: Proxy, caplog: pytest.LogCaptureFixture,
        path: str, body: dict[str, Any] | bytes) -> None:
    # once a TypeError/AttributeError/RecursionError from the request reader went to the
    # log as a traceback and the record said nothing of why the call was 'unparsed'
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        r = httpx.post(hostile_proxy.url + path, content=raw, timeout=30,
                       headers={"content-type": "application/json"})
        (record,) = hostile_proxy.records()
    assert r.status_code == 200  # forwarded as is; the fake upstream answers anything
    assert record.session_id == "unparsed"
    assert (record.error or "").startswith("the request body could not be read: ")
    _no_traceback(caplog)


def test_the_real_clients_wrong_types_are_recorded_and_the_next_call_is_read(
        upstream: RawUpstream, hostile_proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    upstream.json({"id": "c", "object": "chat.completion", "model": "gpt-4o", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"},
         "finish_reason": "stop"}], "usage": {"prompt_tokens": 9, "completion_tokens": 1}})
    upstream.json(_message(USAGE))
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        oai(hostile_proxy).chat.completions.create(model="gpt-4o", messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [5]}])  # type: ignore[list-item]
        ant(hostile_proxy).messages.create(model="claude-sonnet-4-5", max_tokens=8,
                                           messages=ASK)
        bad, good = hostile_proxy.records()
    assert bad.session_id == "unparsed" and "could not be read" in (bad.error or "")
    assert good.session_id != "unparsed" and good.reported is not None
    _no_traceback(caplog)


def test_a_cache_killer_line_cannot_be_forged_or_colour_the_terminal(
        upstream: RawUpstream, hostile_proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    # the line names the changed item, and a tool's name is the client's text: a newline in
    # it once started a forged log line and an ESC sequence reached the terminal
    evil = "grep\n12:00:00 ctxkit proxy: forwarding to https://evil.example\x1b[2J\x9b31m"
    system = "You are a careful coding agent. " * 20
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        for description in ("search files", "search the files"):
            ant(hostile_proxy).messages.create(
                model="claude-sonnet-4-5", max_tokens=8, system=system, messages=ASK,
                tools=[{"name": evil, "description": description,
                        "input_schema": {"type": "object", "properties": {}}}])
        first, second = hostile_proxy.records()
    (line,) = [r.getMessage() for r in caplog.records if "cache killer" in r.getMessage()]
    assert second.drift and second.session_id == first.session_id
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in line), repr(line)
    assert "grep\\n12:00:00 ctxkit proxy: forwarding" in line  # shown, escaped
    assert "\\x1b[2J" in line and "\\x9b31m" in line


def test_a_reply_longer_than_the_record_keeps_streams_whole_and_its_usage(
        upstream: RawUpstream) -> None:
    # every byte of a reply was kept for the recorder until the reply ended: a stream that
    # never ends (or a huge one) grew the proxy's memory without bound. Past the limit only
    # the start and the end are kept; the client still gets every byte
    delta = {"type": "content_block_delta", "index": 0,
             "delta": {"type": "text_delta", "text": "x" * 4000}}
    events = [{"type": "message_start", "message": _message(USAGE, [])},
              {"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}},
              *[delta] * 2000,  # 8 MB
              {"type": "content_block_stop", "index": 0},
              {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
               "usage": {"output_tokens": 2_000_000}},
              {"type": "message_stop"}]
    upstream.sse(*events)
    with Proxy(ProxyConfig(upstream=upstream.url, port=0, max_record_bytes=1 << 20)) as proxy:
        body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "stream": True, "messages": ASK}
        with httpx.stream("POST", proxy.url + "/v1/messages", json=body, timeout=60) as r:
            got = sum(len(c) for c in r.iter_raw())
        (record,) = proxy.records()
    assert got == len(upstream_body(events))
    assert record.reported is not None and record.reported.output_tokens == 2_000_000
    assert record.reported.input_tokens == USAGE["input_tokens"]  # from message_start
    note = record.extras["reply_note"]
    assert "not kept" in note and f"{got:,}" in note
    assert record.extras["reply_bytes_dropped"] > got - (2 << 20)  # limit + a chunk each end


def upstream_body(events: list[Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


def test_max_record_bytes_is_checked() -> None:
    with pytest.raises(UserError, match="max_record_bytes"):
        ProxyConfig(max_record_bytes=0)


@pytest.mark.parametrize("path", [
    "/v1/files/a%2Fb/content", "/v1/files/a%3Fpurpose=x", "/v1/files/a%23b",
    "/v1/files/..%2F..%2F..%2Fadmin", "/v1/files/caf%C3%A9?q=a%20b"])
def test_a_path_goes_upstream_as_the_client_sent_it(upstream: RawUpstream, path: str) -> None:
    # the proxy forwarded the percent-decoded path: %2F became a separator, %3F started a
    # query, %23 cut the path short, and ..%2F climbed out of the upstream's base path
    with Proxy(ProxyConfig(upstream=upstream.url + "/api", port=0)) as proxy:
        r = httpx.post(proxy.url + path, content=b"{}", timeout=30)
    assert r.status_code == 200
    assert upstream.paths == ["/api" + path]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
@pytest.mark.parametrize("how", ["cut", "corrupt"])
def test_a_compressed_reply_cut_short_or_corrupt_is_still_recorded(
        upstream: RawUpstream, hostile_proxy: Proxy, caplog: pytest.LogCaptureFixture,
        encoding: str, how: str) -> None:
    # the SDKs ask for gzip: a compressed body cut mid-way (upstream or the client went
    # away) or corrupt raised zlib.error / ZstdError, which the recorder did not catch, so
    # the call left no record and the log a traceback
    import zlib

    import zstandard

    raw = json.dumps(_message(USAGE, [{"type": "text", "text": "word " * 4000}])).encode()
    packed = {"gzip": lambda b: zlib.compress(b, wbits=16 + zlib.MAX_WBITS),
              "deflate": zlib.compress,
              "zstd": lambda b: zstandard.ZstdCompressor().compress(b)}[encoding](raw)
    if how == "corrupt":
        packed = packed[:10] + bytes(b ^ 0x5A for b in packed[10:])
    upstream.replies.append((200, "application/json", packed, {"content-encoding": encoding},
                             len(packed) // 2 if how == "cut" else len(packed)))
    with caplog.at_level(logging.WARNING, logger="ctxkit.proxy"):
        try:
            httpx.post(hostile_proxy.url + "/v1/messages", timeout=30, json={
                "model": "claude-sonnet-4-5", "max_tokens": 8, "messages": ASK})
        except httpx.HTTPError:
            pass  # cut: the client sees the connection end early, as it should
        (record,) = hostile_proxy.records()
    assert record.reported is None and record.extras["reply_note"]
    if how == "cut":
        assert "upstream connection broke mid-reply" in (record.error or "")
    _no_traceback(caplog)


BIG = "You are a careful coding agent. Read before you write. " * 200
ODD_FOR_BREAKPOINTS = {
    "a message a number": [5, {"role": "user", "content": "hi"}],
    "system a list of strings": None,
    "content a list holding a string": [{"role": "user", "content": ["hi " * 2000]}],
    "a message without content": [{"role": "user"}],
}


@pytest.mark.parametrize("messages", ODD_FOR_BREAKPOINTS.values(),
                         ids=ODD_FOR_BREAKPOINTS.keys())
def test_place_breakpoints_forwards_a_body_it_cannot_mark_unchanged(
        upstream: RawUpstream, messages: Any) -> None:
    # --place-breakpoints read the body on the request's path: a shape it did not expect
    # raised there, so the client got a plain-text 500 from the proxy and upstream (whose
    # 400 would have said what is wrong) never saw the request
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": BIG,
                            "messages": messages}
    if messages is None:
        body.update(system=[BIG], messages=ASK)
    raw = json.dumps(body).encode()
    with Proxy(ProxyConfig(upstream=upstream.url, port=0, place_breakpoints=True)) as proxy:
        r = httpx.post(proxy.url + "/v1/messages", content=raw, timeout=30,
                       headers={"content-type": "application/json"})
        (record,) = proxy.records()
    assert r.status_code == 200 and r.json()["type"] == "message"
    assert upstream.bodies == [raw]  # as sent: the one change could not be made
    assert record.extras["changed"] is None


def test_place_breakpoints_still_marks_a_body_it_can_read(upstream: RawUpstream) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": BIG, "messages": ASK}
    with Proxy(ProxyConfig(upstream=upstream.url, port=0, place_breakpoints=True)) as proxy:
        httpx.post(proxy.url + "/v1/messages", json=body, timeout=30)
        (record,) = proxy.records()
    assert b'"cache_control"' in upstream.bodies[0]
    assert record.extras["changed"].startswith("added cache_control breakpoints at system")


def test_place_breakpoints_forwards_json_nested_past_the_recursion_limit(
        upstream: RawUpstream) -> None:
    raw = b'{"model": "claude-sonnet-4-5", "messages": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}"
    with Proxy(ProxyConfig(upstream=upstream.url, port=0, place_breakpoints=True)) as proxy:
        r = httpx.post(proxy.url + "/v1/messages", content=raw, timeout=30)
    assert r.status_code == 200 and upstream.bodies == [raw]


def test_an_unknown_profile_is_refused_at_start_not_at_every_call(
        upstream: RawUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    # --profile with a typo (gpt4o) started the proxy, and then every call's record was 'unparsed'
    # with "the request body could not be read: no profile for model ..."
    with pytest.raises(UserError, match="no profile for model 'gpt4o'"):
        ProxyConfig(upstream=upstream.url, profile="gpt4o")
    from ctxkit.cli import main

    assert main(["proxy", "--upstream", upstream.url, "--port", "0",
                 "--profile", "gpt4o"]) != 0
    assert "no profile for model 'gpt4o'" in capsys.readouterr().err
    assert ProxyConfig(upstream=upstream.url, profile="claude-sonnet-4-5").profile


@pytest.mark.parametrize("field", ["connect_timeout_s", "read_timeout_s", "body_timeout_s"])
def test_a_nan_timeout_is_refused_when_the_config_is_built(field: str) -> None:
    # NaN <= 0 is False: the config took it, and every request then failed in the proxy
    # with "deadline must not be NaN" (a plain-text 500)
    with pytest.raises(UserError, match=f"{field} must be"):
        ProxyConfig(**{field: float("nan")})
    assert getattr(ProxyConfig(**{field: float("inf")}), field) == float("inf")  # no limit


def test_a_trace_path_that_cannot_be_written_is_refused_at_start(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # a directory for a file's parent was a FileNotFoundError/NotADirectoryError traceback,
    # and a trace path that is a directory started the proxy, whose recorder then failed on
    # every call: no record in the live pages, /metrics never counting, a traceback each
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for trace in (blocker / "t.jsonl", tmp_path):
        with pytest.raises(UserError, match=f"cannot write the trace {trace}"):
            ProxyConfig(trace=trace)
    from ctxkit.cli import main

    assert main(["proxy", "--port", "0", "--trace", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot write the trace" in err and "Traceback" not in err
    kept = tmp_path / "old.jsonl"
    kept.write_text('{"earlier": "record"}\n')
    ProxyConfig(trace=kept)
    assert kept.read_text() == '{"earlier": "record"}\n'  # appended to, never truncated
