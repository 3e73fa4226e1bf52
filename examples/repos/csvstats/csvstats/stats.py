"""Statistics of one column."""

from __future__ import annotations

from collections.abc import Iterable


def numbers(cells: Iterable[str]) -> list[float]:
    """The cells that parse as numbers (empty and non-numeric cells are skipped)."""
    out = []
    for cell in cells:
        try:
            out.append(float(cell.replace(",", "")))
        except ValueError:
            continue
    return out


def mean(values: list[float]) -> float | None:
    """The arithmetic mean, or None for no values."""
    return sum(values) / len(values)
