"""How long to wait before each retry."""

from __future__ import annotations

import random


def delay(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): doubling from ``base`` up to
    ``cap``."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return max(base * 2 ** attempt, cap)


def jittered(attempt: int, rng: random.Random, base: float = 0.5, cap: float = 30.0) -> float:
    """``delay`` scaled by a random factor in [0.5, 1) ("equal jitter")."""
    return delay(attempt, base, cap) * (0.5 + rng.random() / 2)
