"""URL slugs for article titles."""

from .slug import slugify
from .urls import article_url

__all__ = ["article_url", "slugify"]
