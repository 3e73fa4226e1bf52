"""retry: call a function until it succeeds or the attempts run out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .backoff import delay

T = TypeVar("T")


class RetryError(Exception):
    """Every attempt failed; ``__cause__`` is the last error."""


def retry(fn: Callable[[], T], attempts: int = 5, *, base: float = 0.5, cap: float = 30.0,
          retry_on: tuple[type[BaseException], ...] = (Exception,),
          sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, retried up to ``attempts`` times in all, waiting ``delay(i)`` between."""
    last: BaseException | None = None
    for i in range(attempts):
        try:
            return fn()
        except retry_on as exc:
            last = exc
            if i + 1 < attempts:
                sleep(delay(i, base, cap))
    raise RetryError(f"gave up after {attempts} attempts") from last
