"""``ctxkit serve`` under bad and hostile input: bounded numbers, one bad request failing
only itself, request-size limits with /health still answering and bounded memory, API-key
auth, requests whose client has gone, count_tokens, and each protocol's error shape."""

from __future__ import annotations

import gc
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="ctxkit serve needs: pip install 'ctxkit[engine]'")
pytest.importorskip("uvicorn", reason="ctxkit serve needs: pip install 'ctxkit[engine]'")
openai = pytest.importorskip("openai", reason="pip install openai")
anthropic = pytest.importorskip("anthropic", reason="pip install anthropic")

from ctxkit.engine import LLM  # noqa: E402
from ctxkit.engine.serve.server import build_app  # noqa: E402

from .serve_helpers import open_request, raw_post, rss_bytes, serving  # noqa: E402

MIB = 1 << 20


@pytest.fixture(scope="module")
def server(llama_path: Path) -> Iterator[tuple[str, LLM]]:
    llm = LLM(str(llama_path), num_kv_blocks=256, block_size=8)
    llm.check_invariants = True
    with serving(build_app(llm, served_name="tiny")) as base:
        yield base, llm


def oai(base: str, key: str = "unused") -> Any:
    return openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)


def ant(base: str, key: str = "unused") -> Any:
    return anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)


def post(base: str, path: str, body: Any, headers: dict[str, str] | None = None
         ) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={
        "content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def is_openai_error(body: Any) -> bool:
    return isinstance(body, dict) and set(body) == {"error"} and \
        isinstance(body["error"].get("message"), str) and "type" in body["error"]


def is_anthropic_error(body: Any) -> bool:
    return isinstance(body, dict) and body.get("type") == "error" and \
        isinstance(body["error"].get("message"), str) and "type" in body["error"]


HELLO = [{"role": "user", "content": "hello world"}]


# -- 5: numbers out of range, and one bad request among good ones ------------------------

BAD_CHAT = [{"seed": 2 ** 64}, {"seed": -(2 ** 64)}, {"top_k": 2 ** 70},
            {"max_tokens": 2 ** 70}, {"max_completion_tokens": 2 ** 64}, {"n": 2 ** 64},
            {"temperature": float("nan")}, {"top_p": float("inf")}, {"stop": ["x"] * 100}]
BAD_MESSAGES = [{"top_k": 2 ** 70}, {"max_tokens": 2 ** 70}, {"temperature": float("nan")}]


def test_out_of_range_numbers_get_400_and_spare_a_running_stream(
        server: tuple[str, LLM]) -> None:
    base, llm = server
    client = oai(base)
    alone = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=150,
                                           temperature=0).choices[0].message.content
    stream = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=150,
                                            temperature=0, stream=True)
    parts = [next(stream).choices[0].delta.content or ""]
    for extra in BAD_CHAT:
        body = {"model": "tiny", "messages": HELLO, "max_tokens": 5, **extra}
        status, err = post(base, "/v1/chat/completions", body)
        assert status == 400 and is_openai_error(err), (extra, status, err)
        assert next(iter(extra)) in err["error"]["message"]
    for extra in BAD_MESSAGES:
        body = {"model": "tiny", "messages": HELLO, "max_tokens": 5, **extra}
        status, err = post(base, "/v1/messages", body)
        assert status == 400 and is_anthropic_error(err), (extra, status, err)
    parts += [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(parts) == alone  # the stream ran to the end, untouched
    assert not llm.has_unfinished()


# -- 6: request size, tokenizing off the loop, memory -------------------------------------

def _health_watch(base: str, stop: threading.Event, failures: list[str]) -> None:
    while not stop.is_set():
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                assert r.status == 200
        except Exception as exc:  # a timeout is the failure this test looks for
            failures.append(repr(exc))
        time.sleep(0.1)


def _big_chat(num_bytes: int) -> bytes:
    filler = "lorem ipsum dolor sit amet " * (num_bytes // 27)
    return json.dumps({"model": "tiny", "max_tokens": 5,
                       "messages": [{"role": "user", "content": filler}]}).encode()


def _pieces(data: bytes, size: int = MIB) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_a_20_mb_body_is_refused_early_health_answers_and_memory_stays_bounded(
        server: tuple[str, LLM]) -> None:
    base, _ = server
    post(base, "/v1/completions", {"model": "tiny", "prompt": "hi", "max_tokens": 2})
    gc.collect()
    idle = rss_bytes()
    stop, failures = threading.Event(), []
    watch = threading.Thread(target=_health_watch, args=(base, stop, failures))
    watch.start()
    try:
        body = _big_chat(20 * MIB)
        for path, shape in (("/v1/chat/completions", is_openai_error),
                            ("/v1/messages", is_anthropic_error)):
            status, err = raw_post(base, path, _pieces(body), length=len(body))
            assert status == 413 and shape(err), (path, status, err)
            assert "max_request_bytes" in err["error"]["message"]
            status, err = raw_post(base, path, _pieces(body))  # chunked: no length given
            assert status == 413 and shape(err), (path, status, err)
        under = _big_chat(10 * MIB)  # under the limit, far over max_model_len
        status, err = raw_post(base, "/v1/chat/completions", _pieces(under),
                               length=len(under))
        assert status == 400 and "max_model_len" in err["error"]["message"]
        del body, under
    finally:
        stop.set()
        watch.join()
    gc.collect()
    grown = rss_bytes() - idle
    assert failures == []
    assert grown < 200 * MIB, f"RSS grew {grown / MIB:.0f} MB over idle"


# -- clients that go away -------------------------------------------------------------------

def _wait(cond: Any, what: str, limit: float = 20.0) -> None:
    deadline = time.time() + limit
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_whose_client_has_gone_is_aborted(server: tuple[str, LLM],
                                                    stream: bool) -> None:
    base, llm = server
    _wait(lambda: not llm.has_unfinished(), "an idle engine")
    before = llm.num_generated_tokens
    body = json.dumps({"model": "tiny", "messages": HELLO, "max_tokens": 480,
                       "temperature": 0, "stream": stream}).encode()
    sock = open_request(base, "/v1/chat/completions", {
        "Content-Type": "application/json", "Content-Length": str(len(body))})
    sock.sendall(body)
    _wait(lambda: llm.num_generated_tokens > before, "generation to start")
    sock.close()
    _wait(lambda: not llm.has_unfinished(), "the request to be aborted")
    generated = llm.num_generated_tokens - before
    assert generated < 480, "the request ran to max_tokens after its client left"


# -- auth ----------------------------------------------------------------------------------

def test_api_key_turns_on_bearer_and_x_api_key_auth(llama_path: Path) -> None:
    llm = LLM(str(llama_path), num_kv_blocks=64, block_size=8)
    with serving(build_app(llm, served_name="tiny", api_key="sekret")) as base:
        with pytest.raises(openai.AuthenticationError) as info:
            oai(base, "wrong").chat.completions.create(model="tiny", messages=HELLO,
                                                       max_tokens=2)
        assert is_openai_error(info.value.body and {"error": info.value.body})
        with pytest.raises(anthropic.AuthenticationError) as ainfo:
            ant(base, "wrong").messages.create(model="tiny", max_tokens=2, messages=HELLO)
        assert ainfo.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        status, err = post(base, "/v1/completions", {"model": "tiny", "prompt": "hi"})
        assert status == 401 and is_openai_error(err)
        status, err = post(base, "/v1/messages/count_tokens",
                           {"model": "tiny", "messages": HELLO})
        assert status == 401 and is_anthropic_error(err)
        assert oai(base, "sekret").chat.completions.create(  # Authorization: Bearer
            model="tiny", messages=HELLO, max_tokens=2).usage.completion_tokens == 2
        assert ant(base, "sekret").messages.create(  # x-api-key
            model="tiny", max_tokens=2, messages=HELLO).usage.output_tokens == 2
        with urllib.request.urlopen(base + "/health") as r:  # probes need no key
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as herr:
            urllib.request.urlopen(base + "/metrics")
        assert herr.value.code == 401


def test_the_api_key_comes_from_the_flag_or_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from ctxkit.cli.serve import add_arguments, app_kwargs

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    monkeypatch.delenv("CTXKIT_API_KEY", raising=False)
    assert app_kwargs(parser.parse_args(["--model", "/m"]))["api_key"] is None
    monkeypatch.setenv("CTXKIT_API_KEY", "from-env")
    args = parser.parse_args(["--model", "/m", "--max-request-bytes", "1000"])
    assert app_kwargs(args) == {"served_name": None, "drain_s": 30.0, "api_key": "from-env",
                                "max_request_bytes": 1000}
    args = parser.parse_args(["--model", "/m", "--api-key", "from-flag"])
    assert app_kwargs(args)["api_key"] == "from-flag"


# -- count_tokens and error shapes -----------------------------------------------------------

def test_anthropic_count_tokens_matches_the_prompt_a_message_uses(
        server: tuple[str, LLM]) -> None:
    base, _ = server
    client = ant(base)
    tools = [{"name": "read_file", "description": "read a file",
              "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}]
    for kw in ({}, {"system": "you are terse", "tools": tools}):
        counted = client.messages.count_tokens(model="tiny", messages=HELLO, **kw)
        used = client.messages.create(model="tiny", max_tokens=1, messages=HELLO, **kw).usage
        assert counted.input_tokens == used.input_tokens + used.cache_read_input_tokens > 3
    status, err = post(base, "/v1/messages/count_tokens", {"model": "tiny", "messages": []})
    assert status == 400 and is_anthropic_error(err)


SURROGATE = b'{"model": "tiny", "max_tokens": 3, "messages": [{"role": "user", ' \
            b'"content": "hi \\ud800 there"}]}'
BAD_TOOLS_CHAT = [
    {"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": 5}]}]},
    {"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": "x"}]}]},
    {"messages": [{"role": "assistant", "content": "",
                   "tool_calls": [{"function": {"name": 3, "arguments": "{}"}}]}]},
    {"messages": HELLO, "tools": [{"type": "function", "function": 5}]},
    {"messages": HELLO, "tools": [{"type": "function", "function": {"name": ["x"]}}]},
]
BAD_TOOLS_MESSAGES = [
    {"messages": [{"role": "user", "content": [{"type": "tool_use", "name": 5, "input": "x"}]}]},
    {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a",
                                                "content": 7}]}]},
    {"messages": HELLO, "tools": [{"name": "f", "input_schema": "not a schema"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": {"x": 1}}]}]},
]


def test_errors_come_in_each_protocols_own_shape(server: tuple[str, LLM]) -> None:
    base, _ = server
    status, err = post(base, "/v1/chat/completions", SURROGATE)
    assert status == 400 and is_openai_error(err) and "surrogate" in err["error"]["message"]
    status, err = post(base, "/v1/messages", SURROGATE)
    assert status == 400 and is_anthropic_error(err) and "surrogate" in err["error"]["message"]
    for extra in BAD_TOOLS_CHAT:
        status, err = post(base, "/v1/chat/completions",
                           {"model": "tiny", "max_tokens": 3, **extra})
        assert status == 400 and is_openai_error(err), (extra, status, err)
    for extra in BAD_TOOLS_MESSAGES:
        status, err = post(base, "/v1/messages", {"model": "tiny", "max_tokens": 3, **extra})
        assert status == 400 and is_anthropic_error(err), (extra, status, err)
    status, err = post(base, "/v1/nothing/here", {})
    assert status == 404 and is_openai_error(err)
    status, err = post(base, "/v1/messages/nothing", {})
    assert status == 404 and is_anthropic_error(err)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base + "/v1/chat/completions")  # GET
    assert info.value.code == 405 and is_openai_error(json.load(info.value))
    status, err = post(base, "/v1/chat/completions", b"{not json")
    assert status == 400 and is_openai_error(err)
