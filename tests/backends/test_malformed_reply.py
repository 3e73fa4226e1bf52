"""A server that answers 200 with a body not in its protocol's shape: a BackendError naming
the provider and the field, recorded as a failed call; never a bare ValueError or
AttributeError from deep inside the parser (each case below once raised one)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ctxkit import BackendError, ContextPipeline
from ctxkit.backends import Anthropic, OpenAI, ProviderError
from ctxkit.layers import History, Prefix


class _Server(ThreadingHTTPServer):
    body: Any = None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("content-length", 0)))
        data = json.dumps(self.server.body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def _chat(**over: Any) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi"}}], **over}


def _message(**over: Any) -> dict[str, Any]:
    return {"id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", **over}


CASES = [
    ("openai", _chat(usage={"prompt_tokens": "abc", "completion_tokens": 1})),
    ("openai", _chat(usage=[1, 2])),
    ("openai", _chat(usage={"prompt_tokens": 9, "completion_tokens": 1,
                            "prompt_tokens_details": "cached"})),
    ("openai", _chat(choices="none")),
    ("openai", _chat(choices=[{"message": {"content": "x", "tool_calls": [
        {"id": 1, "type": "function", "function": {"name": None, "arguments": "{}"}}]}}])),
    ("anthropic", _message(usage={"input_tokens": "x", "output_tokens": 1})),
    ("anthropic", _message(usage={"input_tokens": -3, "output_tokens": 1})),
    ("anthropic", _message(usage={"input_tokens": 3, "output_tokens": 1,
                                  "cache_creation": "x"})),
    ("anthropic", {"content": "not blocks"}),
]


@pytest.mark.parametrize("provider,body", CASES,
                         ids=[f"{p}-{json.dumps(b)[-60:]}" for p, b in CASES])
def test_a_reply_in_no_known_shape_is_a_backend_error(server: _Server, provider: str,
                                                      body: Any) -> None:
    server.body = body
    url = f"http://127.0.0.1:{server.server_address[1]}"
    backend = (OpenAI("gpt-4o", base_url=url + "/v1", api_key="test") if provider == "openai"
               else Anthropic("claude-sonnet-4-5", base_url=url, api_key="test"))
    pipe = ContextPipeline(backend=backend, layers=[Prefix(system="s"), History()])
    with pytest.raises(ProviderError, match=rf"{provider} answered 200 .* not in the "
                       rf"shape .*base_url a server that speaks the {provider} API") as err:
        pipe.run("hello")
    assert isinstance(err.value, BackendError) and not err.value.retryable
    assert err.value.status == 200 and err.value.body == body
    assert len(pipe.records) == 1 and not pipe.records[0].ok
    assert (pipe.records[0].error or "").startswith("ProviderError: ")
