"""Page links under a listing: first, last, and a window around the current page."""

from __future__ import annotations

from .paginate import num_pages


def page_links(total: int, per_page: int, current: int, window: int = 2) -> list[int | None]:
    """Page numbers to show, with None where a gap ("…") goes."""
    last = num_pages(total, per_page)
    shown = {1, last, *range(current - window, current + window + 1)}
    pages = sorted(p for p in shown if 1 <= p <= last)
    out: list[int | None] = []
    for p in pages:
        if out and p - (out[-1] or 0) > 1:
            out.append(None)
        out.append(p)
    return out
