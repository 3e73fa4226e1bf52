"""capture_calls(): observe every call any pipeline makes inside a ``with`` block.

Owns the registry of active captures; the pipeline publishes each (draft, record) to it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_lock = threading.Lock()
_active: list[Captured] = []


@dataclass(eq=False)  # identity: nested captures must remove themselves, not an equal one
class Captured:
    """What a capture saw: one (draft, record) pair per model call, in order."""

    calls: list[tuple[Any, Any]] = field(default_factory=list)

    @property
    def drafts(self) -> list[Any]:
        return [d for d, _ in self.calls]

    @property
    def records(self) -> list[Any]:
        return [r for _, r in self.calls]

    def __len__(self) -> int:
        return len(self.calls)


def publish(draft: Any, record: Any) -> None:
    with _lock:
        targets = list(_active)
    for c in targets:
        c.calls.append((draft, record))


@contextmanager
def capture_calls() -> Iterator[Captured]:
    """Collect the Draft and CallRecord of every model call made inside the block."""
    cap = Captured()
    with _lock:
        _active.append(cap)
    try:
        yield cap
    finally:
        with _lock:
            _active.remove(cap)
