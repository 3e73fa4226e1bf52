"""``ctxkit serve`` on loopback, driven by the real ``openai`` and ``anthropic`` clients."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="ctxkit serve needs: pip install 'ctxkit[engine]'")
uvicorn = pytest.importorskip("uvicorn", reason="ctxkit serve needs: pip install "
                              "'ctxkit[engine]'")
openai = pytest.importorskip("openai", reason="pip install openai")
anthropic = pytest.importorskip("anthropic", reason="pip install anthropic")

from ctxkit.engine import LLM  # noqa: E402
from ctxkit.engine.serve.server import build_app  # noqa: E402

SYSTEM = "you are a terse assistant. " * 8
BS = 8


@pytest.fixture(scope="module")
def server(llama_path: Path) -> Iterator[tuple[str, LLM]]:
    llm = LLM(str(llama_path), num_kv_blocks=256, block_size=BS)
    llm.check_invariants = True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(build_app(llm, served_name="tiny"), host="127.0.0.1",
                                        port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", llm
    srv.should_exit = True
    thread.join(timeout=10)


def oai(base: str) -> Any:
    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)


def ant(base: str) -> Any:
    return anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0)


def chat_messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def test_models_health_and_metrics(server: tuple[str, LLM]) -> None:
    base, _ = server
    assert [m.id for m in oai(base).models.list().data] == ["tiny"]
    with urllib.request.urlopen(base + "/health") as r:
        assert json.load(r) == {"status": "ok"}
    oai(base).completions.create(model="tiny", prompt="hello", max_tokens=2)
    with urllib.request.urlopen(base + "/metrics") as r:
        text = r.read().decode()
    for name in ("prefix_hit_rate", "kv_occupancy", "waiting", "preemptions"):
        assert f"\nctxkit_{name} " in text
    assert "ctxkit_requests 0\n" not in text


def test_openai_chat_completes_streams_and_reports_cached_tokens(
        server: tuple[str, LLM]) -> None:
    base, llm = server
    client = oai(base)
    msgs = chat_messages("hello world")
    first = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=10,
                                           temperature=0)
    n = first.usage.prompt_tokens
    assert n == len(llm.apply_chat_template(msgs))
    assert first.usage.completion_tokens == 10 and first.choices[0].finish_reason == "length"
    second = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=10,
                                            temperature=0)
    assert second.usage.prompt_tokens_details.cached_tokens == (n - 1) // BS * BS
    assert second.choices[0].message.content == first.choices[0].message.content
    stream = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=10,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == first.choices[0].message.content
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == (n - 1) // BS * BS


def test_openai_completions_stream_and_not(server: tuple[str, LLM]) -> None:
    client = oai(server[0])
    whole = client.completions.create(model="tiny", prompt=SYSTEM, max_tokens=8,
                                      temperature=0)
    assert whole.usage.completion_tokens == 8
    parts = list(client.completions.create(model="tiny", prompt=SYSTEM, max_tokens=8,
                                           temperature=0, stream=True))
    assert "".join(p.choices[0].text for p in parts if p.choices) == whole.choices[0].text
    assert parts[-1].choices[0].finish_reason == "length"


def test_anthropic_messages_complete_stream_and_report_cache_reads(
        server: tuple[str, LLM]) -> None:
    base, llm = server
    client = ant(base)
    kw: dict[str, Any] = dict(model="tiny", max_tokens=9, system=SYSTEM,
                              extra_body={"temperature": 0},  # this SDK has no argument
                              messages=[{"role": "user", "content": "def add(a, b):"}])
    n = len(llm.apply_chat_template(chat_messages("def add(a, b):")))
    first = client.messages.create(**kw)
    assert first.usage.input_tokens + (first.usage.cache_read_input_tokens or 0) == n
    assert first.stop_reason == "max_tokens" and first.usage.output_tokens == 9
    second = client.messages.create(**kw)
    assert second.usage.cache_read_input_tokens == (n - 1) // BS * BS
    assert second.usage.input_tokens == n - (n - 1) // BS * BS
    assert second.content[0].text == first.content[0].text
    with client.messages.stream(**kw) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == first.content[0].text
    assert final.usage.cache_read_input_tokens == (n - 1) // BS * BS
    assert final.usage.output_tokens == 9


def test_bad_requests_get_4xx_in_each_protocols_shape(server: tuple[str, LLM]) -> None:
    base, _ = server
    with pytest.raises(openai.BadRequestError, match="temperature"):
        oai(base).chat.completions.create(model="tiny", messages=chat_messages("x"),
                                          temperature=5)
    with pytest.raises(openai.NotFoundError, match="not served"):
        oai(base).chat.completions.create(model="gpt-9", messages=chat_messages("x"))
    with pytest.raises(openai.BadRequestError, match="max_model_len"):
        oai(base).completions.create(model="tiny", prompt=[5] * 600)
    with pytest.raises(anthropic.BadRequestError) as info:
        ant(base).messages.create(model="tiny", max_tokens=5, messages=[])
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    req = urllib.request.Request(base + "/v1/messages", data=b'{"model": "tiny"}',
                                 headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 400
    assert json.load(err.value)["type"] == "error"


def test_serve_command_line_maps_onto_the_engine_config() -> None:
    import argparse

    from ctxkit.cli.serve import add_arguments, engine_kwargs, run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "/m", "--block-size", "32", "--no-prefix-caching",
                              "--max-num-seqs", "8"])
    assert args.func is run and args.port == 8000 and args.host == "127.0.0.1"
    kw = engine_kwargs(args)
    assert kw["block_size"] == 32 and kw["max_num_seqs"] == 8
    assert kw["enable_prefix_caching"] is False


def post(base: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_tokenize_ids_are_the_ids_the_chat_route_counts(server: tuple[str, LLM]) -> None:
    base, llm = server
    tools = [{"type": "function", "function": {"name": "read_file", "description": "read",
              "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}]
    msgs = chat_messages("what is in setup.py?")
    status, tok = post(base, "/tokenize", {"model": "tiny", "messages": msgs, "tools": tools})
    assert status == 200 and tok["count"] == len(tok["tokens"]) > 0
    assert tok["max_model_len"] == llm.config.max_model_len
    reply = oai(base).chat.completions.create(model="tiny", messages=msgs, tools=tools,
                                              max_tokens=4, temperature=0,
                                              extra_body={"return_token_ids": True})
    raw = reply.model_dump()
    assert raw["prompt_token_ids"] == tok["tokens"]
    assert reply.usage is not None and reply.usage.prompt_tokens == tok["count"]
    assert len(raw["choices"][0]["token_ids"]) == reply.usage.completion_tokens
    plain = oai(base).chat.completions.create(model="tiny", messages=msgs, max_tokens=2)
    assert "prompt_token_ids" not in plain.model_dump()
    status, text = post(base, "/tokenize", {"prompt": "def add(a, b):"})
    assert status == 200 and text["tokens"] == llm.encode("def add(a, b):")


def test_bad_tokenize_input_gets_a_clear_4xx_in_openais_shape(
        server: tuple[str, LLM]) -> None:
    base, _ = server
    for body, words in [({"model": "tiny"}, "exactly one"),
                        ({"prompt": "x", "messages": chat_messages("x")}, "exactly one"),
                        ({"model": "gpt-9", "prompt": "x"}, "not served"),
                        ({"messages": []}, "messages"),
                        ({"messages": chat_messages("x"), "add_generation_prompt": False},
                         "add_generation_prompt")]:
        status, err = post(base, "/tokenize", body)
        assert 400 <= status < 500, body
        assert words in err["error"]["message"] and err["error"]["type"], err
