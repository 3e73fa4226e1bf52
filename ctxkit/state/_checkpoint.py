"""Checkpoint and resume of a WorkingState: to a JSON file or to the memory store, behind one
small interface. The state is typed ``Any`` here: this module sits below the model, which
calls it from ``checkpoint``/``resume``, so it must not import the model.

Owns the checkpoint document (the state, its version, its diffs), the two Checkpointers,
and resume: files the state references are re-read from disk — never trusted from the
old copy — facts taken from a file that changed are dropped, and a short "where we are"
message is written for the history. Knows nothing of pipelines beyond appending a block.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._block import Block, Provenance, canonical_json
from .._errors import StoreError, UserError
from ._items import StateDiff

SCHEMA = 1
EXCERPT_LINES = 40


@runtime_checkable
class Checkpointer(Protocol):
    """Where checkpoints go: ``save`` returns where it wrote, ``load`` the latest or None."""

    def save(self, data: dict[str, Any]) -> str: ...

    def load(self) -> dict[str, Any] | None: ...


class FileCheckpoint:
    """Checkpoints in one JSON file, replaced atomically on each save."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def save(self, data: dict[str, Any]) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, ensure_ascii=False, indent=1))
        os.replace(tmp, self.path)
        return str(self.path)

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            out = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"checkpoint {self.path} is unreadable ({exc}); restore it or "
                             "start from a fresh WorkingState") from exc
        if not isinstance(out, dict):
            raise StoreError(f"checkpoint {self.path} is not a ctxkit state checkpoint")
        return out


class MemoryCheckpoint:
    """Checkpoints as records of a ``ctxkit.memory.MemoryStore`` (kind ``state_checkpoint``,
    ``source_ref`` = ``name``); the newest one is loaded."""

    kind = "state_checkpoint"

    def __init__(self, store: Any, scope: Any, *, name: str = "state") -> None:
        self.store, self.scope, self.name = store, scope, name

    def save(self, data: dict[str, Any]) -> str:
        rec = self.store.write(self.scope, canonical_json(data), tier="episodic",
                               kind=self.kind, source="system", source_ref=self.name,
                               meta={"version": data.get("version")})
        return str(rec.id)

    def load(self) -> dict[str, Any] | None:
        recs = [r for r in self.store.list(self.scope, kinds=[self.kind], source="system")
                if r.source_ref == self.name]
        if not recs:
            return None
        try:
            return dict(json.loads(recs[-1].content))
        except ValueError as exc:
            raise StoreError(f"memory record {recs[-1].id} is not a state checkpoint") from exc


def as_checkpointer(target: Checkpointer | str | os.PathLike[str]) -> Checkpointer:
    if isinstance(target, (str, os.PathLike)):
        return FileCheckpoint(target)
    if isinstance(target, Checkpointer):
        return target
    raise UserError(f"cannot checkpoint to {type(target).__name__}; pass a file path, "
                    "FileCheckpoint(path) or MemoryCheckpoint(store, scope)")


def save(state: Any, target: Checkpointer | str | os.PathLike[str]) -> str:
    """Write ``state`` (with its diffs) as a checkpoint; returns where it went."""
    state.commit()
    data = {"schema": SCHEMA, "class": type(state).__qualname__, "version": state.version,
            "state": state.model_dump(mode="json"), "base": state._base,
            "diffs": [d.model_dump(mode="json") for d in state.diffs]}
    return as_checkpointer(target).save(data)


@dataclass(slots=True)
class Resumed:
    """A state brought back from a checkpoint, and what the agent should be told.

    Attributes:
        state: the resumed state (its files already re-read).
        message: the "where we are" text.
        files: ``(path, status)`` for each referenced file: unchanged, changed, missing.
    """

    state: Any
    message: str
    files: list[tuple[str, str]] = field(default_factory=list)

    def block(self) -> Block:
        """The message as a history block (a user message the model reads once)."""
        return Block(layer="history", role="user", content=self.message,
                     key=f"resume:v{self.state.version}",
                     provenance=Provenance(source="system", ref="checkpoint"))

    def add_to(self, pipe: Any) -> None:
        """Append the message to ``pipe``'s session (or a Session) before its next run."""
        session = getattr(pipe, "session", pipe)
        session.transcript.append(self.block())


def resume(cls: type[Any], target: Checkpointer | str | os.PathLike[str], *,
           root: str | os.PathLike[str] | None = None) -> Resumed:
    """Load the latest checkpoint as ``cls``, re-read its files and say where we are."""
    data = as_checkpointer(target).load()
    if data is None:
        raise StoreError(f"no checkpoint found in {target!r}; save one with "
                         "state.checkpoint(...) first")
    if data.get("schema") != SCHEMA or "state" not in data:
        raise StoreError(f"{target!r} holds no ctxkit state checkpoint (schema {SCHEMA})")
    try:
        state = cls.model_validate(data["state"])
    except ValueError as exc:
        raise StoreError(f"the checkpoint's state does not fit {cls.__name__} ({exc}); was it "
                         f"saved from {data.get('class')!r}?") from exc
    state._base = dict(data.get("base") or data["state"])
    state._diffs = [StateDiff.model_validate(d) for d in data.get("diffs") or []]
    state._version = int(data.get("version", len(state._diffs)))
    state._snapshot = state.model_dump(mode="json")
    files, fresh = _reread(state, Path(root) if root is not None else None)
    return Resumed(state, _where_we_are(state, files, fresh), files)


def _reread(state: Any, root: Path | None) -> tuple[list[tuple[str, str]], dict[str, str]]:
    statuses: list[tuple[str, str]] = []
    fresh: dict[str, str] = {}
    ops: list[dict[str, Any]] = []
    stale: set[str] = set()
    for i, ref in enumerate(state.files):
        path = Path(ref.path)
        if root is not None and not path.is_absolute():
            path = root / path
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            statuses.append((ref.path, "missing"))
            stale.add(ref.path)
            continue
        sha = hashlib.sha256(text.encode()).hexdigest()
        if sha == ref.sha256:
            statuses.append((ref.path, "unchanged"))
            continue
        statuses.append((ref.path, "changed"))
        stale.add(ref.path)
        fresh[ref.path] = text
        ops.append({"op": "replace", "path": f"/files/{i}/sha256", "value": sha})
    for j in range(len(state.facts) - 1, -1, -1):
        f = state.facts[j]
        if f.source == "file" and f.ref in stale:
            ops.append({"op": "remove", "path": f"/facts/{j}"})
    if ops:
        state.apply(ops, by="resume", why="files re-read on resume; facts from changed "
                    "or missing files dropped")
    return statuses, fresh


def _where_we_are(state: Any, files: list[tuple[str, str]], fresh: dict[str, str]) -> str:
    lines = [f"Resuming from a checkpoint (state v{state.version}). Where we are:"]
    if state.goal:
        lines.append(f"Goal: {state.goal}")
    done = [s for s in state.plan if s.status == "done"]
    nxt = next((s for s in state.plan if s.status in ("doing", "todo", "blocked")), None)
    if state.plan:
        lines.append(f"Plan: {len(done)} of {len(state.plan)} steps done"
                     + (f"; next: {nxt.id}. {nxt.text} ({nxt.status})" if nxt else ""))
    if state.blockers:
        lines.append("Blockers: " + "; ".join(state.blockers))
    if state.open_questions:
        lines.append("Open questions: " + "; ".join(state.open_questions))
    if files:
        lines.append("Files re-read from disk (not trusted from before): " + ", ".join(
            f"{p} ({s})" for p, s in files))
    for path, text in fresh.items():
        body = text.split("\n")
        more = len(body) - EXCERPT_LINES
        lines.append(f"--- {path} (now) ---")
        lines += body[:EXCERPT_LINES]
        if more > 0:
            lines.append(f"[... {more} more lines ...]")
    return "\n".join(lines)
