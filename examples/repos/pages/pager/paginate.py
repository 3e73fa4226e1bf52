"""Split a sequence into numbered pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def num_pages(total: int, per_page: int) -> int:
    """How many pages ``total`` items fill at ``per_page`` items a page (at least one)."""
    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    return max(1, total // per_page)


@dataclass
class Page(Generic[T]):
    """One page of a listing."""

    number: int
    items: list[T]
    has_next: bool
    has_previous: bool


class Paginator(Generic[T]):
    """Pages over ``items``, ``per_page`` at a time."""

    def __init__(self, items: Sequence[T], per_page: int = 10) -> None:
        self.items = items
        self.per_page = per_page
        self.num_pages = num_pages(len(items), per_page)

    def page(self, number: int) -> Page[T]:
        """Page ``number`` (1-based)."""
        if not 1 <= number <= self.num_pages:
            raise ValueError(f"page {number} out of range 1..{self.num_pages}")
        start = (number - 1) * self.per_page
        return Page(number=number, items=list(self.items[start:start + self.per_page]),
                    has_next=number < self.num_pages, has_previous=number > 1)
