"""Ranges like ``>=1.2.0,<2.0.0``: every comparison must hold."""

from __future__ import annotations

import operator
from collections.abc import Iterable

from .version import Version, parse

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
        "==": operator.eq}


def satisfies(version: str | Version, spec: str) -> bool:
    """Whether ``version`` meets every comparison in the comma-separated ``spec``."""
    v = parse(version) if isinstance(version, str) else version
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op = next((o for o in sorted(_OPS, key=len, reverse=True) if clause.startswith(o)),
                  None)
        if op is None:
            raise ValueError(f"bad range clause {clause!r}")
        if not _OPS[op](v, parse(clause[len(op):])):
            return False
    return True


def newest(versions: Iterable[str], spec: str = "") -> str | None:
    """The highest of ``versions`` that satisfies ``spec`` (None if none does)."""
    ok = [parse(v) for v in versions if satisfies(v, spec)]
    return str(max(ok)) if ok else None
