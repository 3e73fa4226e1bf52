"""KVSwapper: the bytes of the host-memory prefix tier, and the copies between tiers.

Owns the host blocks' memory (pinned on a GPU machine, so copies run asynchronously on the
compute stream) laid out ``[host block, layer, KV head, slot, head dim]`` for K and for V,
and a device staging buffer. A batch of copies out of the pool gathers its blocks into the
staging buffer with one indexed copy, then moves runs of consecutive host blocks with one
transfer each; copies back run the other way. Everything is queued on the current stream
before the step's forward, so ordering against the forward that reads or overwrites those
pool blocks needs no synchronisation. Knows nothing of hashes: the ``BlockManager`` decides
which block goes where.
"""

from __future__ import annotations

import torch

from .block_manager import Swap


class KVSwapper:
    """Copies K/V blocks between the pool and host memory.

    Args:
        k_cache, v_cache: the pool, [layers, blocks, KV heads, block size, head dim].
        num_host_blocks: blocks of host memory to allocate.
        chunk: most blocks moved per staged copy (bounds the staging buffer).
    """

    def __init__(self, k_cache: torch.Tensor, v_cache: torch.Tensor, num_host_blocks: int,
                 chunk: int = 128) -> None:
        self.k_cache, self.v_cache = k_cache, v_cache
        layers, _, kv, bs, d = k_cache.shape
        pin = k_cache.device.type == "cuda"
        shape = (num_host_blocks, layers, kv, bs, d)
        self.host_k = torch.empty(shape, dtype=k_cache.dtype, pin_memory=pin)
        self.host_v = torch.empty(shape, dtype=k_cache.dtype, pin_memory=pin)
        self.chunk = max(1, min(chunk, num_host_blocks))
        self.staging = torch.empty((2, self.chunk, layers, kv, bs, d), dtype=k_cache.dtype,
                                   device=k_cache.device)
        self.non_blocking = pin

    def apply(self, swaps: list[Swap]) -> None:
        """Run ``swaps`` in order (consecutive copies of one direction are batched)."""
        i = 0
        while i < len(swaps):
            kind = swaps[i][0]
            j, seen = i, set()
            while j < len(swaps) and swaps[j][0] == kind and j - i < self.chunk:
                target = swaps[j][2] if kind == "out" else swaps[j][1]
                if target in seen:  # the same host block twice: keep the order
                    break
                seen.add(target)
                j += 1
            pairs = [(a, b) for _, a, b in swaps[i:j]]
            if kind == "out":
                self._out(pairs)
            else:
                self._in([(b, a) for a, b in pairs])
            i = j

    def _out(self, pairs: list[tuple[int, int]]) -> None:
        """(pool block, host block) pairs: pool -> host."""
        pairs.sort(key=lambda p: p[1])
        n = len(pairs)
        idx = torch.tensor([p for p, _ in pairs], dtype=torch.long).to(
            self.k_cache.device, non_blocking=self.non_blocking)
        for s, cache in enumerate((self.k_cache, self.v_cache)):
            self.staging[s, :n].copy_(cache.index_select(1, idx).transpose(0, 1))
        for h0, a, r in _runs([h for _, h in pairs]):
            self.host_k[h0:h0 + r].copy_(self.staging[0, a:a + r], non_blocking=self.non_blocking)
            self.host_v[h0:h0 + r].copy_(self.staging[1, a:a + r], non_blocking=self.non_blocking)

    def _in(self, pairs: list[tuple[int, int]]) -> None:
        """(pool block, host block) pairs: host -> pool."""
        pairs.sort(key=lambda p: p[1])
        n = len(pairs)
        for h0, a, r in _runs([h for _, h in pairs]):
            self.staging[0, a:a + r].copy_(self.host_k[h0:h0 + r], non_blocking=self.non_blocking)
            self.staging[1, a:a + r].copy_(self.host_v[h0:h0 + r], non_blocking=self.non_blocking)
        idx = torch.tensor([p for p, _ in pairs], dtype=torch.long).to(
            self.k_cache.device, non_blocking=self.non_blocking)
        for s, cache in enumerate((self.k_cache, self.v_cache)):
            cache.index_copy_(1, idx, self.staging[s, :n].transpose(0, 1))


def _runs(hosts: list[int]) -> list[tuple[int, int, int]]:
    """Sorted host ids -> (first host id, offset in the batch, length) of consecutive runs."""
    runs: list[tuple[int, int, int]] = []
    for k, h in enumerate(hosts):
        if runs and runs[-1][0] + runs[-1][2] == h:
            h0, a, r = runs[-1]
            runs[-1] = (h0, a, r + 1)
        else:
            runs.append((h, k, 1))
    return runs
