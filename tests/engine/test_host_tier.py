"""The host-memory prefix tier: copies out on eviction, back on a hit, exact K/V and tokens;
session-aware eviction order; per-tier counters."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from ctxkit.engine import LLM, BlockManager, SamplingParams, Sequence

GREEDY = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)


def seq(tokens: list[int]) -> Sequence:
    return Sequence(tokens, SamplingParams(), seed=0)


def compute_all(bm: BlockManager, s: Sequence) -> None:
    s.num_computed_tokens = s.num_tokens
    bm.commit(s)


def test_evicted_blocks_go_to_host_and_come_back_on_a_hit() -> None:
    bm = BlockManager(6, 4, host_blocks=8)
    a = seq(list(range(13)))  # 3 full blocks + 1 token
    bm.allocate(a)
    compute_all(bm, a)
    keys = list(a.block_hashes)
    bm.free_seq(a)
    other = seq(list(range(100, 124)))  # 6 blocks: every cached block of a is evicted
    bm.allocate(other)
    outs = [s for s in bm.take_swaps() if s[0] == "out"]
    assert len(outs) == 3 and bm.host is not None and bm.host.num_used == 3
    bm.check_invariants([other])
    bm.free_seq(other)
    again = seq(list(range(13)))
    assert bm.allocate(again) == 12 and again.last_host_hit_tokens == 12
    ins = [s for s in bm.take_swaps() if s[0] == "in"]
    assert [pool for _, _, pool in ins] == again.block_table[:3]
    assert again.block_hashes == keys
    bm.check_invariants([again])


def test_host_hits_cannot_be_evicted_by_their_own_allocation() -> None:
    # a full host tier: taking pool blocks for the hits evicts pool blocks to host, which
    # must not drop the host blocks being copied back
    bm = BlockManager(4, 4, host_blocks=3)
    a = seq(list(range(13)))
    bm.allocate(a)
    compute_all(bm, a)
    bm.free_seq(a)
    b = seq(list(range(200, 216)))
    bm.allocate(b)
    compute_all(bm, b)
    bm.free_seq(b)  # b's 4 blocks cached in the pool; a's 3 in host
    bm.take_swaps()
    again = seq(list(range(13)))
    assert bm.allocate(again) == 12
    swaps = bm.take_swaps()
    assert len({h for kind, h, _ in swaps if kind == "in"}) == 3
    assert any(kind == "out" for kind, _, _ in swaps)
    for i, (kind, host, _) in enumerate(swaps):  # copies run in order: a host block is
        if kind == "in":  # read back before any later copy out reuses it
            assert all(h != host for k, _, h in swaps[:i] if k == "out")
    bm.check_invariants([again])


def test_active_session_prefix_is_evicted_last() -> None:
    bm = BlockManager(8, 4)
    agent, oneoff = seq(list(range(9))), seq(list(range(50, 59)))
    for s in (agent, oneoff):
        bm.allocate(s)
        compute_all(bm, s)
    bm.protect_session("agent-1", list(agent.block_hashes), now=0.0)
    agent_blocks = agent.block_table[:2]
    bm.free_seq(agent)  # freed first: plain LRU would evict it first
    bm.free_seq(oneoff)
    bm.allocate(seq(list(range(300, 324))))  # needs 6: 4 free + two evictions
    assert all(bm.blocks[b].hash is not None for b in agent_blocks)
    assert len(bm.match_prefix(list(range(9)))) == 2
    assert bm.match_prefix(list(range(50, 59))) == []  # the one-off request went first
    bm.expire_sessions(now=1000.0, ttl=10.0)  # gone quiet: no longer protected
    assert not bm.sessions and not bm.protected
    bm.allocate(seq(list(range(400, 404))))
    assert len(bm.match_prefix(list(range(9)))) < 2


def test_engine_tokens_and_kv_identical_after_swap_out_and_in(llama_path: Path) -> None:
    rng = random.Random(0)
    prompt = [rng.randrange(3, 300) for _ in range(40)]
    noise = [[rng.randrange(3, 300) for _ in range(60)] for _ in range(3)]
    plain = LLM(str(llama_path), num_kv_blocks=256, block_size=8)
    want = plain.generate(prompt, GREEDY)[0].token_ids
    llm = LLM(str(llama_path), num_kv_blocks=20, block_size=8, host_kv_cache_gib=0.001)
    llm.check_invariants = True
    first = llm.generate(prompt, GREEDY)[0]
    assert first.token_ids == want
    bm, runner = llm.block_manager, llm.runner
    keys = list(first.prompt_token_ids)
    pool_ids = bm.match_prefix(keys)
    assert len(pool_ids) == 4  # (40 + 6 - 1) // 8 = 5 blocks hashed; the prompt spans 4
    ref_k = runner.k_cache[:, pool_ids].clone()
    ref_v = runner.v_cache[:, pool_ids].clone()
    for p in noise:  # 3 x 66 tokens > 20 blocks: the prompt's blocks are evicted
        llm.generate(p, GREEDY)
    assert bm.match_prefix(keys) == [] and bm.num_swapped_out >= 4
    runner.k_cache[:, pool_ids] = torch.nan  # whatever reused those blocks is gone too
    again = llm.generate(prompt, GREEDY)[0]
    assert again.token_ids == want
    assert again.num_cached_tokens == 32 and again.num_host_cached_tokens == 32
    back = bm.match_prefix(keys)[:4]
    assert torch.equal(runner.k_cache[:, back], ref_k)
    assert torch.equal(runner.v_cache[:, back], ref_v)
    st = llm.stats()
    assert st["cached_prompt_tokens_host"] == 32 and st["host_swapped_in_blocks"] >= 4
    assert st["cached_prompt_tokens_device"] == st["cached_prompt_tokens"] - 32
