"""Sequence: one request's tokens, KV block table and progress through the engine.

Owns the per-request state the scheduler, block manager and model runner share: the token
ids (prompt, then output), how many of them have KV in the pool (``num_computed_tokens``),
how many the prefix cache supplied at first admission (``num_cached_tokens``, reported in
usage), the block table and the block hash chain. Knows nothing of tensors.
"""

from __future__ import annotations

import itertools
from enum import Enum, auto

from .sampling import SamplingParams

_ids = itertools.count()


class SequenceStatus(Enum):
    WAITING = auto()
    RUNNING = auto()
    FINISHED = auto()


class Sequence:
    """One request.

    Attributes:
        token_ids: prompt tokens followed by generated tokens.
        num_prompt_tokens: length of the original prompt.
        num_computed_tokens: tokens whose K/V are in the pool; the next step computes from
            here. A sequence in decode has ``num_tokens - 1`` computed (the last sampled
            token is fed in the next step).
        num_cached_tokens: prompt tokens served by the prefix cache at first admission.
        block_table: pool block ids, in order; block i holds tokens [i*bs, (i+1)*bs).
        block_hashes: hash-chain keys of the full blocks registered so far.
        num_skips: admissions of shorter requests that jumped ahead (fairness bound).
    """

    def __init__(self, token_ids: list[int], params: SamplingParams, *, seed: int,
                 request_id: str | None = None, arrival: int = 0) -> None:
        self.seq_id = next(_ids)
        self.request_id = request_id or f"req-{self.seq_id}"
        self.token_ids = list(token_ids)
        self.num_prompt_tokens = len(token_ids)
        self.params = params
        self.seed = seed
        self.arrival = arrival
        self.status = SequenceStatus.WAITING
        self.num_computed_tokens = 0
        self.num_cached_tokens: int | None = None
        self.num_host_cached_tokens = 0  # of those, copied back from the host tier
        self.last_host_hit_tokens = 0  # host-tier hits of the latest admission
        self.session_id: str | None = None
        # per output token, when params.logprobs is set: (logprob, [(token, logprob), ...])
        self.logprobs: list[tuple[float, list[tuple[int, float]]]] = []
        self.block_table: list[int] = []
        self.block_hashes: list[bytes] = []
        self.num_skips = 0
        self.num_preemptions = 0
        self.num_lost_tokens = 0  # K/V dropped by the last preemption, not yet recomputed
        self.finish_reason: str | None = None

    def __repr__(self) -> str:
        return (f"Sequence({self.request_id}, tokens={self.num_tokens}, "
                f"computed={self.num_computed_tokens}, {self.status.name})")

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens:]

    @property
    def is_finished(self) -> bool:
        return self.status is SequenceStatus.FINISHED

    @property
    def is_decode(self) -> bool:
        """All but the last token have K/V: the next step computes exactly one token."""
        return self.num_computed_tokens == self.num_tokens - 1

    @property
    def num_uncomputed_tokens(self) -> int:
        return self.num_tokens - self.num_computed_tokens

    def block_tokens(self, i: int, block_size: int) -> list[int]:
        return self.token_ids[i * block_size:(i + 1) * block_size]
