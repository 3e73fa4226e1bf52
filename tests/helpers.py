"""Shared builders for the core tests."""

from __future__ import annotations

from typing import Any

from ctxkit import ContextPipeline
from ctxkit.layers import History, Prefix
from ctxkit.testing import ScriptedBackend

LONG_SYSTEM = ("You are a careful coding agent. Read before you edit; run the tests after "
               "every change; explain what you changed and why. ") * 60


def read_file(path: str, start: int = 1, end: int | None = None) -> str:
    """Read lines of a file in the repository."""
    return f"<contents of {path} lines {start}-{end}>"


def grep(pattern: str, glob: str = "**/*.py") -> str:
    """Search files for a regular expression."""
    return f"<matches of {pattern} in {glob}>"


def make_pipe(responses: list[Any], *, system: str = LONG_SYSTEM, tools: list[Any] | None = None,
              model: str = "scripted", **kw: Any) -> ContextPipeline:
    return ContextPipeline(
        backend=ScriptedBackend(responses, model=model),
        layers=[Prefix(system=system, tools=tools if tools is not None else [read_file, grep]),
                History()],
        **kw,
    )
