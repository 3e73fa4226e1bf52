"""WorkingState: the agent's typed working state (goal, plan, facts, open questions,
blockers), one object instead of five partial copies scattered through the history.

Owns the model, its versioning (every change is a StateDiff: who, when, why, the ops,
the values before) and the one path every change takes: ``apply`` validates a patch
against the whole model and commits it, or raises and changes nothing. Users subclass to
add fields, and the compact text the model sees (``render``). Knows nothing of tools
(``_tool``) or of where checkpoints are stored (``_checkpoint``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_core import to_jsonable_python

from .._block import canonical_json
from ._items import STATUS_MARK, Fact, FileRef, PlanStep, StateDiff, ToolNote, milestone_tags
from ._patch import PatchOp, StatePatchError, apply_ops, parse_ops


class WorkingState(BaseModel):
    """The agent's working state. Subclass it to add fields::

        class AgentState(ctxkit.WorkingState):
            branch: str = "main"

    Change it with ``apply`` (a patch), the helpers (``set_goal``, ``complete_step``,
    ``add_fact`` ...), plain assignment to a field, or the ``update_state`` tool: each
    leaves a StateDiff in ``diffs`` and bumps ``version``. Nested objects changed in place
    are committed as a diff by ``commit`` (the State layer calls it before rendering).

    Attributes:
        goal: what the agent is trying to achieve.
        plan: ordered steps with a status.
        completed: finished work not (or no longer) in the plan: subtasks, side quests.
        open_questions: what is still unknown.
        facts: what is known, each with provenance; keyed facts replace their predecessor.
        recent_results: short notes of recent tool results (at most ``max_recent_results``).
        blockers: what stops progress.
        files: files the work depends on (re-read on resume).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    max_recent_results: ClassVar[int] = 8

    goal: str = ""
    plan: list[PlanStep] = Field(default_factory=list)
    completed: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    recent_results: list[ToolNote] = Field(default_factory=list)
    blockers: list[str] = Field(default_factory=list)
    files: list[FileRef] = Field(default_factory=list)

    _version: int = PrivateAttr(default=0)
    _diffs: list[StateDiff] = PrivateAttr(default_factory=list)
    _base: dict[str, Any] = PrivateAttr(default_factory=dict)
    _snapshot: dict[str, Any] = PrivateAttr(default_factory=dict)
    _clock: Callable[[], float] = PrivateAttr(default=time.time)

    @field_validator("facts")
    @classmethod
    def _supersede(cls, v: list[Fact]) -> list[Fact]:
        # a keyed fact replaces the one before it: only the newest of each key is kept
        last = {f.key: i for i, f in enumerate(v) if f.key is not None}
        return [f for i, f in enumerate(v) if f.key is None or last[f.key] == i]

    @field_validator("recent_results")
    @classmethod
    def _bounded(cls, v: list[ToolNote]) -> list[ToolNote]:
        return v[-cls.max_recent_results:] if cls.max_recent_results > 0 else []

    def model_post_init(self, context: Any) -> None:
        self._base = self.model_dump(mode="json")
        self._snapshot = self._base

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).model_fields:
            self.apply([PatchOp(op="replace", path=f"/{name}",
                                value=to_jsonable_python(value))], by="code", why=f"set {name}")
        else:
            super().__setattr__(name, value)

    # -- versions ------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """How many changes this state has seen (0: as constructed)."""
        return self._version

    @property
    def diffs(self) -> list[StateDiff]:
        """Every change, oldest first."""
        return list(self._diffs)

    def diffs_since(self, version: int) -> list[StateDiff]:
        return [d for d in self._diffs if d.version > version]

    def at_version(self, version: int) -> WorkingState:
        """A copy of this state as it was at ``version`` (replaying the diffs' ops)."""
        if not 0 <= version <= self._version:
            raise StatePatchError(f"version {version} does not exist; this state has "
                                  f"versions 0..{self._version}")
        doc = self._base
        for d in self._diffs[:version]:
            doc = apply_ops(doc, [PatchOp.model_validate(o) for o in d.ops])
        out = type(self).model_validate(doc)
        out._version = version
        return out

    # -- the one path of every change ----------------------------------------------------

    def apply(self, ops: Sequence[PatchOp | dict[str, Any]] | PatchOp | dict[str, Any], *,
              by: str = "code", why: str = "", tags: Sequence[str] = ()) -> StateDiff:
        """Apply a JSON-patch-like list of operations atomically and record the diff.

        Raises:
            StatePatchError: an op is malformed, a path does not exist, a ``test`` fails,
                or the result does not validate; nothing changed.
        """
        self.commit()
        parsed = parse_ops(list(ops) if isinstance(ops, (list, tuple)) else ops)
        before = self._snapshot
        after_doc = apply_ops(before, parsed)
        new = self._validated(after_doc, parsed)
        touched = {op.path.split("/")[1] for op in parsed}
        return self._commit(new, by=by, why=why, tags=tags,
                            ops=[op.model_dump(mode="json") for op in parsed],
                            before={k: before.get(k) for k in sorted(touched) if k in before})

    def commit(self, *, by: str = "code", why: str = "changed in place") -> StateDiff | None:
        """Record changes made in place (``state.plan[0].status = "done"``) as a diff."""
        now = self.model_dump(mode="json")
        if now == self._snapshot:
            return None
        changed = sorted(k for k in now if now[k] != self._snapshot.get(k))
        ops = [{"op": "replace", "path": f"/{k}", "value": now[k], } for k in changed]
        return self._commit(self, by=by, why=why, tags=(), ops=ops,
                            before={k: self._snapshot.get(k) for k in changed})

    def _validated(self, doc: dict[str, Any], ops: list[PatchOp]) -> WorkingState:
        try:
            return type(self).model_validate(doc)
        except ValidationError as exc:
            problems = "; ".join(
                f"/{'/'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:4])
            paths = ", ".join(f"{o.op} {o.path}" for o in ops)
            raise StatePatchError(f"the patch ({paths}) would make the state invalid: "
                                  f"{problems}; nothing was changed") from None

    def _commit(self, new: WorkingState, *, by: str, why: str, tags: Sequence[str],
                ops: list[dict[str, Any]], before: dict[str, Any]) -> StateDiff:
        if new is not self:
            for name in type(self).model_fields:
                object.__setattr__(self, name, getattr(new, name))
        after = self.model_dump(mode="json")
        found = milestone_tags(self._snapshot, after)
        diff = StateDiff(version=self._version + 1, by=by, at=self._clock(), why=why, ops=ops,
                         before=before, tags=[*found, *(t for t in tags if t not in found)])
        self._version += 1
        self._diffs.append(diff)
        self._snapshot = after
        return diff

    # -- helpers (each one patch) --------------------------------------------------------

    def set_goal(self, goal: str, *, by: str = "code", why: str = "") -> StateDiff:
        return self.apply([{"op": "replace", "path": "/goal", "value": goal}], by=by,
                          why=why or "goal set")

    def set_plan(self, steps: Sequence[str | PlanStep], *, by: str = "code",
                 why: str = "") -> StateDiff:
        """Replace the plan; plain strings become steps with ids ``"1"``, ``"2"`` ..."""
        value = [s.model_dump() if isinstance(s, PlanStep) else
                 {"id": str(i), "text": s, "status": "todo"} for i, s in enumerate(steps, 1)]
        return self.apply([{"op": "replace", "path": "/plan", "value": value}], by=by,
                          why=why or "plan set")

    def set_step(self, step_id: str, status: str, *, by: str = "code",
                 why: str = "") -> StateDiff:
        return self.apply([{"op": "replace", "path": f"/plan/@{step_id}/status",
                            "value": status}], by=by, why=why or f"step {step_id} {status}")

    def complete_step(self, step_id: str, *, by: str = "code", why: str = "") -> StateDiff:
        """Mark a plan step done (a milestone: ``step_done:<id>``)."""
        return self.set_step(step_id, "done", by=by, why=why)

    def add_fact(self, text: str, *, key: str | None = None, source: str = "agent",
                 ref: str | None = None, by: str = "code", why: str = "") -> StateDiff:
        """Add a fact; one with the same ``key`` is replaced (superseded), not kept beside."""
        value = {"text": text, "key": key, "source": source, "ref": ref, "at": self._clock()}
        if key is not None and any(f.key == key for f in self.facts):
            op = {"op": "replace", "path": f"/facts/@{key}", "value": value}
        else:
            op = {"op": "add", "path": "/facts/-", "value": value}
        return self.apply([op], by=by, why=why or (f"fact {key}" if key else "fact"))

    def note_result(self, tool: str, summary: str, *, call_id: str | None = None,
                    is_error: bool = False, by: str = "code") -> StateDiff:
        """Remember a tool result briefly (the oldest note drops out past the bound)."""
        return self.apply([{"op": "add", "path": "/recent_results/-", "value": {
            "tool": tool, "summary": summary, "call_id": call_id, "is_error": is_error}}],
            by=by, why=f"{tool} result")

    def track_file(self, path: str, *, text: str | None = None, note: str = "",
                   root: str | None = None, by: str = "code") -> StateDiff:
        """Reference a file the work depends on, with the hash of its content now (read
        from ``root``/``path`` unless ``text`` is given); resume re-reads it."""
        import hashlib
        from pathlib import Path

        if text is None:
            full = Path(path) if root is None or Path(path).is_absolute() else Path(root) / path
            text = full.read_text(encoding="utf-8", errors="replace")
        value = {"path": path, "sha256": hashlib.sha256(text.encode()).hexdigest(), "note": note}
        i = next((k for k, f in enumerate(self.files) if f.path == path), None)
        op = ({"op": "add", "path": "/files/-", "value": value} if i is None else
              {"op": "replace", "path": f"/files/{i}", "value": value})
        return self.apply([op], by=by, why=f"file {path}")

    def checkpoint(self, to: Any) -> str:
        """Save this state and its diffs to a file path or a Checkpointer (e.g.
        ``MemoryCheckpoint(store, scope)``); returns where it went."""
        from ._checkpoint import save

        return save(self, to)

    @classmethod
    def resume(cls, source: Any, *, root: str | None = None) -> Any:
        """Load the latest checkpoint from ``source`` as this class: referenced files are
        re-read from ``root``, and the returned ``Resumed`` carries the state and a
        "where we are" message (``resumed.add_to(pipe)`` puts it in the history)."""
        from ._checkpoint import resume

        return resume(cls, source, root=root)

    def render(self) -> str:
        """The compact text the State layer puts near the end of the prompt."""
        return render_state(self)


# The text the model sees: one short section per non-empty field, a mark per plan step's
# status, provenance after each fact, subclass fields as ``Name: value`` (left out while they
# hold their default). It depends only on the state's content, so an unchanged state
# renders to identical bytes.
_BASE_FIELDS = ("goal", "plan", "completed", "open_questions", "facts", "recent_results",
                "blockers", "files")


def _list(title: str, items: list[str]) -> list[str]:
    return [f"{title}:", *(f"- {x}" for x in items)] if items else []


def render_state(state: WorkingState) -> str:
    """``state`` as a few compact lines (empty sections left out)."""
    lines = [f"## Working state (v{state.version})"]
    if state.goal:
        lines.append(f"Goal: {state.goal}")
    if state.plan:
        lines.append("Plan:")
        lines += [f"{STATUS_MARK[s.status]} {s.id}. {s.text}" for s in state.plan]
    in_plan = {s.text for s in state.plan}
    lines += _list("Also done", [c for c in state.completed if c not in in_plan])
    lines += _list("Known facts", [
        f"{f.text} ({f.source}{': ' + f.ref if f.ref else ''})" for f in state.facts])
    lines += _list("Open questions", state.open_questions)
    lines += _list("Blockers", state.blockers)
    lines += _list("Recent tool results", [
        f"{n.tool}{' (error)' if n.is_error else ''}: {n.summary}"
        for n in state.recent_results])
    lines += _list("Files", [f"{f.path}{' - ' + f.note if f.note else ''}"
                             for f in state.files])
    for name, info in type(state).model_fields.items():
        if name in _BASE_FIELDS:
            continue
        value: Any = getattr(state, name)
        default = info.get_default(call_default_factory=True)
        if value in (None, "", [], {}) or value == default:  # compact: defaults left out
            continue
        shown = value if isinstance(value, (str, int, float, bool)) else canonical_json(
            state.model_dump(mode="json", include={name})[name])
        lines.append(f"{name.replace('_', ' ').capitalize()}: {shown}")
    return "\n".join(lines)
