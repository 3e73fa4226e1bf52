"""Amounts in integer cents."""

from __future__ import annotations


def format_cents(cents: int) -> str:
    """``1234`` -> ``"12.34"`` (negative amounts keep their sign)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def split(amount_cents: int, parts: int) -> list[int]:
    """Split ``amount_cents`` into ``parts`` shares that add up to it exactly."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    share = amount_cents // parts
    return [share] * parts
