"""A least-recently-used cache and a memoize decorator."""

from .lru import LRUCache
from .memo import memoize

__all__ = ["LRUCache", "memoize"]
