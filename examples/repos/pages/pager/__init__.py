"""Pagination for result listings."""

from .links import page_links
from .paginate import Page, Paginator, num_pages

__all__ = ["Page", "Paginator", "num_pages", "page_links"]
