"""Prefix layer: system prompt, tool schemas and project files — the cached head.

Owns turning those inputs into byte-stable blocks: tools in canonical JSON and sorted by
name, project files read from disk (re-read only when they change on disk). Blocks are
rebuilt only when an input changed, so a stable prefix costs nothing per call. Drift
diagnosis itself lives in the pipeline; this layer makes drift rare and nameable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._block import Block, CacheTTL, Provenance, canonical_json
from .._draft import Draft
from .._errors import UserError
from .._tools import tool_schema
from .._types import Turn


class Prefix:
    """System prompt, tools and project files, stable first, with cache TTLs.

    Args:
        system: the system prompt.
        tools: tool schemas (dicts) or Python callables, offered through
            ``draft.add_tool``; callables are run by the pipeline's tool loop.
        project: paths of project files (AGENTS.md, a repo map, docs) or ``(name, text)``
            pairs; files are re-read when their size or mtime changes.
        root: directory that relative project paths are read from (default: cwd).
        ttl: cache TTL for system + tools (``"1h"``: they never change in a deployment).
        project_ttl: cache TTL for project files (``"5m"`` or ``"1h"``).
        sort_tools: keep tools in name order, so the order they were given cannot drift.

    Attributes:
        functions: the callables among ``tools``, by tool name.
    """

    name = "prefix"

    def __init__(self, system: str = "", tools: Sequence[Any] = (),
                 project: Sequence[str | os.PathLike[str] | tuple[str, str]] = (), *,
                 root: str | os.PathLike[str] | None = None, ttl: CacheTTL = "1h",
                 project_ttl: CacheTTL = "5m", sort_tools: bool = True) -> None:
        if not isinstance(system, str):
            raise UserError("Prefix(system=...) must be a str")
        self.system = system
        self.ttl = ttl
        self.project_ttl = project_ttl
        self.root = Path(root) if root is not None else None
        self.functions: dict[str, Callable[..., Any]] = {}
        schemas = []
        for t in tools:
            s = tool_schema(t)
            if callable(t) and not isinstance(t, dict):
                self.functions[s["name"]] = t
            schemas.append(s)
        names = [s["name"] for s in schemas]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UserError(f"duplicate tool names {dupes}; each tool needs a unique name")
        if sort_tools:
            schemas.sort(key=lambda s: s["name"])
        self.tool_blocks = [
            Block(layer=self.name, role="system", kind="tool", name=s["name"],
                  key=f"tool:{s['name']}", content=canonical_json(s),
                  provenance=Provenance(source="system")) for s in schemas]
        self.project = list(project)
        self._files: dict[str, tuple[object, Block]] = {}  # label -> (stamp or text, block)
        self._head: list[Block] | None = None

    def _path(self, p: str | os.PathLike[str]) -> Path:
        path = Path(p)
        return path if path.is_absolute() or self.root is None else self.root / path

    def _project_block(self, item: str | os.PathLike[str] | tuple[str, str]) -> Block:
        if isinstance(item, tuple):
            label, text = item
            hit = self._files.get(label)
            if hit is not None and hit[0] == text:
                return hit[1]
            block = Block(layer=self.name, role="system", key=f"file:{label}",
                          content=f"# {label}\n{text}", provenance=Provenance(source="file",
                                                                               ref=label))
            self._files[label] = (text, block)
            return block
        path = self._path(item)
        try:
            st = path.stat()
        except OSError as exc:
            raise UserError(f"project file {path} is not readable ({exc.strerror}); "
                            "fix the path in Prefix(project=[...])") from exc
        stamp = (st.st_mtime_ns, st.st_size)
        label = str(item)
        hit = self._files.get(label)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        text = path.read_text(encoding="utf-8", errors="replace")
        block = Block(layer=self.name, role="system", key=f"file:{label}",
                      content=f"# {label}\n{text}", provenance=Provenance(source="file",
                                                                           ref=str(path)))
        self._files[label] = (stamp, block)
        return block

    def blocks(self) -> list[Block]:
        """The layer's blocks for this call, with cache TTLs on the last of each group."""
        if self._head is None:
            head: list[Block] = []
            if self.system:
                head.append(Block(layer=self.name, role="system", key="system",
                                  content=self.system, provenance=Provenance(source="system")))
            head += self.tool_blocks
            if head:
                head[-1] = head[-1].replace(cache=self.ttl)
            self._head = head
        files = [self._project_block(p) for p in self.project]
        if files:
            files[-1] = files[-1].replace(cache=self.project_ttl)
        return self._head + files

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        for b in self.blocks():
            if b.kind == "tool":  # the tool loop runs the callables among them
                draft.add_tool(b, run=self.functions.get(str(b.name)))
            else:
                draft.add(b)
        return draft
