"""Tool search: a large toolset without a large (or unstable) cached prefix.

Owns the split of a toolset and the two tools that reach the deferred part. Below the
threshold every tool's schema sits in the cached prefix. Above it, a stable core set does,
with ``search_tools`` and ``call_tool``; the other tools' schemas never enter the prefix.
``search_tools(query)`` answers with the schemas of the best matching tools — a tool
result, appended to the history like any other, so the cached prefix stays byte-identical
— and marks them loaded; ``call_tool(name, arguments)`` runs a loaded tool. Loading a
tool therefore costs one tool result's tokens and never a cache miss, on every provider
(tools are rendered ahead of the system prompt on the wire, so adding one there would
invalidate everything cached). Knows nothing of models or the pipeline.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from ctxkit import UserError, canonical_json
from ctxkit.tools import ToolError, tool_schema

DEFAULT_THRESHOLD = 20
_WORD = re.compile(r"[a-z0-9]+")


def _terms(text: str) -> set[str]:
    words = set(_WORD.findall(text.lower().replace("_", " ")))
    return words | {w[:-1] for w in words if w.endswith("s") and len(w) > 3}


class ToolSearch:
    """The deferred part of a toolset, behind ``search_tools`` and ``call_tool``.

    Args:
        tools: the deferred tools (Python callables with docstrings and typed arguments).
        k: how many tools a search returns at most.
    """

    def __init__(self, tools: Sequence[Callable[..., Any]], *, k: int = 3) -> None:
        self.tools: dict[str, Callable[..., Any]] = {}
        self.schemas: dict[str, dict[str, Any]] = {}
        for fn in tools:
            schema = tool_schema(fn)
            self.tools[schema["name"]] = fn
            self.schemas[schema["name"]] = schema
        self.k = k
        self.loaded: list[str] = []

    def functions(self) -> list[Callable[..., str]]:
        """The two tools that go into the cached prefix."""
        return [self.search_tools, self.call_tool]

    def search_tools(self, query: str) -> str:
        """Find more tools: describe what you need (e.g. "outline the functions of a
        file"); returns the best matching tools' names, descriptions and argument schemas.
        Call one of them with call_tool.

        Args:
            query: what the tool should do, in a few words.
        """
        q = _terms(query)
        if not q:
            raise ToolError("search_tools needs a query: describe what the tool should do")
        scored = []
        for name, s in self.schemas.items():
            doc = _terms(f"{name} {s['description']} {inspect.getdoc(self.tools[name]) or ''}")
            score = len(q & doc) + 2 * len(q & _terms(name))
            if score:
                scored.append((-score, name))
        found = [name for _, name in sorted(scored)[:self.k]]
        if not found:
            return ("no tool matches that; the deferred tools are: "
                    + ", ".join(sorted(self.schemas)))
        for name in found:
            if name not in self.loaded:
                self.loaded.append(name)
        return "\n".join(canonical_json(self.schemas[n]) for n in found) + \
            "\n(call these with call_tool(name, arguments))"

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """Call a tool that search_tools returned: pass its name and its arguments as an
        object, e.g. call_tool("outline", {"path": "pkg/module.py"}).

        Args:
            name: the tool's name, as search_tools printed it.
            arguments: the tool's arguments, matching its input_schema.
        """
        if name not in self.tools:
            raise ToolError(f"no deferred tool {name!r}; call search_tools to find one "
                            "(the core tools are called directly, not through call_tool)")
        if name not in self.loaded:
            raise ToolError(f"{name!r} is not loaded yet; call search_tools first so you "
                            "see its arguments")
        args = arguments or {}
        if isinstance(args, str):  # some models send the object as a JSON string
            try:
                args = json.loads(args)
            except ValueError:
                raise ToolError(f"arguments for {name} must be a JSON object, got "
                                f"{args!r}") from None
        fn = self.tools[name]
        try:
            inspect.signature(fn).bind(**args)
        except TypeError as exc:
            schema = canonical_json(self.schemas[name]["input_schema"])
            raise ToolError(f"bad arguments for {name}: {exc}; its input_schema is "
                            f"{schema}") from None
        return str(fn(**args))


def split_toolset(core: Sequence[Callable[..., Any]], extra: Sequence[Callable[..., Any]],
                  threshold: int = DEFAULT_THRESHOLD
                  ) -> tuple[list[Callable[..., Any]], ToolSearch | None]:
    """(the tools for the prefix, the ToolSearch serving the rest or None).

    At most ``threshold`` tools in all: every one goes into the prefix. More: the core set
    and the two search tools go there, the extra ones behind them.
    """
    if threshold < len(core):
        raise UserError(f"tool search threshold {threshold} is below the {len(core)} core "
                        "tools; raise it")
    if len(core) + len(extra) <= threshold:
        return [*core, *extra], None
    search = ToolSearch(extra)
    return [*core, *search.functions()], search
