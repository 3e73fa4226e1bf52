"""A bill split between people."""

from __future__ import annotations

from .money import format_cents, split


def split_bill(total_cents: int, people: list[str]) -> dict[str, str]:
    """Who pays what, formatted; the first people pay the odd cents."""
    if not people:
        raise ValueError("a bill needs at least one person")
    shares = split(total_cents, len(people))
    return {name: format_cents(cents) for name, cents in zip(people, shares, strict=True)}
