"""Scheduler: continuous batching with chunked prefill, KV-budget admission, preemption.

Owns which sequences run each step and how many tokens each computes. One step:

1. decodes first (one token each, oldest first); when the pool cannot hold a decode's next
   token, the newest running sequence is preempted by recompute (its blocks are freed;
   it waits at the head of the queue and is prefilled again later), so the pool running
   out is a delay, never an out-of-memory crash;
2. running prefills continue in chunks under the per-step token budget;
3. waiting sequences are admitted while the budget has tokens and the pool has blocks
   (free + evictable, after prefix hits) for their whole context: admission is by KV
   budget, not request count. Shorter prompts go first, but one passed over
   ``fairness_bound`` times goes next whatever its length.

Knows nothing of tensors; the model runner executes the ``Batch``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from .block_manager import BlockManager
from .config import Config
from .sequence import Sequence, SequenceStatus


@dataclass(slots=True)
class Batch:
    """One step's work: ``(sequence, tokens to compute)`` pairs, decodes first."""

    items: list[tuple[Sequence, int]] = field(default_factory=list)
    num_decodes: int = 0

    @property
    def num_tokens(self) -> int:
        return sum(n for _, n in self.items)

    def __len__(self) -> int:
        return len(self.items)


class Scheduler:
    """Decides each step's batch and keeps the sequence queues.

    Args:
        config: the engine config (token budget, max sequences, fairness bound).
        block_manager: the KV pool's bookkeeping.
    """

    def __init__(self, config: Config, block_manager: BlockManager) -> None:
        self.config = config
        self.bm = block_manager
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.num_preemptions = 0
        self.num_prompt_tokens = 0
        self.num_cached_prompt_tokens = 0
        self.num_recomputed_tokens = 0
        self.num_host_cached_prompt_tokens = 0

    @property
    def num_unfinished(self) -> int:
        return len(self.waiting) + len(self.running)

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def abort(self, seq: Sequence) -> None:
        """Finish ``seq`` now (client gone, stop string) and release its blocks."""
        if seq.is_finished:
            return
        if seq in self.running:
            self.running.remove(seq)
            self.bm.free_seq(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        seq.status = SequenceStatus.FINISHED
        seq.finish_reason = seq.finish_reason or "abort"

    def preempt_all(self) -> None:
        """Preempt every running sequence (newest first, so the oldest ends up first in
        the waiting queue): used to recover after a step raised part-way."""
        for seq in reversed(list(self.running)):
            self._preempt(seq)

    # -- one step ------------------------------------------------------------------------

    def schedule(self) -> Batch:
        budget = self.config.max_num_batched_tokens
        batch = Batch()
        decodes = [s for s in self.running if s.is_decode]
        for seq in decodes:
            if seq.status is not SequenceStatus.RUNNING:
                continue  # preempted below to make room for an older decode
            while not self.bm.can_append(seq):
                victim = self.running[-1]
                self._preempt(victim)
                if victim is seq:
                    break
            if seq.status is SequenceStatus.RUNNING:
                self.bm.append_slot(seq)
                batch.items.append((seq, 1))
                budget -= 1
        batch.num_decodes = len(batch.items)
        for seq in self.running:
            if budget <= 0:
                break
            if not seq.is_decode:
                n = min(seq.num_uncomputed_tokens, budget)
                batch.items.append((seq, n))
                budget -= n
        while budget > 0 and self.waiting and len(self.running) < self.config.max_num_seqs:
            seq = self._next_waiting()
            if not self.bm.can_allocate(seq, reserve=self._reserve()):
                break
            self._admit(seq)
            n = min(seq.num_uncomputed_tokens, budget)
            batch.items.append((seq, n))
            budget -= n
        return batch

    def postprocess(self, batch: Batch, sampled: list[int], eos_ids: frozenset[int]
                    ) -> list[Sequence]:
        """Advance the batch's sequences by what was computed and sampled.

        ``sampled`` has one token per sequence whose context was completed this step, in
        batch order. Returns the sequences that finished.
        """
        finished: list[Sequence] = []
        it = iter(sampled)
        for seq, n in batch.items:
            seq.num_computed_tokens += n
            self.bm.commit(seq)
            if seq.num_computed_tokens < seq.num_tokens:
                continue  # a prefill chunk that does not reach the end yet
            token = next(it)
            seq.token_ids.append(token)
            reason = self._stop_reason(seq, token, eos_ids)
            if reason is not None:
                self.finish(seq, reason)
                finished.append(seq)
        return finished

    def finish(self, seq: Sequence, reason: str) -> None:
        seq.finish_reason = reason
        seq.status = SequenceStatus.FINISHED
        self.running.remove(seq)
        if seq.session_id is not None:  # this turn's blocks are the session's prefix now
            self.bm.protect_session(seq.session_id, list(seq.block_hashes), time.monotonic())
        self.bm.free_seq(seq)

    # -- internals -----------------------------------------------------------------------

    def _stop_reason(self, seq: Sequence, token: int, eos_ids: frozenset[int]) -> str | None:
        p = seq.params
        if token in p.stop_token_ids or (not p.ignore_eos and token in eos_ids):
            return "stop"
        assert self.config.max_model_len is not None
        if seq.num_output_tokens >= p.max_tokens or seq.num_tokens >= self.config.max_model_len:
            return "length"
        return None

    def _reserve(self) -> int:
        """Blocks admission leaves free: one per running decode about to cross a block."""
        return self.config.watermark_blocks

    def _next_waiting(self) -> Sequence:
        """Preempted first; then one starved past the bound; then the shortest."""
        head = self.waiting[0]
        if head.num_preemptions or head.num_skips >= self.config.fairness_bound:
            return head
        return min(self.waiting, key=lambda s: (s.num_tokens, s.arrival))

    def _admit(self, seq: Sequence) -> None:
        for other in self.waiting:
            if other.arrival < seq.arrival:
                other.num_skips += 1
        self.waiting.remove(seq)
        cached = self.bm.allocate(seq)
        if seq.num_lost_tokens:  # preempted: what the prefix cache did not keep is redone
            self.num_recomputed_tokens += max(0, seq.num_lost_tokens - cached)
            seq.num_lost_tokens = 0
        if seq.num_cached_tokens is None:
            seq.num_cached_tokens = cached
            seq.num_host_cached_tokens = seq.last_host_hit_tokens
            self.num_prompt_tokens += seq.num_prompt_tokens
            self.num_cached_prompt_tokens += cached
            self.num_host_cached_prompt_tokens += seq.last_host_hit_tokens
        seq.status = SequenceStatus.RUNNING
        self.running.append(seq)

    def _preempt(self, seq: Sequence) -> None:
        """Free ``seq``'s blocks and queue it first; its tokens are recomputed later."""
        self.running.remove(seq)
        seq.num_lost_tokens = seq.num_computed_tokens
        self.bm.free_seq(seq)
        seq.status = SequenceStatus.WAITING
        seq.num_preemptions += 1
        self.num_preemptions += 1
        self.waiting.appendleft(seq)
