"""The agent's memory: one ctxkit MemoryStore, two scopes, and a log of failures.

Owns where memory lives (``<home>/memory.db`` with its LanceDB vectors beside it), the
two scopes the agent reads and writes, and ``FailureLog``:

* the **user** scope (``Scope(tenant, user, session)``) holds the user's preferences —
  semantic records the ``Memory`` layer reads once per session into the cached prefix —
  and the turns compaction drops (written there before they leave the prompt);
* the **repository** scope (the same tenant, user ``<user>@<repo key>``) holds episodic
  records of failed tool calls in that repository — a failing test run, a refused edit,
  a command that exited non-zero — with their errors, which the ``Recall`` layer brings
  back per call. Keeping them apart keeps one repository's failures out of another's
  prompts, and keeps compacted chatter out of recall.

A failure is written with the exact text of its tool result, so while that result is
still in the history, ``Recall`` skips it (it dedupes by content); once compaction has
dropped it, or in a later (resumed) session, recall shows it again. Knows nothing of
models.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ctxkit import Block, Session
from ctxkit.canonical import REFERENCE_PREFIX
from ctxkit.memory import MemoryStore, MemoryWriter, Scope

TENANT = "local"
_EXIT = re.compile(r"^exit code (\d+)")


def open_store(home: Path, *, embedder: Any = None) -> MemoryStore:
    """The store at ``<home>/memory.db`` (created if missing); ``embedder`` None means the
    default model, loaded when first needed."""
    home.mkdir(parents=True, exist_ok=True)
    return MemoryStore(f"sqlite:///{home / 'memory.db'}", embedder=RepeatCache(embedder))


class RepeatCache:
    """An embedder that remembers its last single-text answers: Recall searches with the
    same query on every step of a tool loop, and a query costs a forward pass."""

    def __init__(self, inner: Any = None, size: int = 16) -> None:
        self._inner = inner
        self._size = size
        self._memo: OrderedDict[str, Any] = OrderedDict()

    @property
    def inner(self) -> Any:
        if self._inner is None:
            from ctxkit.embeddings import default_embedder

            self._inner = default_embedder()
        return self._inner

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed(self, texts: list[str]) -> Any:
        if len(texts) == 1 and texts[0] in self._memo:
            self._memo.move_to_end(texts[0])
            return self._memo[texts[0]][None, :]
        out = self.inner.embed(texts)
        if len(texts) == 1:
            self._memo[texts[0]] = out[0]
            if len(self._memo) > self._size:
                self._memo.popitem(last=False)
        return out


def repo_key(repo: Path) -> str:
    """A stable short name for a repository: its directory name and a hash of its path."""
    path = str(repo.resolve())
    return f"{repo.name}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def user_scope(user: str, session: str) -> Scope:
    return Scope(tenant=TENANT, user=user, session=session)


def repo_scope(user: str, repo: Path, session: str) -> Scope:
    return Scope(tenant=TENANT, user=f"{user}@{repo_key(repo)}", session=session)


def is_failure(block: Block) -> bool:
    """A tool result that reports a failure: an error, or a command or test run that
    exited non-zero."""
    if block.kind != "tool_result" or block.content.startswith(REFERENCE_PREFIX):
        return False
    if block.is_error:
        return True
    m = _EXIT.match(block.content)
    return m is not None and m.group(1) != "0"


class FailureLog(MemoryWriter):  # type: ignore[misc]  # lazily imported: Any to mypy
    """A MemoryWriter with one policy: every failed tool result of a session goes to
    episodic memory, once (nothing else: no write-through of successes, no salience).

    Used as ``Recall(store, scope=..., writer=FailureLog(store, scope))``: the Recall layer
    calls ``observe`` on every call, before it searches.
    """

    def __init__(self, store: MemoryStore, scope: Scope) -> None:
        super().__init__(store, scope, tool_results=False, salience=None)
        self._failures: set[str] = set()

    def observe(self, session: Session) -> list[str]:
        calls = {b.call_id: b for b in session.transcript if b.kind == "tool_use"}
        items = []
        for b in session.transcript:
            if b.hash in self._failures or not is_failure(b):
                continue
            self._failures.add(b.hash)
            call = calls.get(b.call_id)
            items.append(dict(content=b.content, tier="episodic", kind="failed_attempt",
                              source="tool", source_ref=b.name, trust="untrusted",
                              meta={"call": call.content if call is not None else None,
                                    "tool": b.name}))
        ids = [r.id for r in self.store.write_many(self.scope, items)] if items else []
        self.written += ids
        return ids
