"""Log-probabilities of sampled tokens and their top alternatives, against transformers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ctxkit import UserError
from ctxkit.engine import LLM, SamplingParams

from .conftest import hf_model


def test_logprobs_match_transformers_and_rank_the_alternatives(llama_path: Path) -> None:
    llm = LLM(str(llama_path), num_kv_blocks=128, block_size=8)
    prompt = list(range(5, 40))
    params = [SamplingParams(temperature=0, max_tokens=6, ignore_eos=True, logprobs=3),
              SamplingParams(temperature=0.9, seed=3, max_tokens=6, ignore_eos=True,
                             logprobs=0),
              SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)]
    greedy, sampled, plain = llm.generate([prompt, prompt, prompt], params)
    assert plain.logprobs is None
    hf = hf_model(llama_path)
    for out in (greedy, sampled):
        assert out.logprobs is not None and len(out.logprobs) == len(out.token_ids)
        ids = torch.tensor([prompt + out.token_ids])
        with torch.no_grad():
            ref = torch.log_softmax(hf(ids).logits[0].float(), -1)
        for j, (lp, top) in enumerate(out.logprobs):
            row = ref[len(prompt) - 1 + j]
            assert lp == pytest.approx(float(row[out.token_ids[j]]), abs=1e-4)
            k = out_k = len(top)
            assert out_k == (3 if out is greedy else 0)
            if k:
                want = row.topk(k)
                assert [t for t, _ in top] == want.indices.tolist()
                assert [v for _, v in top] == pytest.approx(want.values.tolist(), abs=1e-4)
                assert top[0][0] == out.token_ids[j]  # greedy: the sampled token ranks first


def test_logprobs_out_of_range_is_refused() -> None:
    with pytest.raises(UserError, match="logprobs must be in"):
        SamplingParams(logprobs=21)
