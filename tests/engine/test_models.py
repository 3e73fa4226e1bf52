"""The engine's decoders equal Hugging Face transformers on tiny random checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ctxkit.engine import LLM, SamplingParams, Sequence
from ctxkit.engine.scheduler import Batch

from .conftest import hf_model

FAMILIES = ["llama", "qwen2", "qwen3"]
PROMPTS = ["hello world, how are you today?", "def add(a, b):",
           "the parser test fails on empty input; fix it and keep the prefix stable"]


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_generation_equals_transformers(checkpoints: dict[str, Path],
                                               family: str) -> None:
    path = checkpoints[family]
    llm = LLM(str(path), num_kv_blocks=128)
    llm.check_invariants = True
    hf = hf_model(path)
    ids = [llm.tokenizer(p)["input_ids"] for p in PROMPTS]
    greedy = SamplingParams(temperature=0, max_tokens=24, ignore_eos=True)
    ours = llm.generate(ids, greedy)  # all three in one continuous batch
    for prompt, out in zip(ids, ours, strict=False):
        ref = hf.generate(torch.tensor([prompt]), max_new_tokens=24, do_sample=False)
        assert out.token_ids == ref[0, len(prompt):].tolist()
    assert llm.block_manager.num_used_blocks == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_prefill_logits_close_to_transformers(checkpoints: dict[str, Path],
                                              family: str) -> None:
    path = checkpoints[family]
    llm = LLM(str(path), num_kv_blocks=64)
    hf = hf_model(path)
    ids = llm.tokenizer(PROMPTS[2])["input_ids"]
    seq = Sequence(ids, SamplingParams(), seed=0)
    llm.block_manager.allocate(seq)
    ids_t, pos, meta, _ = llm.runner.prepare(Batch(items=[(seq, len(ids))]))
    with torch.inference_mode():
        ours = llm.runner.model.compute_logits(llm.runner.model(ids_t, pos, meta))
        ref = hf(torch.tensor([ids])).logits[0]
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, atol=2e-4, rtol=1e-4)


def test_config_rejects_unsupported_architectures(tmp_path: Path) -> None:
    from ctxkit import UserError
    from ctxkit.engine import ModelConfig

    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(UserError, match="not supported"):
        ModelConfig.from_dir(tmp_path)
    with pytest.raises(UserError, match="no config.json"):
        ModelConfig.from_dir(tmp_path / "missing")


def test_dense_prefill_path_matches_the_paged_reference() -> None:
    from ctxkit.engine.attention import dense_causal
    from ctxkit.engine.attention.reference import attend, store_kv

    g = torch.Generator().manual_seed(0)
    t, h, kv, d, bs = 37, 4, 2, 16, 8
    q, k, v = (torch.randn(t, n, d, generator=g) for n in (h, kv, kv))
    kc, vc = torch.zeros(8, kv, bs, d), torch.zeros(8, kv, bs, d)
    table = [3, 0, 6, 1, 5]
    store_kv(k, v, kc, vc, torch.tensor([table[p // bs] * bs + p % bs for p in range(t)]))
    torch.testing.assert_close(dense_causal(q, k, v, d ** -0.5),
                               attend(q, kc, vc, table, t, d ** -0.5))
