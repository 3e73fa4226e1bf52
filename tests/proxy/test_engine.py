"""openai SDK -> ctxkit proxy -> ``ctxkit serve`` on a tiny CPU checkpoint: the cached
tokens are the engine's real prefix-cache hits, and the proxy's record carries exactly the
engine's count, streamed or not."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="ctxkit serve needs: pip install 'ctxkit[engine]'")
pytest.importorskip("fastapi", reason="ctxkit serve needs: pip install 'ctxkit[engine]'")
uvicorn = pytest.importorskip("uvicorn")

from ctxkit.proxy import Proxy, ProxyConfig  # noqa: E402
from tests.engine.conftest import build_checkpoint  # noqa: E402
from tests.proxy.conftest import oai  # noqa: E402

SYSTEM = "you are a terse assistant. " * 8
BS = 8


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import torch

    from ctxkit.engine import LLM
    from ctxkit.engine.serve.server import build_app

    torch.set_num_threads(1)
    path = build_checkpoint(tmp_path_factory.mktemp("ckpt") / "llama", "llama")
    llm = LLM(str(path), num_kv_blocks=256, block_size=BS)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(build_app(llm, served_name="tiny"), host="127.0.0.1",
                                        port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline, "ctxkit serve did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_record_matches_the_engines_cached_tokens(engine: str, tmp_path: Path) -> None:
    with Proxy(ProxyConfig(upstream=engine + "/v1", port=0, trace=tmp_path / "t.jsonl")) as px:
        client = oai(px)
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hello"}]
        first = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=4,
                                               temperature=0)
        second = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=4,
                                                temperature=0)
        chunks = list(client.chat.completions.create(
            model="tiny", messages=msgs, max_tokens=4, temperature=0, stream=True,
            stream_options={"include_usage": True}))
        records = px.records()
    engine_cached = [u.prompt_tokens_details.cached_tokens if u.prompt_tokens_details else 0
                     for u in (first.usage, second.usage, chunks[-1].usage)]
    assert engine_cached[0] == 0 and engine_cached[1] > 0 and engine_cached[2] > 0
    assert [r.reported.cache_read_tokens for r in records] == engine_cached  # type: ignore[union-attr]
    assert [r.reported.input_tokens for r in records] == \
        [first.usage.prompt_tokens, second.usage.prompt_tokens,  # type: ignore[union-attr]
         chunks[-1].usage.prompt_tokens]
    assert {r.session_id for r in records} == {records[0].session_id}
    # an unknown model name falls back to the paged profile of an OpenAI-compatible server
    assert records[0].tokenizer == "o200k_base" and records[1].predicted.cache_read_tokens > 0
    assert records[2].response is not None
    assert records[2].response.text == first.choices[0].message.content
