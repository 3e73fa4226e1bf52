"""LLM: prefix caching (exact cached counts, same outputs on/off), sampling, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxkit import UserError
from ctxkit.engine import LLM, SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True)
SYSTEM = "you are a terse assistant. " * 6


@pytest.fixture(scope="module")
def llm(llama_path: Path) -> LLM:
    engine = LLM(str(llama_path), num_kv_blocks=256, block_size=8)
    engine.check_invariants = True
    return engine


def test_prefix_cache_on_and_off_give_identical_outputs(llama_path: Path) -> None:
    on = LLM(str(llama_path), num_kv_blocks=256, block_size=8)
    off = LLM(str(llama_path), num_kv_blocks=256, block_size=8, enable_prefix_caching=False)
    ps = [SYSTEM + q for q in ("hello world", "def add(a, b):", "fix the parser test")]
    for engine in (on, off):  # the second round hits the cache (when on)
        engine.generate(ps, GREEDY)
    a, b = on.generate(ps, GREEDY), off.generate(ps, GREEDY)
    assert [o.token_ids for o in a] == [o.token_ids for o in b]
    assert all(o.num_cached_tokens > 0 for o in a)
    assert all(o.num_cached_tokens == 0 for o in b)


def test_cached_tokens_are_exact_block_aligned_prefix(llm: LLM) -> None:
    llm.reset_prefix_cache()
    first = llm.generate(SYSTEM + "hello world", GREEDY)[0]
    assert first.num_cached_tokens == 0
    n = first.num_prompt_tokens
    again = llm.generate(SYSTEM + "hello world", GREEDY)[0]
    assert again.num_cached_tokens == (n - 1) // 8 * 8  # the last token is always computed
    assert again.token_ids == first.token_ids
    other = llm.generate(SYSTEM + "a different question", GREEDY)[0]
    common = next(i for i, (x, y) in enumerate(zip(first.prompt_token_ids,
                                                   other.prompt_token_ids, strict=False)) if x != y)
    assert other.num_cached_tokens == common // 8 * 8
    stats = llm.stats()
    assert 0 < stats["prefix_hit_rate"] < 1 and stats["kv_blocks_used"] == 0


def test_seeded_sampling_is_reproducible_and_batch_independent(llm: LLM) -> None:
    p = SamplingParams(temperature=1.0, top_k=50, top_p=0.95, max_tokens=16, seed=11,
                       ignore_eos=True)
    alone = llm.generate("hello world", p)[0].token_ids
    batched = llm.generate(["def add(a, b):", "hello world", "x"], p)[1].token_ids
    assert alone == batched
    other_seed = SamplingParams(temperature=1.0, max_tokens=16, seed=12, ignore_eos=True)
    assert llm.generate("hello world", other_seed)[0].token_ids != alone


def test_top_k_one_is_greedy(llm: LLM) -> None:
    k1 = SamplingParams(temperature=0.7, top_k=1, max_tokens=12, seed=3, ignore_eos=True)
    assert llm.generate("hello", k1)[0].token_ids == llm.generate("hello", GREEDY)[0].token_ids


def test_stop_conditions(llm: LLM) -> None:
    out = llm.generate("hello", SamplingParams(temperature=0, max_tokens=7, ignore_eos=True))[0]
    assert len(out.token_ids) == 7 and out.finish_reason == "length"
    first = out.token_ids[2]
    stopped = llm.generate("hello", SamplingParams(temperature=0, max_tokens=7,
                                                   stop_token_ids=(first,)))[0]
    assert stopped.finish_reason == "stop" and stopped.token_ids[-1] == first
    text = out.text
    if len(text) > 2:
        cut = llm.generate("hello", SamplingParams(temperature=0, max_tokens=7,
                                                   stop=(text[1:3],)))[0]
        assert cut.finish_reason == "stop" and cut.text == text[:text.find(text[1:3])]


def test_chat_uses_the_tokenizers_template(llm: LLM) -> None:
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    ids = llm.apply_chat_template(msgs)
    text = llm.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nbe brief<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    out = llm.chat(msgs, GREEDY)[0]
    assert out.prompt_token_ids == ids and len(out.token_ids) == 12


def test_bad_requests_get_clear_errors(llama_path: Path) -> None:
    llm = LLM(str(llama_path), num_kv_blocks=16, block_size=8)
    with pytest.raises(UserError, match="empty"):
        llm.add_request([])
    with pytest.raises(UserError, match="max_model_len"):
        llm.add_request([5] * 600)
    with pytest.raises(UserError, match="KV blocks"):
        llm.add_request([5] * 10, SamplingParams(max_tokens=400))
    with pytest.raises(UserError, match="vocabulary"):
        llm.add_request([10**6])
    with pytest.raises(UserError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(UserError, match="top_p"):
        SamplingParams(top_p=0)
