"""BlockManager: the paged KV pool's bookkeeping, with a prefix cache over full blocks.

Owns which pool block belongs to whom: a free list, per-block reference counts, the
prefix cache (hash chain over full blocks -> block id; tokens and parent verified on hit)
and the LRU of cached blocks no sequence references (evicted only when the free list is
empty; an active session's stable prefix goes last). With a host tier (``host_tier.py``),
an evicted block's K/V are queued for a copy to host memory, and a prefix found there is
queued for a copy back into a fresh pool block: ``take_swaps()`` hands the model runner
those copies, in order, before the step's forward. Knows nothing of tensors: the model
runner owns the pool's memory, and this class hands out indices into it.

Every block is in exactly one state, checked by ``check_invariants``:

* free        ref 0, no hash, in ``free``
* in use      ref >= 1 (shared prefix blocks have ref > 1), maybe hashed
* evictable   ref 0, hashed, in ``evictable`` (LRU order), still findable by hash
"""

from __future__ import annotations

import hashlib
from array import array
from collections import deque
from collections.abc import Iterable

from .host_tier import HostTier, SessionLRU
from .sequence import Sequence

Swap = tuple[str, int, int]  # ("out", pool block, host block) or ("in", host block, pool block)

ROOT = b"ctxkit-kv-root"


def block_hash(parent: bytes, tokens: list[int]) -> bytes:
    """The hash-chain key of a full block: H(parent key, token ids)."""
    return hashlib.blake2b(parent + array("q", tokens).tobytes(), digest_size=16).digest()


class Block:
    __slots__ = ("block_id", "ref_count", "hash", "parent", "token_ids")

    def __init__(self, block_id: int) -> None:
        self.block_id = block_id
        self.ref_count = 0
        self.hash: bytes | None = None
        self.parent: bytes | None = None
        self.token_ids: tuple[int, ...] = ()


class BlockManager:
    """Allocates fixed-size KV blocks to sequences and shares identical prefixes.

    Args:
        num_blocks: blocks in the pool.
        block_size: tokens per block.
        enable_prefix_caching: register full blocks by hash and reuse them on a match.
        host_blocks: blocks of the host-memory tier (0: no host tier).
    """

    def __init__(self, num_blocks: int, block_size: int, *,
                 enable_prefix_caching: bool = True, host_blocks: int = 0) -> None:
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.enable_prefix_caching = enable_prefix_caching
        self.blocks = [Block(i) for i in range(num_blocks)]
        self.free: deque[int] = deque(range(num_blocks))
        self.evictable = SessionLRU()
        self.cached: dict[bytes, int] = {}
        self.num_evictions = 0
        self.host = HostTier(host_blocks) if host_blocks > 0 else None
        self.swaps: list[Swap] = []
        self.num_swapped_out = 0
        self.num_swapped_in = 0
        self.protected: dict[bytes, str] = {}  # block key -> the active session holding it
        self.sessions: dict[str, tuple[float, list[bytes]]] = {}  # id -> (last seen, keys)

    # -- capacity ------------------------------------------------------------------------

    @property
    def num_free_blocks(self) -> int:
        """Blocks an allocation may take: truly free plus evictable cached ones."""
        return len(self.free) + len(self.evictable)

    @property
    def num_used_blocks(self) -> int:
        return self.num_blocks - self.num_free_blocks

    def blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    # -- prefix cache --------------------------------------------------------------------

    def match_prefix(self, token_ids: list[int]) -> list[int]:
        """Pool block ids of the longest cached, verified block-aligned prefix of
        ``token_ids`` found in the pool alone (see ``match`` for both tiers).

        Never covers the last token: its logits must be computed (so at most
        ``(len - 1) // block_size`` blocks).
        """
        hits = []
        for on_pool, bid in self.match(token_ids):
            if not on_pool:
                break
            hits.append(bid)
        return hits

    def match(self, token_ids: list[int]) -> list[tuple[bool, int]]:
        """The longest cached prefix over both tiers: ``(in the pool, block id)`` per
        block, the id a pool block's or a host block's."""
        if not self.enable_prefix_caching:
            return []
        hits: list[tuple[bool, int]] = []
        parent = ROOT
        bs = self.block_size
        for i in range((len(token_ids) - 1) // bs):
            tokens = token_ids[i * bs:(i + 1) * bs]
            key = block_hash(parent, tokens)
            bid = self.cached.get(key)
            if bid is not None:
                b = self.blocks[bid]
                if b.parent != parent or b.token_ids != tuple(tokens):
                    break  # a hash collision: verified, not trusted
                hits.append((True, bid))
            else:
                hid = self.host.lookup(key, parent, tokens) if self.host else None
                if hid is None:
                    break
                hits.append((False, hid))
            parent = key
        return hits

    def can_allocate(self, seq: Sequence, reserve: int = 0) -> bool:
        """Whether ``seq``'s whole context fits, counting prefix hits, keeping ``reserve``."""
        hits = [bid for on_pool, bid in self.match(seq.token_ids) if on_pool]
        need = self.blocks_for(seq.num_tokens) - len(hits)
        hits_evictable = sum(1 for b in hits if b in self.evictable)
        return need + reserve <= self.num_free_blocks - hits_evictable

    def allocate(self, seq: Sequence) -> int:
        """Give ``seq`` blocks for all its tokens, reusing cached prefix blocks of both
        tiers (a host hit takes a fresh pool block and queues the copy back).

        Returns the number of tokens whose K/V came from the cache; the sequence's
        ``num_computed_tokens`` starts there, and ``last_host_hit_tokens`` says how many
        of them came from the host tier.
        """
        assert not seq.block_table, f"{seq} already holds blocks"
        hits = self.match(seq.token_ids)
        for on_pool, bid in hits:  # hold pool hits first: taking blocks may evict
            if on_pool:
                b = self.blocks[bid]
                if b.ref_count == 0:
                    self.evictable.remove(bid)
                b.ref_count += 1
        table: list[int] = []
        keys: list[bytes] = []
        host = self.host
        held = [bid for on_pool, bid in hits if not on_pool]
        flags = host.hold(held) if host is not None else []
        for on_pool, bid in hits:
            if on_pool:
                table.append(bid)
                keys.append(self.blocks[bid].hash or b"")
                continue
            assert host is not None
            key, parent = host.keys[bid], host.parents[bid]
            assert key is not None and parent is not None
            new = self._take()
            b = self.blocks[new]
            b.hash, b.parent, b.token_ids = key, parent, host.tokens[bid]
            self.cached[key] = new
            self.swaps.append(("in", bid, new))
            self.num_swapped_in += 1
            table.append(new)
            keys.append(key)
        if host is not None:
            host.release(held, flags)
        for _ in range(self.blocks_for(seq.num_tokens) - len(hits)):
            table.append(self._take())
        seq.block_table = table
        seq.block_hashes = keys
        seq.num_computed_tokens = len(hits) * self.block_size
        seq.last_host_hit_tokens = sum(1 for on_pool, _ in hits if not on_pool) \
            * self.block_size
        return seq.num_computed_tokens

    def can_append(self, seq: Sequence) -> bool:
        """Whether the pool can hold one more token of ``seq``."""
        return len(seq.block_table) * self.block_size > seq.num_tokens - 1 \
            or self.num_free_blocks > 0

    def append_slot(self, seq: Sequence) -> None:
        """Make room for K/V of all ``seq``'s tokens (one new block at a block boundary)."""
        while len(seq.block_table) * self.block_size < seq.num_tokens:
            seq.block_table.append(self._take())

    def commit(self, seq: Sequence) -> None:
        """Register the full blocks whose K/V are now computed in the prefix cache."""
        bs = self.block_size
        n_full = seq.num_computed_tokens // bs
        for i in range(len(seq.block_hashes), n_full):
            parent = seq.block_hashes[i - 1] if i else ROOT
            tokens = seq.block_tokens(i, bs)
            key = block_hash(parent, tokens)
            seq.block_hashes.append(key)
            if not self.enable_prefix_caching or key in self.cached:
                continue  # an identical block is already cached; this one stays private
            b = self.blocks[seq.block_table[i]]
            if b.hash is not None:
                continue
            b.hash, b.parent, b.token_ids = key, parent, tuple(tokens)
            self.cached[key] = b.block_id

    def free_seq(self, seq: Sequence) -> None:
        """Release ``seq``'s blocks; cached ones stay findable until evicted (LRU)."""
        # tail first: the tail is least likely to be shared, so it is evicted first
        for bid in reversed(seq.block_table):
            b = self.blocks[bid]
            assert b.ref_count > 0, f"block {bid} freed twice"
            b.ref_count -= 1
            if b.ref_count == 0:
                if b.hash is not None:
                    self.evictable.add(bid, b.hash in self.protected)
                else:
                    self.free.append(bid)
        seq.block_table = []
        seq.block_hashes = []
        seq.num_computed_tokens = 0

    def reset_prefix_cache(self) -> None:
        """Forget every unreferenced cached block, in both tiers (benchmarks: a cold
        start); nothing is copied to the host tier."""
        host, self.host = self.host, None
        while self.evictable:
            self._evict()
        self.host = host
        if host is not None:
            host.clear()

    def take_swaps(self) -> list[Swap]:
        """The queued copies between tiers, in the order they must run."""
        swaps, self.swaps = self.swaps, []
        return swaps

    # -- sessions ------------------------------------------------------------------------

    def protect_session(self, session: str, keys: list[bytes], now: float) -> None:
        """``keys`` (a finished turn's block chain) are ``session``'s stable prefix: while
        the session is active its blocks are evicted last, in both tiers."""
        _, old = self.sessions.get(session, (now, []))
        for key in old:
            self._set_protected(key, None)
        self.sessions[session] = (now, list(keys))
        for key in keys:
            self._set_protected(key, session)

    def touch_session(self, session: str, now: float) -> None:
        if session in self.sessions:
            self.sessions[session] = (now, self.sessions[session][1])

    def expire_sessions(self, now: float, ttl: float) -> None:
        """Sessions not seen for ``ttl`` seconds lose their protection."""
        for session, (seen, keys) in list(self.sessions.items()):
            if now - seen > ttl:
                del self.sessions[session]
                for key in keys:
                    if self.protected.get(key) == session:
                        self._set_protected(key, None)

    def _set_protected(self, key: bytes, session: str | None) -> None:
        if session is None:
            self.protected.pop(key, None)
        else:
            self.protected[key] = session
        bid = self.cached.get(key)
        if bid is not None and self.blocks[bid].ref_count == 0:
            self.evictable.set_protected(bid, session is not None)
        if self.host is not None:
            self.host.set_protected(key, session is not None)

    def _take(self) -> int:
        if not self.free:
            if not self.evictable:
                raise RuntimeError("KV pool exhausted; the scheduler must preempt first")
            self._evict()
        bid = self.free.popleft()
        self.blocks[bid].ref_count = 1
        return bid

    def _evict(self) -> None:
        bid = self.evictable.pop()
        b = self.blocks[bid]
        assert b.hash is not None and b.parent is not None and self.cached.get(b.hash) == bid
        if self.host is not None:
            hid = self.host.store(b.hash, b.parent, b.token_ids, b.hash in self.protected)
            if hid is not None:
                self.swaps.append(("out", bid, hid))
                self.num_swapped_out += 1
        del self.cached[b.hash]
        b.hash, b.parent, b.token_ids = None, None, ()
        self.free.append(bid)
        self.num_evictions += 1

    # -- invariants ----------------------------------------------------------------------

    def check_invariants(self, live: Iterable[Sequence]) -> None:
        """Assert the pool's accounting against the sequences that hold blocks."""
        refs = [0] * self.num_blocks
        for seq in live:
            assert len(set(seq.block_table)) == len(seq.block_table), f"{seq}: repeated block"
            for bid in seq.block_table:
                refs[bid] += 1
        free, evictable = set(self.free), set(self.evictable)
        assert len(free) == len(self.free), "a block is on the free list twice"
        assert not free & evictable, "a block is both free and evictable"
        for b in self.blocks:
            assert b.ref_count == refs[b.block_id], \
                f"block {b.block_id}: ref_count {b.ref_count} != {refs[b.block_id]} holders"
            if b.block_id in free:
                assert b.ref_count == 0 and b.hash is None, f"free block {b.block_id} in use"
            elif b.block_id in evictable:
                assert b.ref_count == 0 and b.hash is not None
            else:
                assert b.ref_count > 0, f"block {b.block_id} leaked: not free, not held"
            if b.hash is not None:
                assert self.cached.get(b.hash) == b.block_id, f"block {b.block_id} not indexed"
        assert len(self.cached) == sum(1 for b in self.blocks if b.hash is not None)
        if self.host is not None:
            self.host.check_invariants()
