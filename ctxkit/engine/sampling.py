"""SamplingParams and the batched sampler (greedy, temperature, top-k, top-p, seed).

Owns how a next token is drawn from logits, on the device, for a whole batch in one pass.
Randomness comes from a counter-based hash of (seed, position, token id), so a seeded
request draws the same tokens whatever else is in its batch and after a preemption.
Knows nothing of sequences or the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._errors import UserError

if TYPE_CHECKING:
    import torch


MIN_SEED, MAX_SEED = -(2 ** 63), 2 ** 63 - 1  # seeds live in int64 tensors
MAX_TOP_K = 2 ** 31 - 1


@dataclass(slots=True, kw_only=True)
class SamplingParams:
    """How to draw tokens for one request.

    Attributes:
        temperature: 0 for greedy; otherwise logits are divided by it.
        top_p: nucleus sampling mass (1.0 = off).
        top_k: keep the k most likely tokens (0 = off).
        max_tokens: most tokens to generate.
        seed: makes sampling reproducible per request (None: drawn from the engine's seed).
        stop_token_ids: extra token ids that end generation.
        stop: strings that end generation (the text is cut before them).
        ignore_eos: keep generating past the model's end-of-sequence tokens.
        detokenize: decode output text (off for benchmarks that only count tokens).
        logprobs: report each sampled token's log-probability under the model (raw
            logits, before temperature and filters) and this many most likely
            alternatives (None: off; 0: the sampled token only; at most 20).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int = 256
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    stop: tuple[str, ...] = field(default_factory=tuple)
    ignore_eos: bool = False
    detokenize: bool = True
    logprobs: int | None = None

    def __post_init__(self) -> None:
        if self.logprobs is not None and not 0 <= self.logprobs <= MAX_LOGPROBS:
            raise UserError(f"logprobs must be in [0, {MAX_LOGPROBS}], got {self.logprobs}")
        if not 0 <= self.temperature < float("inf"):  # NaN fails too
            raise UserError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.top_k <= MAX_TOP_K:
            raise UserError(f"top_k must be in [0, {MAX_TOP_K}] (0 turns it off), "
                            f"got {self.top_k}")
        if self.seed is not None and not MIN_SEED <= self.seed <= MAX_SEED:
            raise UserError(f"seed must fit in 64 bits ([{MIN_SEED}, {MAX_SEED}]), "
                            f"got {self.seed}")
        if self.max_tokens < 1:
            raise UserError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if isinstance(self.stop, str):
            self.stop = (self.stop,)
        self.stop = tuple(self.stop)
        self.stop_token_ids = tuple(self.stop_token_ids)


MAX_LOGPROBS = 20

_M1 = 0x5851F42D4C957F2D  # odd 64-bit constants that fit int64
_M2 = 0x14057B7EF767814F
_M3 = -0x61C8864680B583EB


def _shr(x: torch.Tensor, n: int) -> torch.Tensor:
    """Logical right shift on int64 (torch's ``>>`` is arithmetic)."""
    return (x >> n) & ((1 << (64 - n)) - 1)


def uniform_noise(seeds: torch.Tensor, positions: torch.Tensor, vocab: int) -> torch.Tensor:
    """Uniform (0, 1) floats, [B, vocab], a pure function of (seed, position, token id)."""
    import torch

    ids = torch.arange(vocab, device=seeds.device, dtype=torch.int64)
    x = seeds[:, None] * _M1 + positions[:, None] * _M2 + ids[None, :] * _M3
    x = x ^ _shr(x, 31)
    x = x * _M2
    x = x ^ _shr(x, 29)
    x = x * _M1
    x = x ^ _shr(x, 32)
    return (_shr(x, 40).to(torch.float32) + 0.5) * (1.0 / (1 << 24))


def sample(logits: torch.Tensor, temperature: torch.Tensor, top_p: torch.Tensor,
           top_k: torch.Tensor, seeds: torch.Tensor, positions: torch.Tensor,
           *, use_filters: bool = True) -> torch.Tensor:
    """Next tokens for a batch.

    Args:
        logits: [B, V] float32.
        temperature: [B] float32; rows with 0 are greedy.
        top_p: [B] float32 in (0, 1].
        top_k: [B] int64, 0 = off.
        seeds: [B] int64 per-request seeds.
        positions: [B] int64 index of the token being drawn (the noise counter).
        use_filters: False when no row uses top-p/top-k (skips the sort).

    Returns:
        [B] int64 token ids.
    """
    import torch

    greedy = logits.argmax(dim=-1)
    if bool((temperature == 0).all()):
        return greedy
    vocab = logits.shape[-1]
    scaled = logits / temperature.clamp_min(1e-5)[:, None]  # [B, V]
    if use_filters:
        sorted_logits, order = scaled.sort(dim=-1, descending=True)  # [B, V]
        ranks = torch.arange(vocab, device=logits.device)[None, :]
        k = torch.where(top_k > 0, top_k, vocab)[:, None]
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs
        drop = (ranks >= k) | (mass_before > top_p[:, None])
        drop[:, 0] = False
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        scaled = torch.empty_like(scaled).scatter_(1, order, sorted_logits)
    gumbel = -torch.log(-torch.log(uniform_noise(seeds, positions, vocab)))  # [B, V]
    drawn = (scaled + gumbel).argmax(dim=-1)
    return torch.where(temperature == 0, greedy, drawn)
