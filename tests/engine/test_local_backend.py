"""Local backend: a ContextPipeline on the bundled engine reports measured cache hits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ctxkit import ContextPipeline
from ctxkit.backends._local import Local, parse_tool_calls
from ctxkit.layers import History, Prefix


def lookup(city: str) -> str:
    """Look up a city's weather."""
    return f"sunny in {city}"


def test_pipeline_runs_on_the_engine_and_records_reported_usage(llama_path: Path) -> None:
    backend = Local(llama_path, max_tokens=8, num_kv_blocks=256, block_size=8)
    assert backend.profile.cache.kind == "paged" and backend.profile.cache.block_size == 8
    assert backend.profile.cache.reports_cached
    assert backend.profile.tokenizer == f"hf:{llama_path.resolve()}"
    pipe = ContextPipeline(backend, [Prefix(system="you are a terse assistant. " * 4,
                                            tools=[lookup]), History()])
    ids = backend.render(pipe.assemble("hello world"))
    prompt = backend.llm.tokenizer.decode(ids)
    assert prompt.startswith("<|im_start|>tools\n") and '"name": "lookup"' in prompt
    first = pipe.run("hello world")
    assert first.usage is not None and first.usage.cache_read_tokens == 0
    assert first.usage.input_tokens == len(ids)
    second = pipe.run("how are you today?")
    assert second.usage is not None and second.usage.cache_read_tokens > 0
    rec = pipe.records[1]
    assert rec.reported is not None
    assert rec.reported.cache_read_tokens == second.usage.cache_read_tokens
    assert backend.llm.block_manager.num_used_blocks == 0


def test_cached_tokens_match_an_independent_count(llama_path: Path) -> None:
    backend = Local(llama_path, max_tokens=6, num_kv_blocks=256, block_size=8)
    pipe = ContextPipeline(backend, [Prefix(system="you are a terse assistant. " * 4),
                                     History()])
    outputs = []
    generate = backend.llm.generate

    def keep(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = generate(*args, **kwargs)
        outputs.extend(out)
        return out

    backend.llm.generate = keep  # type: ignore[method-assign]
    pipe.run("hello world")
    r2 = pipe.run("how are you today?")
    first, second = outputs
    # K/V exist for the first prompt and every reply token but the last
    have = first.prompt_token_ids + first.token_ids[:-1]
    common = 0
    for a, b in zip(have, second.prompt_token_ids, strict=False):
        if a != b:
            break
        common += 1
    expected = min(common, second.num_prompt_tokens - 1) // 8 * 8
    assert r2.usage is not None and r2.usage.cache_read_tokens == expected
    assert expected >= first.num_prompt_tokens // 8 * 8 - 8  # the whole first prompt hit


def test_tool_calls_are_parsed_from_the_reply() -> None:
    text, calls = parse_tool_calls('ok <tool_call>{"name": "lookup", "arguments": '
                                   '{"city": "Paris"}}</tool_call>')
    assert text == "ok" and calls[0].name == "lookup"
    assert calls[0].arguments == {"city": "Paris"}
    assert parse_tool_calls("no calls here") == ("no calls here", [])


def test_import_ctxkit_does_not_import_torch() -> None:
    code = "import sys, ctxkit, ctxkit.backends; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
