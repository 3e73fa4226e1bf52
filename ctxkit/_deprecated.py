"""Deprecated public names: one release of grace, one warning each.

Owns ``aliases``, which builds a module-level ``__getattr__`` mapping an old name to its new
object, and ``warn_once`` for an old way of doing something (an attribute, a call form).
The first use of each warns (``DeprecationWarning``) with what to use instead; later uses
are silent. Knows nothing of what the names mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

_warned: set[str] = set()


def aliases(module: str, renamed: dict[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``renamed``: old name -> (new name, object)."""

    def __getattr__(name: str) -> Any:
        if name not in renamed:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, obj = renamed[name]
        key = f"{module}.{name}"
        if key not in _warned:
            _warned.add(key)
            warnings.warn(f"{key} is deprecated and will be removed in the next release; "
                          f"use {new}", DeprecationWarning, stacklevel=2)
        return obj

    return __getattr__


def warn_once(key: str, message: str, *, stacklevel: int = 3) -> None:
    """Warn ``message`` (a DeprecationWarning) the first time ``key`` is used."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)
