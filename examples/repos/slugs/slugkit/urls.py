"""Public URLs of articles."""

from __future__ import annotations

from .slug import slugify


def article_url(article_id: int, title: str) -> str:
    """``/articles/<id>-<slug>``; the id keeps the URL unique when titles repeat."""
    return f"/articles/{article_id}-{slugify(title, max_length=60)}"
