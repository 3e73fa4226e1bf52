"""HostTier: the bookkeeping of the host-memory prefix tier, and session-aware LRU order.

Owns which host block holds which prefix block: when the pool evicts a cached block, its
K/V are copied to a host block instead of being dropped (the ``BlockManager`` queues the
copy; the model runner's ``KVSwapper`` moves the bytes), and a later prompt with that
prefix copies them back instead of recomputing them. Host blocks are found by the same
hash chain as pool blocks and verified the same way (parent key and token ids).

``SessionLRU`` is the eviction order both tiers use: least recently used first, except that
blocks of an active session's stable prefix go only when nothing else is left. Knows
nothing of tensors.
"""

from __future__ import annotations

from collections import OrderedDict, deque


class SessionLRU:
    """Two LRU lists: ordinary blocks, and blocks protected by an active session."""

    def __init__(self) -> None:
        self.plain: OrderedDict[int, None] = OrderedDict()
        self.protected: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self.plain) + len(self.protected)

    def __contains__(self, bid: object) -> bool:
        return bid in self.plain or bid in self.protected

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self.plain
        yield from self.protected

    def add(self, bid: int, protected: bool) -> None:
        (self.protected if protected else self.plain)[bid] = None

    def remove(self, bid: int) -> None:
        self.plain.pop(bid, None)
        self.protected.pop(bid, None)

    def touch(self, bid: int) -> None:
        for lst in (self.plain, self.protected):
            if bid in lst:
                lst.move_to_end(bid)

    def set_protected(self, bid: int, protected: bool) -> None:
        """Move ``bid`` between the lists (an unprotected block goes first in line)."""
        src, dst = (self.plain, self.protected) if protected else (self.protected, self.plain)
        if bid in src:
            del src[bid]
            dst[bid] = None
            if not protected:
                dst.move_to_end(bid, last=False)

    def pop(self) -> int:
        """The next block to evict: the oldest plain one, else the oldest protected one."""
        lst = self.plain if self.plain else self.protected
        bid, _ = lst.popitem(last=False)
        return bid


class HostTier:
    """Host-memory blocks holding evicted prefix blocks, found by hash.

    Args:
        num_blocks: host blocks (``Config.host_kv_cache_gib`` over the bytes of a block).
    """

    def __init__(self, num_blocks: int) -> None:
        self.num_blocks = num_blocks
        self.free: deque[int] = deque(range(num_blocks))
        self.index: dict[bytes, int] = {}
        self.keys: list[bytes | None] = [None] * num_blocks
        self.parents: list[bytes | None] = [None] * num_blocks
        self.tokens: list[tuple[int, ...]] = [()] * num_blocks
        self.lru = SessionLRU()
        self.num_evictions = 0

    @property
    def num_used(self) -> int:
        return self.num_blocks - len(self.free)

    def lookup(self, key: bytes, parent: bytes, tokens: list[int]) -> int | None:
        """The host block holding ``key``, verified against parent and tokens."""
        hid = self.index.get(key)
        if hid is None or self.parents[hid] != parent or self.tokens[hid] != tuple(tokens):
            return None
        self.lru.touch(hid)
        return hid

    def store(self, key: bytes, parent: bytes, tokens: tuple[int, ...], protected: bool
              ) -> int | None:
        """A host block for ``key`` (evicting the LRU one if full); None if it is held."""
        if key in self.index:
            self.lru.touch(self.index[key])
            return None
        if not self.free:
            if not len(self.lru):
                return None
            self._drop(self.lru.pop())
        hid = self.free.popleft()
        self.index[key] = hid
        self.keys[hid], self.parents[hid], self.tokens[hid] = key, parent, tokens
        self.lru.add(hid, protected)
        return hid

    def hold(self, hids: list[int]) -> list[bool]:
        """Take ``hids`` out of the eviction order while an allocation copies them back
        (taking pool blocks may store evicted ones here); returns their protection."""
        flags = [hid in self.lru.protected for hid in hids]
        for hid in hids:
            self.lru.remove(hid)
        return flags

    def release(self, hids: list[int], protected: list[bool]) -> None:
        for hid, flag in zip(hids, protected, strict=True):
            self.lru.add(hid, flag)

    def set_protected(self, key: bytes, protected: bool) -> None:
        hid = self.index.get(key)
        if hid is not None:
            self.lru.set_protected(hid, protected)

    def clear(self) -> None:
        while len(self.lru):
            self._drop(self.lru.pop())

    def _drop(self, hid: int) -> None:
        key = self.keys[hid]
        assert key is not None and self.index.get(key) == hid
        del self.index[key]
        self.keys[hid], self.parents[hid], self.tokens[hid] = None, None, ()
        self.free.append(hid)
        self.num_evictions += 1

    def check_invariants(self) -> None:
        held = set(self.lru)
        assert len(held) == len(self.lru), "a host block is in both LRU lists"
        assert len(held) == len(self.index) == self.num_blocks - len(self.free)
        assert not held & set(self.free), "a host block is both free and held"
        for key, hid in self.index.items():
            assert self.keys[hid] == key, f"host block {hid} indexed under another key"
