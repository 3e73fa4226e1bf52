"""CUDA graphs for decode steps: one captured forward per batch-size bucket.

Owns the static input buffers, the capture (largest bucket first, one shared memory pool)
and the replay: a decode step of ``n`` sequences copies its inputs into the buffers of the
smallest bucket >= n, pads the rest (slot -1: nothing written; context 0: zero output),
replays, and reads the logits of its ``n`` rows. Capturing removes the CPU launch cost of
some 300 small kernels per step, most of batch-1 decode's overhead. GPU only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .attention import AttentionMetadata, num_decode_splits
from .sequence import Sequence

if TYPE_CHECKING:
    from .model_runner import ModelRunner

def buckets(max_batch: int) -> list[int]:
    sizes = [b for b in (1, 2, 4, 8) if b < max_batch]
    sizes += list(range(16, max_batch, 16))
    return sizes + [max_batch]


class DecodeGraphs:
    """Captured decode forwards for batch sizes up to ``max_batch``."""

    def __init__(self, runner: ModelRunner, max_batch: int) -> None:
        self.runner = runner
        self.max_batch = max_batch
        self.sizes = buckets(max_batch)
        dev, m = runner.device, max_batch
        cfg = runner.model_config
        # ids, positions, slots, context lengths: one buffer, so one copy per step
        self.inputs = torch.zeros((4, m), dtype=torch.int64, device=dev)
        self.ids, self.pos, self.slots, self.ctx = self.inputs.unbind(0)
        self.tables = torch.zeros((m, runner.max_blocks_per_seq), dtype=torch.int32,
                                  device=dev)
        self.logits = torch.zeros((m, cfg.vocab_size), dtype=torch.float32, device=dev)
        # pinned staging: ids, positions, slots, contexts in one copy
        self.host = torch.zeros((4, m), dtype=torch.int64, pin_memory=True)
        self.host_tables = torch.zeros((m, runner.max_blocks_per_seq), dtype=torch.int32,
                                       pin_memory=True)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._capture()

    def _meta(self, n: int) -> AttentionMetadata:
        splits = num_decode_splits(n, self.runner.model_config.num_kv_heads,
                                   self.runner.num_sms)
        return AttentionMetadata(slot_mapping=self.slots[:n], num_decode_tokens=n,
                                 decode_context_lens=self.ctx[:n],
                                 decode_block_tables=self.tables[:n], decode_num_splits=splits)

    def _forward(self, n: int) -> None:
        model = self.runner.model
        hidden = model(self.ids[:n], self.pos[:n], self._meta(n))
        self.logits[:n].copy_(model.compute_logits(hidden))

    @torch.inference_mode()
    def _capture(self) -> None:
        self.slots.fill_(-1)
        self.ctx.fill_(1)  # attend to one (zero) slot while capturing
        pool = None
        for n in reversed(self.sizes):
            self._forward(n)  # warm-up: compiles the Triton kernels for this shape
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                self._forward(n)
            if pool is None:
                pool = graph.pool()
            self.graphs[n] = graph
        self.ctx.zero_()
        torch.cuda.synchronize()

    def run(self, seqs: list[Sequence]) -> torch.Tensor:
        """Replay the decode step for ``seqs`` (each computing its last token) ->
        logits [n, vocab] float32 (a view of the static buffer)."""
        n = len(seqs)
        size = next(s for s in self.sizes if s >= n)
        bs = self.runner.block_size
        host = self.host.numpy()
        tables = self.host_tables.numpy()
        width = 1
        for i, seq in enumerate(seqs):
            p = seq.num_tokens - 1
            host[0, i] = seq.token_ids[p]
            host[1, i] = p
            host[2, i] = seq.block_table[p // bs] * bs + p % bs
            host[3, i] = p + 1
            nb = len(seq.block_table)
            tables[i, :nb] = seq.block_table
            width = max(width, nb)
        host[:, n:size] = 0
        host[2, n:size] = -1
        self.inputs[:, :size].copy_(self.host[:, :size], non_blocking=True)
        self.tables[:n, :width].copy_(self.host_tables[:n, :width], non_blocking=True)
        self.graphs[size].replay()
        return self.logits[:n]
