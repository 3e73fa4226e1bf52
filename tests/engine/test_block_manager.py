"""BlockManager: allocation, ref counts, the verified prefix cache and LRU eviction."""

from __future__ import annotations

import pytest

from ctxkit.engine import BlockManager, SamplingParams, Sequence


def seq(tokens: list[int]) -> Sequence:
    return Sequence(tokens, SamplingParams(), seed=0)


def compute_all(bm: BlockManager, s: Sequence) -> None:
    """What the engine does after a forward: all tokens have K/V, full blocks register."""
    s.num_computed_tokens = s.num_tokens
    bm.commit(s)


def test_allocate_and_free_return_every_block() -> None:
    bm = BlockManager(8, 4)
    a, b = seq(list(range(10))), seq(list(range(100, 105)))
    assert bm.allocate(a) == 0 and len(a.block_table) == 3
    assert bm.allocate(b) == 0 and len(b.block_table) == 2
    bm.check_invariants([a, b])
    assert bm.num_free_blocks == 3
    bm.free_seq(a)
    bm.free_seq(b)
    bm.check_invariants([])
    assert bm.num_free_blocks == 8 and bm.num_used_blocks == 0


def test_prefix_hit_shares_blocks_and_never_covers_the_last_token() -> None:
    bm = BlockManager(16, 4)
    first = seq(list(range(12)))
    bm.allocate(first)
    compute_all(bm, first)
    assert len(first.block_hashes) == 3
    # same 12 tokens: at most (12 - 1) // 4 = 2 blocks may hit, the last token is computed
    again = seq(list(range(12)))
    assert bm.allocate(again) == 8
    assert again.block_table[:2] == first.block_table[:2]
    assert again.block_table[2] != first.block_table[2]
    assert bm.blocks[first.block_table[0]].ref_count == 2
    bm.check_invariants([first, again])
    # a longer prompt sharing 9 tokens hits the first 2 full blocks only
    longer = seq(list(range(9)) + [99] * 7)
    assert bm.allocate(longer) == 8
    bm.check_invariants([first, again, longer])
    for s in (first, again, longer):
        bm.free_seq(s)
    bm.check_invariants([])
    assert bm.num_used_blocks == 0 and len(bm.evictable) == 3


def test_hit_after_free_revives_evictable_blocks() -> None:
    bm = BlockManager(4, 4)
    a = seq(list(range(9)))
    bm.allocate(a)
    compute_all(bm, a)
    bm.free_seq(a)
    assert len(bm.evictable) == 2 and bm.num_free_blocks == 4
    b = seq(list(range(9)))
    assert bm.can_allocate(b)
    assert bm.allocate(b) == 8
    assert not bm.evictable
    bm.check_invariants([b])


def test_lru_eviction_takes_free_blocks_first_then_oldest_cached() -> None:
    bm = BlockManager(4, 2)
    old, new = seq([1, 2, 3]), seq([5, 6, 7])
    for s in (old, new):
        bm.allocate(s)
        compute_all(bm, s)
        bm.free_seq(s)
    assert len(bm.evictable) == 2 and len(bm.free) == 2
    filler = seq(list(range(20, 26)))  # 3 blocks: 2 free, then evicts the oldest cached
    bm.allocate(filler)
    assert bm.num_evictions == 1
    assert bm.match_prefix([1, 2, 3]) == []
    assert len(bm.match_prefix([5, 6, 7])) == 1
    bm.check_invariants([filler])


def test_hash_hit_is_verified_against_the_tokens() -> None:
    bm = BlockManager(8, 2)
    a = seq([1, 2, 3])
    bm.allocate(a)
    compute_all(bm, a)
    bid = a.block_table[0]
    bm.blocks[bid].token_ids = (9, 9)  # what a hash collision would look like
    assert bm.match_prefix([1, 2, 3]) == []


def test_prefix_cache_off_never_hits() -> None:
    bm = BlockManager(8, 2, enable_prefix_caching=False)
    a = seq([1, 2, 3, 4, 5])
    bm.allocate(a)
    compute_all(bm, a)
    bm.free_seq(a)
    assert bm.allocate(seq([1, 2, 3, 4, 5])) == 0
    assert not bm.evictable


def test_invariants_catch_a_leak() -> None:
    bm = BlockManager(4, 2)
    a = seq([1, 2, 3])
    bm.allocate(a)
    with pytest.raises(AssertionError, match="holders"):
        bm.check_invariants([])  # a holds blocks the check was not told about
