"""memoize: cache a one-argument function's results in an LRUCache."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .lru import LRUCache


def memoize(capacity: int = 128) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorator: remember up to ``capacity`` results, forgetting the oldest-used first."""

    def wrap(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        cache: LRUCache[Any, Any] = LRUCache(capacity)
        missing = object()

        @functools.wraps(fn)
        def inner(arg: Any) -> Any:
            value = cache.get(arg, missing)
            if value is missing:
                value = fn(arg)
                cache.put(arg, value)
            return value

        inner.cache = cache  # type: ignore[attr-defined]
        return inner

    return wrap
