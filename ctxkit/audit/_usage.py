"""Provider usage recorded in a log: what a call was *measured* to cost, beside ctxkit's
estimate.

Owns reading the usage shapes providers return (OpenAI and litellm ``prompt_tokens``, which
counts every prompt token, with ``prompt_tokens_details.cached_tokens``; Anthropic
``input_tokens`` (uncached only) with
``cache_read_input_tokens`` and ``cache_creation_input_tokens``; OpenHands' per-call
``token_usages``) into one ``MeasuredUsage``, and summing them. Knows nothing of files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class MeasuredUsage:
    """Prompt-side usage the provider reported for one call.

    Attributes:
        input_tokens: every prompt token, cached or not (Anthropic's three fields summed).
        cache_read_tokens: prompt tokens served from the provider's cache.
        cache_write_tokens: prompt tokens written to the cache (Anthropic), else 0.
        has_cache_fields: whether the usage said anything about caching at all.
    """

    input_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    has_cache_fields: bool = True


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def parse_usage(raw: Any) -> MeasuredUsage | None:
    """The prompt-side usage in a provider's ``usage`` object, or None when it has none."""
    if not isinstance(raw, dict):
        return None
    if "prompt_tokens" in raw:  # OpenAI chat, litellm (any provider), OpenHands
        details = raw.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        for key in ("cache_read_tokens", "cache_read_input_tokens"):
            if raw.get(key) is not None:
                cached = raw.get(key)
        write = _int(raw.get("cache_write_tokens") or raw.get("cache_creation_input_tokens"))
        has = cached is not None or "cache_write_tokens" in raw \
            or "cache_creation_input_tokens" in raw
        return MeasuredUsage(_int(raw.get("prompt_tokens")), _int(cached), write, has)
    if "input_tokens" in raw or "cache_read_input_tokens" in raw:  # Anthropic
        read = _int(raw.get("cache_read_input_tokens"))
        write = _int(raw.get("cache_creation_input_tokens"))
        has = "cache_read_input_tokens" in raw or "cache_creation_input_tokens" in raw
        return MeasuredUsage(_int(raw.get("input_tokens")) + read + write, read, write, has)
    return None


@dataclass(slots=True)
class MeasuredTotals:
    """Measured usage summed over the calls that carried it."""

    calls: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated_read_tokens: int = 0  # ctxkit's estimate over the same calls
    estimated_input_tokens: int = 0

    def add(self, usage: MeasuredUsage, estimated_read: int, estimated_input: int) -> None:
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.cache_read_tokens += usage.cache_read_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.estimated_read_tokens += estimated_read
        self.estimated_input_tokens += estimated_input

    def merge(self, other: MeasuredTotals) -> None:
        for f in ("calls", "input_tokens", "cache_read_tokens", "cache_write_tokens",
                  "estimated_read_tokens", "estimated_input_tokens"):
            setattr(self, f, getattr(self, f) + getattr(other, f))

    @property
    def hit_rate(self) -> float:
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def estimated_hit_rate(self) -> float:
        n = self.estimated_input_tokens
        return self.estimated_read_tokens / n if n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "input_tokens": self.input_tokens,
                "cache_read_tokens": self.cache_read_tokens,
                "cache_write_tokens": self.cache_write_tokens, "hit_rate": self.hit_rate,
                "estimated_input_tokens": self.estimated_input_tokens,
                "estimated_read_tokens": self.estimated_read_tokens,
                "estimated_hit_rate": self.estimated_hit_rate,
                "hit_rate_difference": self.estimated_hit_rate - self.hit_rate}
